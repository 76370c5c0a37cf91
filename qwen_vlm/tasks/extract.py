"""Structured answers (``extract``): the image's data as a dict or a pydantic model (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import prompts
from ..results import Extraction, Result
from .base import Answer
from .extraction import parse_extraction, schema_fields, schema_json
from .params import BuiltinTask, check_schema, with_error

__all__ = ["ExtractTask"]


class ExtractTask(BuiltinTask):
    """Extract structured data (``"structured-answering"``) following a schema."""

    name = "structured-answering"
    method = "extract"
    aliases = ("extract",)
    result = Extraction
    max_tokens = 1024
    parameters = ("schema", "output_structure")

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``schema`` (or ``output_structure``): fields, a JSON schema, a pydantic model, or ``None``."""
        value = params.get("schema", params.get("output_structure"))
        if value is None:
            return {"schema": None}  # any JSON (several values become one list)
        return {"schema": check_schema(value)}

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The extraction prompt: the fields described, or the user's JSON schema."""
        schema = params["schema"]
        if schema is None:
            return prompts.extract_prompt(None, None)
        fields = schema_fields(schema)
        return prompts.extract_prompt(fields, schema_json(schema) if fields is None else None)

    def schema(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The user's schema as JSON schema."""
        return schema_json(params["schema"])

    def parse(self, answer: Answer) -> Result:
        """The first complete document that validates (the others in ``others``)."""
        data, error, others = parse_extraction(answer.text, answer.params["schema"])
        return with_error(Extraction(data=data, others=others), error, answer.text)
