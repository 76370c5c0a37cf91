"""Structured-output results: :class:`Extraction`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Result, escape_html

__all__ = ["Extraction"]


@dataclass(frozen=True, kw_only=True)
class Extraction(Result):
    """Structured output.

    Attributes:
        data: The parsed JSON (a ``dict``), or an instance of the pydantic model passed as schema;
            ``None`` when parsing or validation failed (``error`` says why).
        others: Further JSON documents the answer held besides the one in ``data`` (the model answered
            more than once), in order, as parsed JSON; ``()`` for a single answer. ``data`` is the first
            complete document that is a valid answer; these are never merged into it.
    """

    data: Any = None
    others: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        more = f", others={len(self.others)}" if self.others else ""
        return f"Extraction(data={self.data!r}{more}{self._tail()}"

    def _repr_html_(self) -> str:
        import json

        data = self.to_dict()["data"]
        body = json.dumps(data, ensure_ascii=False, indent=2) if data is not None else "(no data)"
        more = f"<div><i>{len(self.others)} more JSON document(s) in the answer: .others</i></div>"
        return f"<div><pre>{escape_html(body)}</pre>{more if self.others else ''}{self._html_tail()}</div>"
