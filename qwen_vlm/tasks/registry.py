"""Every task, found by name: the built-ins, and users' own through :func:`register_task` (pure).

A built-in task is one module under ``qwen_vlm/tasks/`` and one line in :data:`BUILTIN_TASKS`. A user's
task is registered at run time, or published by a package under the ``qwen_vlm.tasks`` entry-point group
(each entry point names a :class:`Task` subclass or instance; they are loaded when a name is not found).
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ConfigurationError
from ..results import Result
from .base import Task
from .classify import ClassifyMultiTask, ClassifyTask
from .documents import DOCUMENT_FORMATS
from .events import LocateEventsTask
from .extract import ExtractTask
from .freeform import AskTask, CaptionTask, DetailedCaptionTask, PromptTask
from .located import DetectTask, PointTask
from .ocr import OcrTask
from .screens import ActTask, GroundTask

__all__ = ["BUILTIN_TASKS", "ENTRY_POINT_GROUP", "get_task", "register_task", "registered_tasks"]

#: The built-in tasks, in the order the docs list them.
BUILTIN_TASKS: tuple[Task, ...] = (
    PromptTask(),
    OcrTask(),
    AskTask(),
    CaptionTask(),
    DetailedCaptionTask(),
    ClassifyTask(),
    ClassifyMultiTask(),
    DetectTask(),
    ExtractTask(),
    PointTask(),
    LocateEventsTask(),
    GroundTask(),
    ActTask(),
    *DOCUMENT_FORMATS.values(),
)
#: The entry-point group packages publish their tasks under.
ENTRY_POINT_GROUP = "qwen_vlm.tasks"

_TASKS: dict[str, Task] = {}
_ALIASES: dict[str, str] = {}
_LOCK = threading.Lock()
_ENTRY_POINTS_LOADED = False


def _check(task: Any) -> Task:
    if isinstance(task, type) and issubclass(task, Task):
        task = task()
    if not isinstance(task, Task):
        raise ConfigurationError(f"a task must be a qwen_vlm.Task (or a subclass of it), got {task!r}")
    name = task.name
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ConfigurationError(f"task {type(task).__name__} needs name=, a non-empty string without spaces")
    if not (isinstance(task.result, type) and issubclass(task.result, Result)):
        raise ConfigurationError(
            f"task {name!r}: result must be a qwen_vlm.Result subclass, got {task.result!r}"
        )
    kind = type(task)
    if kind.parse is Task.parse:
        raise ConfigurationError(f"task {name!r} defines no parse(answer)")
    if kind.prompt is Task.prompt and kind.prompt_for is Task.prompt_for:
        raise ConfigurationError(f"task {name!r} defines no prompt(params) (or prompt_for(params, frame))")
    if not isinstance(task.max_tokens, int) or isinstance(task.max_tokens, bool) or task.max_tokens < 1:
        raise ConfigurationError(f"task {name!r}: max_tokens must be a positive int, got {task.max_tokens!r}")
    return task


def register_task(task: Task | type[Task], *, replace: bool = False) -> Task:
    """Make a task runnable by name: ``vlm.run("my-task", ...)``, the CLI, Ray, the result store.

    Args:
        task: A :class:`Task` instance (or a subclass, instantiated without arguments).
        replace: Replace a registered task of the same name (or alias) instead of refusing.

    Returns:
        The registered task.

    Raises:
        ConfigurationError: The name (or an alias) is taken and ``replace`` is false, or the task is
            malformed (no name, a result type that is not a :class:`~qwen_vlm.Result`...).
    """
    task = _check(task)
    with _LOCK:
        _builtins()
        names = (task.name, *task.aliases)
        if not replace:
            taken = [n for n in names if n in _TASKS or n in _ALIASES]
            if taken:
                raise ConfigurationError(
                    f"a task named {taken[0]!r} is already registered; pass replace=True to replace it"
                )
        for name in names:
            old = _TASKS.pop(name, None)
            if old is not None:
                for alias in old.aliases:
                    _ALIASES.pop(alias, None)
            _ALIASES.pop(name, None)
        _TASKS[task.name] = task
        for alias in task.aliases:
            _ALIASES[alias] = task.name
    return task


def _builtins() -> None:
    if not _TASKS:
        for task in BUILTIN_TASKS:
            _TASKS[task.name] = task
            for alias in task.aliases:
                _ALIASES.setdefault(alias, task.name)


def _load_entry_points() -> None:
    """Register the tasks packages publish under :data:`ENTRY_POINT_GROUP` (once per process)."""
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin must not break the SDK
            import warnings

            warnings.warn(f"task entry point {entry.name!r} could not be loaded: {exc}", stacklevel=3)
            continue
        task = _check(loaded)
        if task.name not in _TASKS:
            register_task(task)


def _find(name: str) -> Task | None:
    with _LOCK:
        _builtins()
        if name in _TASKS:
            return _TASKS[name]
        if name in _ALIASES:
            return _TASKS[_ALIASES[name]]
    return None


def get_task(task: str | Task | type[Task]) -> Task:
    """The task an argument names: a :class:`Task` (returned as is), a name, an alias or a method name.

    Raises:
        ConfigurationError: For an unknown name, listing the known ones.
    """
    if isinstance(task, Task) or (isinstance(task, type) and issubclass(task, Task)):
        return _check(task)
    if not isinstance(task, str):
        raise ConfigurationError(f"a task is a name or a qwen_vlm.Task, got {task!r}")
    found = _find(task)
    if found is None:
        _load_entry_points()
        found = _find(task)
    if found is None:
        names = sorted({*_TASKS, *_ALIASES})
        raise ConfigurationError(f"unknown task {task!r}; choose one of {', '.join(names)}")
    return found


def registered_tasks() -> dict[str, Task]:
    """Every registered task by name (built-ins first, then users' own in the order registered)."""
    with _LOCK:
        _builtins()
        return dict(_TASKS)
