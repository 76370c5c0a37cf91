"""Structured-output results: :class:`Extraction`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Result, _escape

__all__ = ["Extraction"]


@dataclass(frozen=True, kw_only=True)
class Extraction(Result):
    """Structured output.

    Attributes:
        data: The parsed JSON (a ``dict``), or an instance of the pydantic model passed as schema;
            ``None`` when parsing or validation failed (``error`` says why).
    """

    data: Any = None

    def __repr__(self) -> str:
        return f"Extraction(data={self.data!r}{self._tail()}"

    def _repr_html_(self) -> str:
        import json

        data = self.to_dict()["data"]
        body = json.dumps(data, ensure_ascii=False, indent=2) if data is not None else "(no data)"
        return f"<div><pre>{_escape(body)}</pre>{self._html_tail()}</div>"
