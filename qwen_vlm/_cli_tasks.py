"""The command's task (a name, ``module:Object``, ``--task``, ``--import``, entry points), its flags."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .errors import ConfigurationError

__all__ = ["add_task_options", "task_of", "task_params"]


def add_task_options(task: Any) -> None:
    """The task parameters the command takes."""
    task.add_argument("--classes", default=None, help="comma-separated classes (classify, detect, point)")
    task.add_argument("--question", default=None, help="the question (ask)")
    task.add_argument("--text", default=None, help="the prompt (prompt)")
    task.add_argument("--schema", default=None, help="JSON object of field → description (extract)")
    task.add_argument("--detailed", action="store_true", help="a detailed caption")
    task.add_argument(
        "--events", default=None, help="comma-separated events to find in a video (locate-events)"
    )
    task.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a task parameter (repeatable; VALUE is read as JSON when it is JSON, else as text)",
    )
    task.add_argument(
        "--task",
        dest="task_objects",
        action="append",
        default=[],
        metavar="MODULE:OBJECT",
        help="register a task (a Task subclass or instance) before running TASK by its name (repeatable)",
    )
    task.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (a module that calls qwen_vlm.register_task; repeatable)",
    )


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def task_params(args: argparse.Namespace, task: Any = None) -> dict[str, Any]:
    """The task parameters the command line gives (the task refuses those it does not take).

    A task with a ``cli_argument`` (``ground``, ``act``: the instruction) takes the last positional
    argument as that parameter: ``qwen-vlm ground shot.png "the Save button"``.
    """
    params: dict[str, Any] = {}
    name = getattr(task, "cli_argument", None)
    if name:
        if len(args.images) < 2:
            raise ConfigurationError(f"{task.label} needs the {name} after the image: IMAGE '{name}'")
        params[name] = args.images[-1]
        args.images = args.images[:-1]
    for name, value in (
        ("classes", _split(args.classes)),
        ("question", args.question),
        ("text", args.text),
        ("events", _split(args.events)),
    ):
        if value is not None:
            params[name] = value
    if args.detailed:
        params["detailed"] = True
    if args.schema:
        try:
            params["schema"] = json.loads(args.schema)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"--schema is not valid JSON: {exc}") from None
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"--param takes KEY=VALUE, got {item!r}")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def task_of(args: argparse.Namespace) -> Any:
    """The task: ``module:Object`` loaded, modules given with ``--import`` imported, then by name."""
    import importlib

    from .tasks import get_task, register_task

    if args.imports or args.task_objects or ":" in args.task:
        sys.path.insert(0, os.getcwd())  # the user's own modules, as `python -m` would find them
    for module in args.imports:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigurationError(f"--import {module}: {exc}") from None
    for spec in args.task_objects:
        register_task(_load_object(spec, "--task"), replace=True)
    if ":" not in args.task:
        return get_task(args.task)
    return get_task(_load_object(args.task, "task"))


def _load_object(spec: str, what: str) -> Any:
    """The object ``module:name`` names (the current folder importable)."""
    import importlib

    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ConfigurationError(f"{what} {spec!r}: expected MODULE:OBJECT")
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"{what} {spec!r} cannot be loaded: {exc}") from None
    return found
