"""Validation of every option a user passes, before anything is sent or loaded (pure).

Each checker raises :class:`~qwen_vlm.errors.ConfigurationError` naming the option, what it must be,
and what it got — so ``timeout=float("nan")`` or ``max_retries=True`` fail at once with a clear
message instead of much later (or never). ``bool`` is never accepted where a number is expected.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "check_bool",
    "check_callable_or_mapping",
    "check_choice",
    "check_int",
    "check_mapping",
    "check_number",
    "check_path_or_str",
    "check_str",
    "check_url",
    "url_problem",
]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(
    name: str, value: Any, *, minimum: int = 1, optional: bool = True, maximum: int | None = None
) -> int | None:
    """An integer (not a bool) from ``minimum`` up to ``maximum``; ``None`` allowed when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigurationError(f"{name} must be {what}, got {_shown(value)}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum:,}, got {value:,}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float = 0.0,
    maximum: float = math.inf,
    exclusive_minimum: bool = False,
    optional: bool = True,
) -> float | None:
    """A finite real number (not a bool) within bounds; ``None`` allowed when ``optional``."""
    if value is None and optional:
        return None
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > minimum if exclusive_minimum else value >= minimum)
        and value <= maximum
    )
    if not ok:
        low = f"> {minimum:g}" if exclusive_minimum else f">= {minimum:g}"
        high = f" and <= {maximum:g}" if math.isfinite(maximum) else ""
        raise ConfigurationError(f"{name} must be a finite number {low}{high}, got {_shown(value)}")
    return float(value)


def check_bool(name: str, value: Any, *, optional: bool = True) -> bool | None:
    """``True`` or ``False``; ``None`` allowed when ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {_shown(value)}")
    return value


def check_str(name: str, value: Any, *, optional: bool = True) -> str | None:
    """A non-empty string; ``None`` allowed when ``optional``. The value itself is never echoed."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a non-empty string, got a {type(value).__name__}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...], *, optional: bool = True) -> str | None:
    """One of ``choices``; ``None`` allowed when ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}; got {_shown(value)}")
    return value


def check_mapping(name: str, value: Any) -> dict[str, Any] | None:
    """A dict with string keys, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigurationError(f"{name} must be a dict with string keys, got {type(value).__name__}")
    return dict(value)


def check_path_or_str(name: str, value: Any, *, optional: bool = True) -> str | None:
    """A string or any ``os.PathLike`` (returned as a string, ``~`` not yet expanded)."""
    if value is None and optional:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
        if isinstance(value, bytes):
            value = os.fsdecode(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            f"{name} must be a non-empty string or a path (os.PathLike), got {type(value).__name__}"
        )
    return value


def url_problem(url: str) -> str | None:
    """What is wrong with an ``http(s)://host...`` URL, or ``None``.

    Checked: the scheme, the host, spaces and control characters, the port (and IPv6 brackets).
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            return "it must start with http:// or https://"
        if not parts.hostname:
            return "it has no host"
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
            return "it contains spaces or control characters (percent-encode them)"
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        return str(exc)
    return None


def check_url(name: str, value: Any, *, optional: bool = True) -> str | None:
    """An ``http(s)://host...`` URL with no spaces or control characters."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be an http(s) URL string, got {type(value).__name__}")
    problem = url_problem(value)
    if problem:
        raise ConfigurationError(f"{name} is not a valid URL ({problem}): {_shown(value)}")
    return value


def check_callable_or_mapping(name: str, value: Any) -> dict[str, Any] | Callable[..., Any] | None:
    """A dict, a callable, or ``None``."""
    if value is None or callable(value):
        return value  # type: ignore[no-any-return]
    return check_mapping(name, value)
