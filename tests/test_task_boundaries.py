"""Tasks and backends stay behind their objects: no task-name switches, no probing of backends.

* Outside ``qwen_vlm/tasks/`` no code compares a task's name (or alias, or method name) with a string:
  the engine, store, Ray, evaluation, CLI and backends ask the task object instead.
* Outside ``qwen_vlm/backends/`` no code calls ``getattr``/``hasattr`` on a backend: what a backend can
  do is declared in its :class:`~qwen_vlm.backends.Capabilities`.
* No module imports another's private helper (``from .x import _name``): shared helpers are public
  within the package, or live where they are used.

Both read the source (every file of the package), and each detector is shown to catch a made-up case.
"""

from __future__ import annotations

import ast
from pathlib import Path

from qwen_vlm.tasks import BUILTIN_TASKS

PACKAGE = Path(__file__).resolve().parent.parent / "qwen_vlm"
#: Every name a built-in task answers to.
TASK_NAMES = frozenset(
    name for task in BUILTIN_TASKS for name in (task.name, task.label, *task.aliases) if name
)
_COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _strings(node: ast.expr) -> list[str]:
    """String constants an operand holds: itself, or the items of a literal tuple, list or set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for item in node.elts for s in _strings(item)]
    return []


def task_name_comparisons(source: str, names: frozenset[str] = TASK_NAMES) -> list[tuple[int, str]]:
    """``(line, name)`` of each comparison (``==``, ``!=``, ``in``, ``case``...) with a task name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, _COMPARISONS) for op in node.ops):
            for operand in (node.left, *node.comparators):
                found += [(node.lineno, s) for s in _strings(operand) if s in names]
        elif isinstance(node, ast.MatchValue):
            found += [(node.lineno, s) for s in _strings(node.value) if s in names]
    return found


def backend_probes(source: str) -> list[tuple[int, str]]:
    """``(line, call)`` of every ``getattr``/``hasattr`` whose object is a backend."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and node.args
            and "backend" in ast.unparse(node.args[0]).lower()
        ):
            found.append((node.lineno, ast.unparse(node)))
    return found


def _files(outside: str) -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if outside not in p.relative_to(PACKAGE).parts[:1]]


def test_the_detectors_catch_what_they_look_for() -> None:
    made_up = """
if spec.name == "object-detection":
    pass
if kind in ("detect", "point"):
    pass
if args.task != "caption":
    pass
match task:
    case "ocr":
        pass
if request.prompt == "anything else" or kind in ("boxes", "label"):
    pass
ok = getattr(self._backend, "accepts_urls", False)
also = hasattr(backend, "stream")
fine = getattr(result, "label", None)
"""
    names = [name for _, name in task_name_comparisons(made_up)]
    assert names == ["object-detection", "detect", "point", "caption", "ocr"]
    probes = backend_probes(made_up)
    assert [line for line, _ in probes] == [13, 14]


def test_no_task_name_is_compared_outside_the_tasks_package() -> None:
    assert {"object-detection", "detect", "classify_multi", "locate-events", "prompt"} <= TASK_NAMES
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: compares with task name {name!r}"
        for path in _files("tasks")
        for line, name in task_name_comparisons(path.read_text())
    ]
    assert not offenders, "\n".join(offenders)


def test_no_backend_is_probed_outside_the_backends_package() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {call}"
        for path in _files("backends")
        for line, call in backend_probes(path.read_text())
    ]
    assert not offenders, "\n".join(offenders)


def private_imports(source: str) -> list[tuple[int, str]]:
    """``(line, name)`` of every ``from module import _name`` (a private helper used from outside)."""
    return [
        (node.lineno, alias.name)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


def test_no_private_helper_is_imported_across_modules() -> None:
    assert private_imports("from .coordinates import _numbers, seen_size\nfrom x import __version__") == [
        (1, "_numbers")
    ]
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, name in private_imports(path.read_text())
    ]
    assert not offenders, "\n".join(offenders)
