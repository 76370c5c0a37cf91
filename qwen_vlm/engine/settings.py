"""A call's options and parameters, checked before any image is read; the result store a path names."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..backends import Backend, capabilities_of
from ..errors import ConfigurationError
from ..options import check_bool, check_int, check_number, check_path_or_str
from ..tasks import Task, get_task
from .call import CallOptions, Settings

if TYPE_CHECKING:
    from ..store import ResultStore

__all__ = ["call_settings", "check_params", "open_store"]


_STORES: dict[str, ResultStore] = {}


def open_store(cache: Any) -> ResultStore:
    """The store at a path (one per file in this process), checked to be a result store.

    Raises:
        ConfigurationError: For a value that is not a path.
        StoreError: For a file that is not a result store (never overwritten).
    """
    from ..store import ResultStore  # sqlite3 loads only for clients with a store

    if isinstance(cache, ResultStore):
        return cache
    path = check_path_or_str("cache", cache, optional=False)
    key = os.path.abspath(os.path.expanduser(str(path)))
    if key not in _STORES:
        _STORES[key] = ResultStore(key)
    return _STORES[key]


#: Options of the client itself: given to a call, they are a mistake (never a task parameter).
CLIENT_OPTIONS = frozenset(
    {
        "api_key",
        "base_url",
        "privacy",
        "max_concurrent_requests",
        "timeout",
        "max_retries",
        "device",
        "dtype",
        "family",
        "cache_sampled",
        "backend",
        "model",
    }
)


def _refuse_client_options(names: Any) -> None:
    misplaced = sorted(CLIENT_OPTIONS & set(names))
    if misplaced:
        raise ConfigurationError(
            f"{', '.join(misplaced)}: an option of the client, QwenVLM(..., {misplaced[0]}=...), "
            "not of a call"
        )


def check_params(task: Task, params: dict[str, Any]) -> dict[str, Any]:
    """A task's parameters as its :meth:`~qwen_vlm.Task.check` returns them.

    Raises:
        ConfigurationError: For missing or malformed parameters (a custom task's ``ValueError`` or
            ``TypeError`` becomes one, naming the task), or a client option given to a call.
    """
    _refuse_client_options(params)
    try:
        checked = task.check(params)
    except ConfigurationError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigurationError(f"{task.label}: {exc}") from exc
    if not isinstance(checked, Mapping):
        raise ConfigurationError(f"task {task.name!r}: check() must return a dict, got {checked!r}")
    return dict(checked)


def call_settings(
    backend: Backend,
    task: str | Task,
    params: dict[str, Any],
    options: CallOptions,
    constrained_default: bool,
    store_default: ResultStore | None,
) -> Settings:
    """Every check of a call that needs no image: options, task parameters, the model's abilities.

    Raises:
        ConfigurationError: For an unknown or malformed option or parameter, or one the model or backend
            cannot honour (thinking on a model without it, ``min_confidence`` without probabilities...).
    """
    unknown = set(options) - set(CallOptions.__annotations__)
    _refuse_client_options(unknown)
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {sorted(unknown)}; per-call options are "
            f"{', '.join(CallOptions.__annotations__)}"
        )
    windows = sorted(name for name in ("window", "window_overlap", "refine") if options.get(name) is not None)
    if windows:
        raise ConfigurationError(
            f"{', '.join(windows)}: not with stream (a long video becomes several requests)"
        )
    max_tokens = check_int("max_tokens", options.get("max_tokens"))
    temperature = check_number("temperature", options.get("temperature"), maximum=2.0)
    enable_thinking = check_bool("enable_thinking", options.get("enable_thinking"))
    strict = bool(check_bool("strict", options.get("strict")))
    progress = check_bool("progress", options.get("progress"))
    constrained = check_bool("constrained", options.get("constrained"))
    max_objects = check_int("max_objects", options.get("max_objects"))
    min_confidence = check_number("min_confidence", options.get("min_confidence"), maximum=1.0)
    cache = options.get("cache")
    if cache is not None and cache is not False:
        cache = open_store(cache)
    found = get_task(task)
    for name, value in (("max_objects", max_objects), ("min_confidence", min_confidence)):
        if value is not None and name not in found.call_options:
            raise ConfigurationError(f"{name} applies to detect and point, not {found.label}")
    capabilities = capabilities_of(backend)
    if min_confidence is not None and capabilities.confidences is False:
        raise ConfigurationError(
            f"min_confidence needs token probabilities, which {backend!r} does not return "
            "(vLLM and SGLang do; see the confidence docs)"
        )
    checked = check_params(found, params)
    info = backend.info
    if not info.vision:
        raise ConfigurationError(f"model {info.id!r} is text-only and cannot run image tasks")
    if enable_thinking and info.thinking == "none":
        raise ConfigurationError(
            f"model {info.id!r} has no thinking mode; drop enable_thinking or pick a Qwen3.5/3.6 "
            "or -Thinking model"
        )
    if enable_thinking is False and info.thinking == "always" and not capabilities.ignores_thinking_off:
        raise ConfigurationError(f"model {info.id!r} always thinks; enable_thinking=False is not possible")
    constrained = constrained_default if constrained is None else constrained
    return Settings(
        found,
        checked,
        max_tokens,
        temperature,
        enable_thinking,
        strict,
        progress,
        constrained,
        max_objects,
        min_confidence,
        store_default if cache is None else (None if cache is False else cache),
    )
