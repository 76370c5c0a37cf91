"""Lenient, pure helpers for reading model output: fences, JSON, labels.

Model output is messy: JSON arrives in ```json fences, with prose around it, truncated at ``max_tokens``,
as JSON Lines, with single quotes, trailing commas, stray brackets or repeated keys. :func:`scan_json`
copes with all of these in time linear in the answer's length: one pass matches brackets (recovering from
stray ones), each value is parsed by the C ``json`` decoder, and only small broken spans go to
``json_repair``. "Nothing found" (``[]``), "cut off" (:class:`TruncatedJSONError`) and "garbage"
(:class:`NoJSONError`) never look the same.
"""

from __future__ import annotations

from .fences import Fence, find_fences, strip_fences
from .json_values import (
    MAX_JSON_DEPTH,
    JSONObject,
    JSONScan,
    NoJSONError,
    TruncatedJSONError,
    combine,
    parse_json,
    scan_json,
)
from .labels import find_mentions, normalize_label
from .repetition import repetition

__all__ = [
    "MAX_JSON_DEPTH",
    "Fence",
    "JSONObject",
    "JSONScan",
    "NoJSONError",
    "TruncatedJSONError",
    "combine",
    "find_fences",
    "find_mentions",
    "normalize_label",
    "parse_json",
    "repetition",
    "scan_json",
    "strip_fences",
]
