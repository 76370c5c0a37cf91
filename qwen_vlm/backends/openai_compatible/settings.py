"""The OpenAI-compatible backend's options: checked, and resolved into a model, a server and a key."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from ...errors import ConfigurationError
from ...images import MAX_IMAGE_PIXELS
from ...models import Family, ModelInfo, resolve_model
from ...options import check_bool, check_choice, check_int, check_mapping, check_number, check_str, check_url
from .request import PRIVACY
from .servers import SERVERS, ServerName, ServerProfile, guess_server

__all__ = ["check_options", "model_info", "resolve_key", "server_profile"]


def check_options(options: dict[str, Any]) -> None:
    """Every constructor option checked for type and range, before anything is imported or sent."""
    if options["provider"] not in ("openrouter", "openai"):
        raise ConfigurationError(f"provider must be 'openrouter' or 'openai', got {options['provider']!r}")
    check_str("model", options["model"], optional=False)
    for name in ("api_key", "app_name", "app_url"):
        check_str(name, options[name])
    check_url("base_url", options["base_url"])
    check_choice("server", options["server"], tuple(SERVERS))
    check_choice("privacy", options["privacy"], tuple(PRIVACY))
    check_int("max_concurrent_requests", options["max_concurrent_requests"], optional=False)
    check_number("timeout", options["timeout"], exclusive_minimum=True, optional=False)
    check_int("max_retries", options["max_retries"], minimum=0, optional=False)
    for name in ("max_pixels", "min_pixels"):  # past the input guard: gigabytes an image, no model takes it
        check_int(name, options[name], maximum=MAX_IMAGE_PIXELS)
    check_int("max_images_per_request", options["max_images_per_request"])
    check_mapping("provider_options", options["provider_options"])
    check_mapping("extra_body", options["extra_body"])
    check_number("retry_base_delay", options["retry_base_delay"], optional=False)
    check_number("retry_max_delay", options["retry_max_delay"], optional=False)
    check_bool("verify_image_size", options["verify_image_size"], optional=False)
    if options["retry_max_delay"] < options["retry_base_delay"]:
        raise ConfigurationError(
            f"retry_max_delay ({options['retry_max_delay']:g}) is below retry_base_delay "
            f"({options['retry_base_delay']:g})"
        )


def model_info(model: str, provider: str, family: Family | None, base_url: str | None) -> ModelInfo:
    """The model served (text-only models refused), with reasoning off by default for hybrid models."""
    info = resolve_model(model, provider, family=family)  # type: ignore[arg-type]
    if not info.vision:
        raise ConfigurationError(
            f"model {model!r} is text-only and cannot run image tasks; pick a Qwen-VL or Qwen3.5+ model"
        )
    if provider == "openai" and not base_url:
        raise ConfigurationError(
            'backend="openai" needs base_url=, e.g. "http://localhost:8000/v1" for a vLLM server'
        )
    # Reasoning is switched off by default (it costs latency and can eat max_tokens).
    if info.thinking == "hybrid" and info.thinking_default:
        info = replace(info, thinking_default=False)
    return info


def server_profile(
    server: ServerName | None, provider: str, base_url: str, privacy: str | None
) -> ServerProfile:
    """The server's dialect: named, OpenRouter's, or guessed from the URL (privacy is OpenRouter's only)."""
    name: ServerName = server or ("openrouter" if provider == "openrouter" else guess_server(base_url))
    profile = SERVERS[name]
    if privacy is not None and not profile.privacy:
        raise ConfigurationError(f"privacy= applies to OpenRouter only, not to a {name} server")
    return profile


def resolve_key(provider: str, api_key: str | None) -> str:
    """The key: given, or from the environment (OpenRouter requires one; other servers may take none)."""
    if provider == "openrouter":
        key = api_key or os.environ.get("OPENROUTER_API_KEY")
        if not key:
            raise ConfigurationError(
                "OpenRouter needs an API key: set the OPENROUTER_API_KEY environment variable "
                "or pass api_key="
            )
        return key
    return api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
