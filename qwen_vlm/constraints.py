"""The shape each structured task's answer must have, as a bounded JSON schema (pure).

A :class:`Constraint` is what the client hands a backend so that it can decode under a grammar: the local
backend compiles it with xgrammar (see :mod:`qwen_vlm.backends.local.grammar`), vLLM and SGLang receive it as
``response_format``. The schemas mirror the answer formats the prompts ask for (:mod:`qwen_vlm.prompts`):

=================  ===============================================================================
task               answer
=================  ===============================================================================
detect             ``[{"bbox_2d": [x1, y1, x2, y2], "label": "<class>"}, ...]``, at most ``max_objects``
point              ``[{"point_2d": [x, y], "label": "<class>"}, ...]``, at most ``max_objects``
classify           ``{"label": "<one of the classes>"}``
classify_multi     ``["<class>", ...]``, each class at most once in length terms (``maxItems`` = classes)
extract            the user's schema, with the bounds below added where the schema sets none
=================  ===============================================================================

A grammar alone does not make an answer end: a model can write an endless string, a number with a
million digits, or whitespace forever. So every schema is *bounded*:

* no free whitespace (the separators are ``", "`` and ``": "``, as Qwen writes them);
* coordinates are integers within the family's range (0-1000, or the pixels of the image the model saw
  on Qwen2.5-VL), labels are one of the classes (or at most :data:`MAX_LABEL_LENGTH` characters);
* in ``extract``, numbers without bounds get ``±`` :data:`MAX_NUMBER` (which also excludes exponents),
  arrays without ``maxItems`` get :data:`MAX_ITEMS`. A bound the schema sets itself is kept: that is how
  to override these. Strings keep the schema's own ``maxLength`` (if any): a default one would cost
  15x more time per token in xgrammar (34 vs 2 us at 2,000 characters), and a string that runs on is
  closed on budget like anything else.

And the backend still closes the structure early when the token budget is about to run out
(:func:`closing_reserve` tells it how many tokens closing can take), flagging the result ``truncated``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .geometry import CoordinateFormat

__all__ = [
    "MAX_ITEMS",
    "MAX_LABEL_LENGTH",
    "MAX_NUMBER",
    "MAX_OBJECTS",
    "Constraint",
    "bounded_schema",
    "closing_reserve",
]

#: Default most objects a constrained detection or pointing answer may hold (``max_objects=`` overrides).
MAX_OBJECTS = 100
#: Longest free label of a detection without classes.
MAX_LABEL_LENGTH = 64
#: Largest magnitude of a number in a constrained extraction, unless the schema sets its own bounds.
MAX_NUMBER = 10**15
#: Most items of an array in a constrained extraction, unless the schema sets ``maxItems``.
MAX_ITEMS = 256

#: The answer shapes: boxes, points, one label, a list of labels, a JSON document, events in time.
ConstraintKind = Literal["boxes", "points", "label", "labels", "json", "events"]
#: Earlier names of the shapes (the tasks they came from), still accepted.
_FORMER_KINDS = {
    "detect": "boxes",
    "point": "points",
    "classify": "label",
    "classify_multi": "labels",
    "extract": "json",
}


@dataclass(frozen=True)
class Constraint:
    """The shape a structured answer must have.

    Attributes:
        kind: The answer's shape (``"boxes"``, ``"points"``, ``"label"``, ``"labels"``, ``"json"``,
            ``"events"``); the former task names (``"detect"``...) are accepted too.
        classes: The classes (classification; detection/pointing labels when given).
        coordinates: The family's coordinate convention (grounding tasks).
        max_objects: Most objects in a detection or pointing answer.
        schema: The user's JSON schema (extract), before bounds are added.
        images: Images in the question; in a group each object also names its image (1 to ``images``).
        duration: For ``events``: the video's length in seconds (times are bounded by it).
        name: The name servers are given for the schema (``response_format``); default ``kind``.
    """

    kind: ConstraintKind
    classes: tuple[str, ...] | None = None
    coordinates: CoordinateFormat = "relative_1000"
    max_objects: int = MAX_OBJECTS
    schema: Mapping[str, Any] | None = field(default=None, compare=False)
    images: int = 1
    duration: float | None = None
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _FORMER_KINDS.get(self.kind, self.kind))

    def json_schema(self, input_size: tuple[int, int] | None = None) -> dict[str, Any]:
        """The bounded JSON schema of the answer.

        Args:
            input_size: ``(width, height)`` of the image the model saw (the largest, in a group); bounds
                absolute coordinates (Qwen2.5-VL). Without it, they are bounded by 0-32768 only.
        """
        if self.kind == "label":
            return _object({"label": _label(self.classes)})
        if self.kind == "labels":
            classes = list(self.classes or ())
            return {"type": "array", "items": {"enum": classes}, "maxItems": len(classes)}
        if self.kind == "json":
            return bounded_schema(self.schema or {"type": "object"})
        if self.kind == "events":
            longest = math.ceil(self.duration) if self.duration is not None else 86400
            seconds = {"type": "number", "minimum": 0, "maximum": longest}
            item = _object({"event": _label(self.classes), "start": seconds, "end": seconds})
            return {"type": "array", "items": item, "maxItems": max(4, 2 * len(self.classes or ()))}
        if self.coordinates == "absolute":
            width, height = input_size if input_size is not None else (32768, 32768)
        else:
            width = height = 1000
        if self.kind == "boxes":  # x1 < x2 and y1 < y2 is kept by the decoder (JSON schema cannot)
            key, bounds = "bbox_2d", [(0, width - 1), (0, height - 1), (1, width), (1, height)]
        else:
            key, bounds = "point_2d", [(0, width), (0, height)]
        position = {
            "type": "array",
            "prefixItems": [{"type": "integer", "minimum": lo, "maximum": hi} for lo, hi in bounds],
            "items": False,
            "minItems": len(bounds),
            "maxItems": len(bounds),
        }
        members: dict[str, Any] = {key: position, "label": _label(self.classes)}
        if self.images > 1:
            members = {"image": {"type": "integer", "minimum": 1, "maximum": self.images}, **members}
        return {"type": "array", "items": _object(members), "maxItems": self.max_objects}

    def grammar_key(self, input_size: tuple[int, int] | None = None) -> str:
        """The schema as JSON text: the grammar's source, and its cache key (key order matters)."""
        return json.dumps(self.json_schema(input_size), ensure_ascii=False)


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _label(classes: Sequence[str] | None) -> dict[str, Any]:
    if classes:
        return {"enum": list(classes)}
    return {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_LENGTH}


def bounded_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with a bound on every number and array that has none (a deep copy).

    Numbers and integers get ``minimum``/``maximum`` ``±MAX_NUMBER``, arrays ``maxItems``
    :data:`MAX_ITEMS`. Bounds the schema sets are kept; strings are left as they are.
    """
    out = copy.deepcopy(dict(schema))
    _bound(out, 0)
    return out


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return set()


def _bound(node: Any, depth: int) -> None:
    if depth > 64 or not isinstance(node, dict):
        return
    kinds = _types(node)
    if kinds & {"number", "integer"} and "enum" not in node and "const" not in node:
        lower = _number(node.get("minimum", node.get("exclusiveMinimum")))
        upper = _number(node.get("maximum", node.get("exclusiveMaximum")))
        if "minimum" not in node and "exclusiveMinimum" not in node:
            node["minimum"] = min(-MAX_NUMBER, upper) if upper is not None else -MAX_NUMBER
        if "maximum" not in node and "exclusiveMaximum" not in node:
            node["maximum"] = max(MAX_NUMBER, lower) if lower is not None else MAX_NUMBER
    if "array" in kinds and "maxItems" not in node:
        node["maxItems"] = max(MAX_ITEMS, int(node.get("minItems", 0) or 0))
    for key in ("properties", "$defs", "definitions", "patternProperties"):
        children = node.get(key)
        if isinstance(children, dict):
            for child in children.values():
                _bound(child, depth + 1)
    for key in ("items", "additionalProperties", "not", "contains"):
        _bound(node.get(key), depth + 1)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        branches = node.get(key)
        if isinstance(branches, list):
            for branch in branches:
                _bound(branch, depth + 1)


def closing_reserve(schema: Mapping[str, Any]) -> int:
    """How many characters (so at most how many tokens) closing a partial answer can take.

    An upper bound on the text needed to finish an answer from any point inside it: one of each open
    container's required members, minimal values, the longest enum value (a label may be cut inside),
    closing brackets. Every token a grammar allows writes at least one character, so this many tokens
    always suffice; the backend starts closing when no more than this many remain.
    """
    return _reserve(schema, schema, 0) + 2


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        if isinstance(target, Mapping):
            return target
    return node


def _reserve(node: Any, root: Mapping[str, Any], depth: int) -> int:
    if depth > 16 or not isinstance(node, Mapping):
        return 4
    node = _resolve(node, root)
    values = node.get("enum")
    if isinstance(values, list) and values:
        return max(len(json.dumps(v, ensure_ascii=False)) for v in values)
    if "const" in node:
        return len(json.dumps(node["const"], ensure_ascii=False))
    branches = [b for key in ("anyOf", "oneOf") for b in node.get(key) or () if isinstance(b, Mapping)]
    if branches:  # a partial answer may be inside any of them
        return max(_reserve(b, root, depth + 1) for b in branches)
    kinds = (_types(node) or {"object"}) if "properties" in node else _types(node)
    if not kinds or "null" in kinds or "boolean" in kinds:
        return 5
    if kinds & {"integer", "number"}:
        return 2 + max(len(str(node.get("minimum", 0))), 1)
    if "string" in kinds:
        return 2 + int(node.get("minLength", 0) or 0) + 1
    if "array" in kinds:
        prefix = [p for p in node.get("prefixItems") or () if isinstance(p, Mapping)]
        items = node.get("items")
        item = _reserve(items, root, depth + 1) if isinstance(items, Mapping) else 0
        needed = max(int(node.get("minItems", 0) or 0) - len(prefix), 1 if item else 0)
        return 2 + sum(_reserve(p, root, depth + 1) + 2 for p in prefix) + needed * (item + 2)
    properties = node.get("properties")
    if not isinstance(properties, Mapping):
        return 2
    required = node.get("required") if isinstance(node.get("required"), list) else []

    def member(name: Any) -> int:
        return len(json.dumps(name, ensure_ascii=False)) + 4 + _reserve(properties.get(name), root, depth + 1)

    optional = [member(name) for name in properties if name not in required]
    return 2 + sum(member(name) for name in required if name in properties) + max(optional, default=0)
