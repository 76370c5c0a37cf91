"""The model registry: model id → family, backend, coordinate format and thinking support.

The registry is one data table (:data:`REGISTRY`), easy to update when slugs change. Ids that are not in it
are still accepted: for the local backend the family is read from the checkpoint's ``config.json``; for
remote backends it is guessed from the id's name (:func:`infer_family`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from .errors import ConfigurationError
from .geometry import CoordinateFormat

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "BackendName",
    "Family",
    "FamilySpec",
    "ModelInfo",
    "ThinkingMode",
    "family_from_model_type",
    "infer_family",
    "list_models",
    "resolve_model",
]

#: A model architecture family.
Family = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe"]
#: A backend name.
BackendName = Literal["local", "openrouter", "openai"]
#: How a model thinks: never, always (``-Thinking`` checkpoints, pre-filled ``<think>``), or on request.
ThinkingMode = Literal["none", "always", "hybrid"]


@dataclass(frozen=True)
class FamilySpec:
    """Facts shared by every model of one family.

    Attributes:
        family: The family name (also the transformers ``model_type``).
        coordinates: How boxes and points are written.
        box_tokens: Whether boxes come as ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` (Qwen2-VL).
        factor: Smart-resize factor (patch size x spatial merge size).
        min_pixels: The processor's default lower pixel bound.
        max_pixels: The processor's default upper pixel bound.
    """

    family: Family
    coordinates: CoordinateFormat
    box_tokens: bool
    factor: int
    min_pixels: int
    max_pixels: int


FAMILIES: dict[Family, FamilySpec] = {
    "qwen2_vl": FamilySpec("qwen2_vl", "relative_1000", True, 28, 56 * 56, 28 * 28 * 16384),
    "qwen2_5_vl": FamilySpec("qwen2_5_vl", "absolute", False, 28, 56 * 56, 28 * 28 * 16384),
    "qwen3_vl": FamilySpec("qwen3_vl", "relative_1000", False, 32, 65536, 16777216),
    "qwen3_vl_moe": FamilySpec("qwen3_vl_moe", "relative_1000", False, 32, 65536, 16777216),
    "qwen3_5": FamilySpec("qwen3_5", "relative_1000", False, 32, 65536, 16777216),
    "qwen3_5_moe": FamilySpec("qwen3_5_moe", "relative_1000", False, 32, 65536, 16777216),
}


@dataclass(frozen=True)
class ModelInfo:
    """What the SDK knows about one model id.

    Attributes:
        id: The model id as passed to the backend (HF repo id, OpenRouter slug, or a local path).
        family: The architecture family.
        backends: Backends that can serve this id.
        thinking: ``"none"``, ``"always"`` or ``"hybrid"``.
        thinking_default: Whether the model thinks when ``enable_thinking`` is not given.
        rejects_reasoning_off: The hosted model refuses requests that switch reasoning off.
        vision: False for text-only models, which cannot run image tasks.
        label: A human-readable name.
        registered: Whether the id came from the registry (False: guessed).
    """

    id: str
    family: Family
    backends: frozenset[BackendName]
    thinking: ThinkingMode = "none"
    thinking_default: bool = False
    rejects_reasoning_off: bool = False
    vision: bool = True
    label: str = ""
    registered: bool = True

    @property
    def spec(self) -> FamilySpec:
        """The family's shared facts (coordinates, resize factor, pixel bounds)."""
        return FAMILIES[self.family]


_LOCAL: frozenset[BackendName] = frozenset({"local", "openai"})
_HOSTED: frozenset[BackendName] = frozenset({"openrouter", "openai"})


def _hf(repo: str, family: Family, thinking: ThinkingMode = "none", default: bool = False) -> ModelInfo:
    return ModelInfo(repo, family, _LOCAL, thinking, default or thinking == "always", label=repo)


def _or(
    slug: str,
    family: Family,
    thinking: ThinkingMode = "hybrid",
    *,
    rejects_off: bool = False,
    vision: bool = True,
) -> ModelInfo:
    default = thinking != "none"  # hosted hybrid models reason unless told not to
    return ModelInfo(slug, family, _HOSTED, thinking, default, rejects_off, vision, label=slug)


def _build() -> dict[str, ModelInfo]:
    rows: list[ModelInfo] = []
    # --- local (Hugging Face) ---
    for size in ("2B", "7B", "72B"):
        rows.append(_hf(f"Qwen/Qwen2-VL-{size}-Instruct", "qwen2_vl"))
    for size in ("3B", "7B", "32B", "72B"):
        rows.append(_hf(f"Qwen/Qwen2.5-VL-{size}-Instruct", "qwen2_5_vl"))
    for size in ("2B", "4B", "8B", "32B"):
        rows.append(_hf(f"Qwen/Qwen3-VL-{size}-Instruct", "qwen3_vl"))
        rows.append(_hf(f"Qwen/Qwen3-VL-{size}-Thinking", "qwen3_vl", "always"))
    for size in ("30B-A3B", "235B-A22B"):
        rows.append(_hf(f"Qwen/Qwen3-VL-{size}-Instruct", "qwen3_vl_moe"))
        rows.append(_hf(f"Qwen/Qwen3-VL-{size}-Thinking", "qwen3_vl_moe", "always"))
    for size in ("0.8B", "2B"):
        rows.append(_hf(f"Qwen/Qwen3.5-{size}", "qwen3_5", "hybrid", default=False))
    for size in ("4B", "9B", "27B"):
        rows.append(_hf(f"Qwen/Qwen3.5-{size}", "qwen3_5", "hybrid", default=True))
    for size in ("35B-A3B", "122B-A10B", "397B-A17B"):
        rows.append(_hf(f"Qwen/Qwen3.5-{size}", "qwen3_5_moe", "hybrid", default=True))
    rows.append(_hf("Qwen/Qwen3.6-27B", "qwen3_5", "hybrid", default=True))
    rows.append(_hf("Qwen/Qwen3.6-35B-A3B", "qwen3_5_moe", "hybrid", default=True))
    # --- OpenRouter ---
    for slug in ("qwen3.5-9b", "qwen3.5-27b", "qwen3.6-27b", "qwen3.8-27b"):
        rows.append(_or(f"qwen/{slug}", "qwen3_5"))
    for slug in ("qwen3.5-35b-a3b", "qwen3.5-122b-a10b", "qwen3.5-397b-a17b", "qwen3.6-35b-a3b"):
        rows.append(_or(f"qwen/{slug}", "qwen3_5_moe"))
    for slug in (
        "qwen3.5-flash-02-23",
        "qwen3.5-plus-02-15",
        "qwen3.5-plus-20260420",
        "qwen3.6-flash",
        "qwen3.6-plus",
        "qwen3.7-plus",
        "qwen3.7-flash",
    ):
        rows.append(_or(f"qwen/{slug}", "qwen3_5_moe"))
    rows.append(_or("qwen/qwen3.8-max", "qwen3_5_moe", rejects_off=True))
    rows.append(_or("qwen/qwen3-vl-8b-instruct", "qwen3_vl", "none"))
    rows.append(_or("qwen/qwen3-vl-8b-thinking", "qwen3_vl", "always", rejects_off=True))
    rows.append(_or("qwen/qwen3-vl-32b-instruct", "qwen3_vl", "none"))
    for size in ("30b-a3b", "235b-a22b"):
        rows.append(_or(f"qwen/qwen3-vl-{size}-instruct", "qwen3_vl_moe", "none"))
        rows.append(_or(f"qwen/qwen3-vl-{size}-thinking", "qwen3_vl_moe", "always", rejects_off=True))
    for slug in ("qwen2.5-vl-72b-instruct", "qwen2.5-vl-32b-instruct", "qwen-2.5-vl-7b-instruct"):
        rows.append(_or(f"qwen/{slug}", "qwen2_5_vl", "none"))
    rows.append(_or("qwen/qwen3.6-max-preview", "qwen3_5_moe", vision=False))
    rows.append(_or("qwen/qwen3-8b", "qwen3_5", vision=False))
    return {m.id: m for m in rows}


#: Every model the SDK knows, by id.
REGISTRY: dict[str, ModelInfo] = _build()

#: The default model of each backend.
DEFAULT_MODELS: dict[BackendName, str] = {
    "local": "Qwen/Qwen3.5-2B",
    "openrouter": "qwen/qwen3.6-27b",
    "openai": "Qwen/Qwen3-VL-8B-Instruct",
}

_MODEL_TYPES: dict[str, Family] = {
    "qwen2_vl": "qwen2_vl",
    "qwen2_5_vl": "qwen2_5_vl",
    "qwen3_vl": "qwen3_vl",
    "qwen3_vl_moe": "qwen3_vl_moe",
    "qwen3_5": "qwen3_5",
    "qwen3_5_moe": "qwen3_5_moe",
}


def family_from_model_type(model_type: str) -> Family | None:
    """Map a transformers ``config.model_type`` to a family, or ``None`` if it is not a Qwen-VL type."""
    return _MODEL_TYPES.get(model_type)


_NAME_RULES: tuple[tuple[str, Family], ...] = (
    (r"qwen-?2\.?5-?vl|qwen2_5_vl", "qwen2_5_vl"),
    (r"qwen-?2-?vl|qwen2_vl", "qwen2_vl"),
    (r"qwen-?3-?vl.*-a\d+b|qwen3_vl_moe", "qwen3_vl_moe"),
    (r"qwen-?3-?vl|qwen3_vl", "qwen3_vl"),
    (r"qwen-?3\.[5-9].*-a\d+b|qwen-?3\.[5-9]-?(plus|flash|max)", "qwen3_5_moe"),
    (r"qwen-?3\.[5-9]|qwen3_5", "qwen3_5"),
    # Document models built on Qwen-VL, whose names do not say so: olmOCR's first release is a Qwen2-VL-7B
    # fine-tune, its later ones Qwen2.5-VL-7B; dots.ocr and Nanonets-OCR read images as Qwen2.5-VL does
    # (boxes in absolute pixels of the resized input).
    (r"olmocr-7b-0225", "qwen2_vl"),
    (r"olmocr|dots[._-]?ocr|nanonets-ocr", "qwen2_5_vl"),
)


def infer_family(model_id: str) -> Family | None:
    """Guess a model's family from its id, or return ``None`` when the name says nothing.

    Args:
        model_id: Any model id, e.g. ``"my-org/Qwen2.5-VL-7B-finetune"``.
    """
    name = model_id.lower()
    for pattern, family in _NAME_RULES:
        if re.search(pattern, name):
            return family
    return None


def list_models(backend: BackendName | None = None) -> list[ModelInfo]:
    """Return the registered models, optionally only those a backend can serve."""
    return [m for m in REGISTRY.values() if backend is None or backend in m.backends]


def _suggest(model_id: str, backend: BackendName) -> str:
    same = [m.id for m in REGISTRY.values() if backend in m.backends and m.id.lower() == model_id.lower()]
    if same:
        return f" Did you mean {same[0]!r}?"
    return ""


def resolve_model(
    model_id: str,
    backend: BackendName,
    *,
    family: Family | None = None,
    config_family: Family | None = None,
) -> ModelInfo:
    """Find or build the :class:`ModelInfo` for ``model_id`` on ``backend``.

    Args:
        model_id: The id the user gave.
        backend: The backend it will run on.
        family: An explicit family override (for ids whose family cannot be guessed).
        config_family: The family read from a local checkpoint's config, when there is one.

    Returns:
        The model's info.

    Raises:
        ConfigurationError: If the id is registered for other backends only, or its family is unknown
            on a backend that cannot read a config.
    """
    known = REGISTRY.get(model_id)
    if known is not None:
        if backend not in known.backends:
            valid = sorted(m.id for m in REGISTRY.values() if backend in m.backends)
            raise ConfigurationError(
                f"model {model_id!r} is served by backend(s) {sorted(known.backends)}, not {backend!r}."
                f"{_suggest(model_id, backend)} Models for backend={backend!r}: {', '.join(valid)}"
            )
        if family is not None and family != known.family:
            return replace(known, family=family)
        return known
    chosen = family or config_family or infer_family(model_id)
    if chosen is None:
        raise ConfigurationError(
            f"cannot tell which Qwen-VL family model {model_id!r} belongs to. Pass family=... "
            f"(one of {', '.join(FAMILIES)}) so boxes and points are converted correctly."
        )
    if family is not None and family not in FAMILIES:
        raise ConfigurationError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    lowered = model_id.lower()
    if "thinking" in lowered:
        thinking: ThinkingMode = "always"
    elif chosen in ("qwen3_5", "qwen3_5_moe"):
        thinking = "hybrid"
    else:
        thinking = "none"
    remote_default = backend == "openrouter" and thinking != "none"
    return ModelInfo(
        id=model_id,
        family=chosen,
        backends=frozenset({backend}),
        thinking=thinking,
        thinking_default=thinking == "always" or remote_default,
        rejects_reasoning_off=thinking == "always" and backend == "openrouter",
        label=model_id,
        registered=False,
    )
