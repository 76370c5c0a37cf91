"""Structured-output parsing: JSON → ``dict`` or a validated pydantic model (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

from typing_extensions import TypeIs

from ..errors import OutputParseError, TruncatedOutputError
from ..parsing import NoJSONError, combine, parse_json, scan_json

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "Schema",
    "is_json_schema",
    "is_pydantic_model",
    "parse_agent_output",
    "parse_extraction",
    "schema_fields",
    "schema_json",
]

#: What ``extract`` accepts as a schema: field → description, a JSON schema (a dict with
#: ``"properties"``), or a pydantic model class.
Schema = Union[Mapping[str, Any], "type[BaseModel]"]

_JSON_SCHEMA_KEYS = ("$schema", "$defs", "definitions", "$ref", "anyOf", "oneOf", "allOf")


def is_json_schema(value: object) -> bool:
    """True for a JSON schema dict (``{"type": "object", "properties": ...}``), not a field list.

    A field list maps names to descriptions (strings); a JSON schema has ``properties`` (a dict) or
    ``$``-keywords, and its values are not all strings.
    """
    if not isinstance(value, Mapping) or not value:
        return False
    if all(isinstance(v, str) for v in value.values()) and "properties" not in value:
        return False
    return isinstance(value.get("properties"), Mapping) or any(k in value for k in _JSON_SCHEMA_KEYS)


_THOUGHT = re.compile(r"(?ims)^\s*thought\s*:\s*(.+?)(?=^\s*action\s*:|<tool_call>|\Z)")
_ACTION = re.compile(r"(?ims)^\s*action\s*:\s*(.+?)(?=<tool_call>|\Z)")


def is_pydantic_model(value: object) -> TypeIs[type[BaseModel]]:
    """True for a pydantic model class (checked without importing pydantic)."""
    return (
        isinstance(value, type) and hasattr(value, "model_validate") and hasattr(value, "model_json_schema")
    )


def schema_json(schema: Schema | None) -> dict[str, Any] | None:
    """The JSON schema to send as ``response_format`` (``None`` without a schema)."""
    if schema is None:
        return None
    if is_pydantic_model(schema):
        return schema.model_json_schema()
    if is_json_schema(schema):
        return dict(schema)
    properties = {key: {"type": ["string", "null"], "description": desc} for key, desc in schema.items()}
    return {
        "type": "object",
        "properties": properties,
        "required": list(schema),
        "additionalProperties": True,
    }


def schema_fields(schema: Schema) -> Mapping[str, str] | None:
    """The field → description mapping of a dict schema (``None`` for a pydantic model or JSON schema)."""
    if is_pydantic_model(schema) or is_json_schema(schema):
        return None
    return schema


def parse_agent_output(text: str) -> dict[str, Any] | None:
    """Parse a GUI-agent answer (``Thought:``/``Action:`` lines and a ``<tool_call>`` JSON block).

    Returns:
        ``{"thought"?, "action"?, "tool_call"}``, or ``None`` when the text has no ``<tool_call>``.
    """
    if "<tool_call>" not in text:
        return None
    try:
        call = parse_json(text[text.index("<tool_call>") :])
    except NoJSONError:
        return None
    out: dict[str, Any] = {}
    thought = _THOUGHT.search(text)
    if thought:
        out["thought"] = thought.group(1).strip()
    action = _ACTION.search(text)
    if action:
        out["action"] = action.group(1).strip().strip('"').strip()
    out["tool_call"] = call
    return out


def parse_extraction(
    text: str, schema: Schema | None
) -> tuple[Any, OutputParseError | None, tuple[Any, ...]]:
    """Parse a structured answer.

    An answer may hold several JSON documents (the model answered twice, or wrote JSON Lines). With a
    schema they are never merged: the data is the **first complete document that validates** (an object,
    or a list holding one object), and every other complete document is returned apart, in order, so
    nothing is lost and nothing is mixed. Without a schema, any JSON is an answer: one document is the
    data as is, several become **one list** (JSON Lines, ``{...}, {...}``, several lists concatenated).

    Args:
        text: The model answer.
        schema: Field descriptions (the answer must be an object; missing fields become ``None``),
            a pydantic model class (the answer is validated into an instance), or ``None`` (any JSON;
            agent answers with a ``<tool_call>`` become ``{"thought", "action", "tool_call"}``).

    Returns:
        ``(data, error, others)``. A document cut off at the end of the answer is never used (a cut
        number or string would be silently wrong): with no complete document before it, the error is a
        :class:`~qwen_vlm.errors.TruncatedOutputError`. When no document validates, the error is the
        first document's. ``NaN``/``Infinity`` and numbers too large for a float become ``None``, so
        ``data`` is always valid JSON.
    """
    if schema is None:
        agent = parse_agent_output(text)
        if agent is not None:
            return agent, None, ()
    scan = scan_json(text)
    documents = scan.documents
    if not documents:
        if scan.truncated:
            cut = TruncatedOutputError(
                "the answer was cut off inside its JSON (the token limit, max_tokens, was probably reached); "
                "raise max_tokens",
                text,
            )
            return None, cut, ()
        return None, OutputParseError("the answer contains no JSON", text), ()
    if schema is None:  # any JSON: several values are one list (lists concatenated), as parse_json reads
        return combine(documents), None, ()
    first_error: OutputParseError | None = None
    for k, document in enumerate(documents):
        data, invalid = _validated(document, schema, text)
        if invalid is None:
            return data, None, documents[:k] + documents[k + 1 :]
        first_error = first_error or invalid
    return None, first_error, ()


def _validated(document: Any, schema: Schema, text: str) -> tuple[Any, OutputParseError | None]:
    """One JSON document checked against the schema: the data, or why it is not a valid answer."""
    value = document
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
        value = value[0]
    if not isinstance(value, Mapping):
        return None, OutputParseError(f"expected a JSON object, got a {type(document).__name__}", text)
    if is_pydantic_model(schema):
        from pydantic import ValidationError

        try:
            return schema.model_validate(dict(value)), None
        except ValidationError as exc:
            return None, OutputParseError(f"the answer does not match {schema.__name__}: {exc}", text)
    data = dict(value)
    if is_json_schema(schema):
        properties = schema.get("properties")
        keys = list(properties) if isinstance(properties, Mapping) else []
        required = [k for k in schema.get("required", ()) if isinstance(k, str)]
        missing = [k for k in required if data.get(k) is None]
        if missing:
            return None, OutputParseError(f"the answer lacks required field(s) {missing}", text)
    else:
        keys = list(schema)
    for key in keys:
        data.setdefault(key, None)
    return data, None
