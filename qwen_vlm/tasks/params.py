"""The built-in tasks' shared base: named parameters, checked before any image is read (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from ..errors import ConfigurationError, OutputParseError, QwenVLMError
from ..results import Result
from .base import Answer, Task
from .extraction import Schema, is_json_schema, is_pydantic_model

__all__ = ["BuiltinTask", "check_classes", "check_schema", "check_text", "empty_answer", "with_error"]


class BuiltinTask(Task):
    """A task whose parameters have fixed names (``parameters``); any other name is refused."""

    parameters: ClassVar[tuple[str, ...]] = ()

    def check(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Refuse unknown parameters, then check the task's own (see :meth:`checked`)."""
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            takes = f"it takes {', '.join(self.parameters)}" if self.parameters else "it takes none"
            raise ConfigurationError(f"{self.label}: unknown parameter(s) {unknown}; {takes}")
        return self.checked(params, parsing=False)

    def check_for_parse(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters for reading text obtained elsewhere: only the task's own, and fewer required."""
        return self.checked({k: v for k, v in params.items() if k in self.parameters}, parsing=True)

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """The task's parameters checked and normalised (``parsing``: for :func:`~qwen_vlm.parse`)."""
        return {}


def with_error(result: Result, error: QwenVLMError | str | None, text: str) -> Result:
    """``result`` marked failed with ``error`` (a message becomes an :class:`OutputParseError`)."""
    if error is None:
        return result
    typed = error if isinstance(error, QwenVLMError) else OutputParseError(error, text)
    return replace(result, error=str(typed), exception=typed)


def check_text(value: Any, message: str) -> str:
    """A non-empty string, or a :class:`ConfigurationError` with ``message``."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(message)
    return value


def check_classes(value: Any, task: str, *, required: bool, what: str = "class") -> tuple[str, ...] | None:
    """A non-empty list of distinct, stripped, non-empty strings (``None`` when absent and optional)."""
    if value is None or (isinstance(value, (list, tuple)) and not value and not required):
        if required:
            names = "classes=[...], a non-empty list of class names" if what == "class" else "events=[...]"
            raise ConfigurationError(
                f"{task} needs {names}" + ("" if what == "class" else ", a non-empty list")
            )
        return None
    if isinstance(value, str):
        value = [value]
    plural = f"{what}es" if what == "class" else f"{what}s"
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigurationError(f"{task}: {plural} must be a non-empty list of strings, got {value!r}")
    cleaned = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{task}: every {what} must be a non-empty string, got {item!r}")
        cleaned.append(item.strip())
    return tuple(dict.fromkeys(cleaned))


def check_schema(value: Any) -> Schema:
    """A pydantic model class, a JSON schema, or a mapping of field name → description."""
    if is_pydantic_model(value):
        return value
    if is_json_schema(value):
        return dict(value)
    if isinstance(value, Mapping) and value and all(isinstance(k, str) and k for k in value):
        return {k: str(v) for k, v in value.items()}
    raise ConfigurationError(
        "extract needs schema= a non-empty dict of field name → description, a JSON schema (a dict with "
        f"'properties'), or a pydantic model class; got {value!r}"
    )


def empty_answer(answer: Answer) -> OutputParseError | None:
    """The error of an answer that holds nothing (``None`` when it holds text)."""
    return (
        None if answer.text.strip() else OutputParseError("the model returned an empty answer", answer.text)
    )
