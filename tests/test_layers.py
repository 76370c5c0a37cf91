"""The package's shape: one-way layers, no import circle, small modules and functions.

Imports are read from the source (every ``import`` anywhere in a file, inside functions too); only those
under ``if TYPE_CHECKING:`` are left out (they never run). ``docs/architecture.md`` describes the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qwen_vlm"

#: Bottom to top: a module may import modules of its own layer or of lower ones, never of higher ones.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundation",
        (
            "_version",
            "errors",
            "geometry",
            "thinking",
            "parsing",
            "prompts",
            "progress",
            "options",
            "constraints",
            "models",
            "video_budget",
            "logprobs",
            "class_scoring",
        ),
    ),
    ("inputs", ("images", "remote_file", "image_refs", "video_files", "video", "groups", "pdf")),
    ("drawing", ("draw",)),
    ("results", ("results",)),
    ("tasks and backends", ("tasks", "backends")),
    (
        "engine",
        ("engine", "store", "streaming"),
    ),
    (
        "clients",
        (
            "screen_methods",
            "async_screen_methods",
            "document_methods",
            "async_document_methods",
            "client",
            "async_client",
        ),
    ),
    (
        "edges",
        (
            "interop",
            "evaluation",
            "exporting",
            "training",
            "_cli_options",
            "_cli_tasks",
            "_cli_documents",
            "_cli_finetune",
            "cli",
            "integrations",
            "testing",
            "tiny",
            "__init__",
            "__main__",
        ),
    ),
]
#: Packages of one layer that must not import each other either way.
INDEPENDENT = [("tasks", "backends")]
MAX_MODULE_LINES = 400
#: Lines of code of one function, its docstring aside.
MAX_FUNCTION_LINES = 80
#: Generated from client.py by scripts/generate_async_client.py.
GENERATED = {"async_client", "async_screen_methods"}


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def modules_of(package: Path) -> dict[str, Path]:
    """Every module of a package by dotted name relative to it (the package itself is ``__init__``)."""
    return {_module_name(p, package): p for p in sorted(package.rglob("*.py"))}


MODULES = modules_of(PACKAGE)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return hidden


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted name (relative to the package) is in; ``"__init__"`` for the package itself."""
    parts = name.split(".") if name else []
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return "__init__" if name == "" else None


def imports_of(module: str, modules: dict[str, Path] = MODULES, root: str = "qwen_vlm") -> set[str]:
    """The package modules ``module`` imports, anywhere in its file (``TYPE_CHECKING`` blocks aside)."""
    path = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_nodes(tree)
    here = [] if module == "__init__" else module.split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name[len(root) + 1 :] for a in node.names if a.name.startswith(root + ".")]
            names += ["" for a in node.names if a.name == root]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                stem = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and (node.module == root or node.module.startswith(root + ".")):
                stem = node.module[len(root) + 1 :] if node.module != root else ""
            else:
                continue
            for alias in node.names:  # `from x import submodule` is an import of that submodule
                full = f"{stem}.{alias.name}" if stem else alias.name
                names.append(full if full in modules else stem)
        for name in names:
            target = _target(name, modules)
            if target is not None and target != module:
                found.add(target)
    return found


def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int:
    top = module.split(".")[0]
    for number, (_, members) in enumerate(layers):
        if top in members:
            return number
    raise AssertionError(f"qwen_vlm.{module} is in no layer: add it to LAYERS and docs/architecture.md")


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def upward_imports(graph: dict[str, set[str]], layers: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Every import of a higher layer, as ``"low -> high"``."""

    def named(module: str) -> str:
        return f"{module} ({layers[layer_of(module, layers)][0]})"

    return [
        f"{named(source)} -> {named(target)}"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of(target, layers) > layer_of(source, layers)
    ]


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_imports(GRAPH, LAYERS) == []


def test_independent_packages_do_not_import_each_other() -> None:
    for a, b in INDEPENDENT:
        for source, targets in GRAPH.items():
            for x, y in ((a, b), (b, a)):
                if source.split(".")[0] == x:
                    assert not [t for t in targets if t.split(".")[0] == y], (source, targets)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circle() -> None:
    # A package imports its own submodules (to re-export them); those never import it back.
    graph = {m: {t for t in targets if t != "__init__" or m == "__init__"} for m, targets in GRAPH.items()}
    assert _cycles(graph) == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """On a made-up package: an upward import hidden in a function, and a circle, are both reported."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .high import H\n")
    (package / "low.py").write_text("import os\n\ndef f():\n    from .sub.leaf import X\n    return X\n")
    (package / "high.py").write_text("from pkg import low\n\nclass H: ...\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import high\nfrom ..low import f\n"
    )
    modules = modules_of(package)
    graph = {m: imports_of(m, modules, "pkg") for m in modules}
    assert graph == {
        "__init__": {"high"},
        "low": {"sub.leaf"},
        "high": {"low"},
        "sub": set(),
        "sub.leaf": {"low"},
    }
    layers = [("bottom", ("low",)), ("middle", ("sub",)), ("top", ("high", "__init__"))]
    assert upward_imports(graph, layers) == ["low (bottom) -> sub.leaf (middle)"]
    assert _cycles(graph) == [["low", "sub.leaf"]]


@pytest.mark.parametrize("module", sorted(set(MODULES) - GENERATED))
def test_modules_are_small(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"qwen_vlm.{module} has {lines} lines (at most {MAX_MODULE_LINES})"


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function, its signature and body, its docstring not counted."""
    lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        lines -= first.end_lineno - first.lineno + 1  # type: ignore[operator]
    return lines


@pytest.mark.parametrize("module", sorted(set(MODULES) - GENERATED))
def test_functions_are_short(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({_length(node)} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _length(node) > MAX_FUNCTION_LINES
    ]
    assert not long, f"qwen_vlm.{module}: {', '.join(long)} (docstrings aside)"


def test_the_architecture_page_names_every_module_and_layer() -> None:
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [str(path.relative_to(PACKAGE.parent)) for path in MODULES.values()]
    missing = [path for path in missing if f"`{path}`" not in page]
    assert missing == [], "docs/architecture.md lacks a line for these modules"
    assert all(f"**{name}**" in page for name, _ in LAYERS)
