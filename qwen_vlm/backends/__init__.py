"""Backends: where the model runs. Heavy dependencies load only when a backend is created."""

from __future__ import annotations

from typing import Any, Literal

from ..errors import ConfigurationError
from .base import Backend, GenerationRequest, GenerationResponse, StreamChunk
from .capabilities import Capabilities, capabilities_of

__all__ = [
    "Backend",
    "Capabilities",
    "GenerationRequest",
    "GenerationResponse",
    "StreamChunk",
    "capabilities_of",
    "create_backend",
]

BACKEND_NAMES = ("local", "openrouter", "openai")


def create_backend(name: str, model: str | None, **options: Any) -> Backend:
    """Create a backend by name.

    Args:
        name: ``"local"`` (transformers), ``"openrouter"``, or ``"openai"`` (any OpenAI-compatible server).
        model: The model id (``None``: the backend's default model).
        **options: Backend options (see :class:`~qwen_vlm.QwenVLM`).

    Raises:
        ConfigurationError: For an unknown backend name or options it does not take.
        MissingDependencyError: When the backend's extra is not installed.
    """
    from ..models import DEFAULT_MODELS, REGISTRY, resolve_model

    if name not in BACKEND_NAMES:
        raise ConfigurationError(
            f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}, or pass a Backend object"
        )
    model_id = model or DEFAULT_MODELS[name]  # type: ignore[index]
    known = REGISTRY.get(model_id)
    if known is not None and name not in known.backends:
        resolve_model(model_id, name)  # type: ignore[arg-type]  # raises, before any heavy import
    if name == "local":
        from .local import LocalBackend

        _check_options(LocalBackend, options)
        return LocalBackend(model_id, **options)
    from .openai_compatible import OpenAICompatibleBackend

    _check_options(OpenAICompatibleBackend, options)

    provider: Literal["openrouter", "openai"] = "openrouter" if name == "openrouter" else "openai"
    return OpenAICompatibleBackend(model_id, provider=provider, **options)


def _check_options(cls: type, options: dict[str, Any]) -> None:
    import inspect

    accepted = {
        name
        for name, p in inspect.signature(cls).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    unknown = sorted(set(options) - accepted - {"provider"})
    if unknown:
        raise ConfigurationError(
            f"option(s) {unknown} do not apply to {cls.__name__}; it takes: {', '.join(sorted(accepted))}"
        )
