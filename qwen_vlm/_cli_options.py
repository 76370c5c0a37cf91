"""Command-line options both commands share: which model, on which backend (``qwen-vlm`` and ``evaluate``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .errors import ConfigurationError, ImageError, QwenVLMError

__all__ = ["add_model_options", "client_options", "report_error"]


def add_model_options(group: Any, *, several: bool = False) -> None:
    """Add the model flags to an argparse group.

    ``--model`` (repeatable with ``several``), ``--backend``, ``--base-url``, ``--api-key``, ``--family``,
    ``--device`` and ``--dtype``.
    """
    if several:
        group.add_argument("--model", action="append", default=None, help="a model (repeat for several)")
    else:
        group.add_argument(
            "--model", default=None, help="model id or checkpoint folder (default: per backend)"
        )
    group.add_argument("--backend", default="local", choices=("local", "openrouter", "openai"))
    group.add_argument("--base-url", default=None, help="server URL for --backend openai")
    group.add_argument("--api-key", default=None, help="API key (default: from the environment)")
    group.add_argument("--family", default=None, help="model family when the id does not say it")
    group.add_argument("--device", default=None, help="local backend: cpu, cuda, cuda:1, mps")
    group.add_argument("--dtype", default=None, help="local backend: auto, bfloat16, float16, float32")


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``QwenVLM`` options those flags set (those given only)."""
    given = {
        "backend": args.backend,
        "base_url": args.base_url,
        "family": args.family,
        "api_key": args.api_key,
        "device": args.device,
        "dtype": args.dtype,
    }
    return {k: v for k, v in given.items() if v is not None}


def report_error(prog: str, exc: QwenVLMError, words: Callable[[str], str] = str) -> int:
    """Print an error on one line and return the exit status: 2 for bad usage or input, 1 otherwise."""
    if isinstance(exc, (ConfigurationError, ImageError)):
        print(f"{prog}: {words(str(exc))}", file=sys.stderr)
        return 2
    print(f"{prog}: {type(exc).__name__}: {words(str(exc))}", file=sys.stderr)
    return 1
