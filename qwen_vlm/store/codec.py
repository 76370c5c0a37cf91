"""Results as JSON and back, exactly: every field of every result class, nested ones included.

JSON (not pickle): a store is data, never code, so opening someone else's file cannot run anything. A
result comes back equal to the original (``==``); its ``exception`` is rebuilt as the same error type
with the same message, and ``source`` is set by the caller to the input of the call that found it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .. import errors, results
from ..results import Extraction, Result
from ..results.base import plain_data

__all__ = ["decode", "encode"]

#: Every result class, and every dataclass a result holds, by name.
RESULT_CLASSES: dict[str, type[Result]] = {
    name: cls
    for name in results.__all__
    if isinstance(cls := getattr(results, name), type) and issubclass(cls, Result)
}
_NESTED: dict[str, type] = {
    name: cls
    for name in results.__all__
    if isinstance(cls := getattr(results, name), type)
    and dataclasses.is_dataclass(cls)
    and name not in RESULT_CLASSES
}


def encode(result: Result) -> str:
    """The result as a JSON document (``type``, ``fields``, and the error's type when it failed)."""
    exception = result.exception
    document = {
        "type": type(result).__name__,
        "fields": plain_data(result),
        "error_type": type(exception).__name__ if exception is not None else None,
    }
    return json.dumps(document, ensure_ascii=False, allow_nan=False)


@lru_cache(maxsize=64)
def _hints(cls: type) -> dict[str, Any]:
    # Names the result modules import only for type checking.
    return typing.get_type_hints(cls, localns={"QwenVLMError": errors.QwenVLMError})


def _build(kind: Any, value: Any) -> Any:
    """``value`` (plain JSON) as the type ``kind`` says: dataclasses, tuples, optionals, mappings."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return _build(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in value)
        return tuple(_build(a, v) for a, v in zip(args, value, strict=True)) if args else tuple(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind) and isinstance(value, Mapping):
        return _fields(kind, value)  # a nested dataclass: a built-in's, or a custom result's own
    name = kind if isinstance(kind, str) else ""
    if name in _NESTED:
        return _fields(_NESTED[name], value)
    return value


def _fields(cls: type, data: Mapping[str, Any]) -> Any:
    hints = _hints(cls)
    kwargs = {f.name: _build(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data}
    return cls(**kwargs)


def decode(text: str, schema: Any = None, result_type: type[Result] | None = None) -> Result:
    """A result from :func:`encode`'s JSON.

    Args:
        text: The JSON document.
        schema: A pydantic model to validate extracted data into.
        result_type: The task's result class (a custom task's own is found only this way).

    Raises:
        ValueError: For a document that is not an encoded result.
    """
    document = json.loads(text)
    kind = str(document.get("type")) if isinstance(document, dict) else None
    cls = RESULT_CLASSES.get(kind) if kind is not None else None
    if result_type is not None and kind == result_type.__name__:
        cls = result_type
    if cls is None:
        raise ValueError("not an encoded qwen_vlm result")
    result: Result = _fields(cls, document["fields"])
    if isinstance(result, Extraction) and result.data is not None and hasattr(schema, "model_validate"):
        result = dataclasses.replace(result, data=schema.model_validate(result.data))
    if result.error is not None:
        error_class = getattr(errors, str(document.get("error_type")), None)
        if isinstance(error_class, type) and issubclass(error_class, errors.OutputParseError):
            exception: errors.QwenVLMError = error_class(result.error, result.text)
        else:
            exception = errors.OutputParseError(result.error, result.text)
        result = dataclasses.replace(result, exception=exception)
    return result
