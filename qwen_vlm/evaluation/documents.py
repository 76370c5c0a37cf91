"""Document parsing measured on olmOCR-bench: its layout read, its own test classes run on each page.

A dataset in olmOCR-bench's layout is a folder holding ``*.jsonl`` test files and a ``pdfs/`` folder
(each test names its ``pdf``, relative to ``pdfs/``, and its ``page``). Each client reads every page a
test names with ``parse_document``; each test then runs on that page's Markdown with olmOCR-bench's own
classes (``olmocr.bench.tests``: ``present``, ``absent``, ``order``, ``table``, ``baseline``), not a
rewrite. As olmOCR-bench does, a PDF without a ``baseline`` test gets one for its first page, and the
overall score is the mean of the test files' pass rates. ``math`` tests compare KaTeX renderings in a
headless browser (Playwright with Chromium); they are counted and skipped, and said so in the result.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DatasetError, MissingDependencyError
from .report import EvaluationRun

__all__ = ["DOCUMENT", "Bench", "load_bench", "run_documents"]

#: The kind of truth a document benchmark holds.
DOCUMENT = "document"
#: Test types run here (``math`` needs a browser and is skipped).
RUN_TYPES = ("present", "absent", "order", "table", "baseline")


@dataclass(frozen=True)
class Bench:
    """An olmOCR-bench dataset: its tests (olmOCR's objects, each with its test file) and pages."""

    folder: Path
    tests: tuple[tuple[Any, str], ...]
    pages: dict[str, tuple[int, ...]]
    skipped: int

    @property
    def description(self) -> str:
        """How the dataset is named in tables."""
        files = sorted({name for _, name in self.tests})
        return f"olmOCR-bench {self.folder.name} ({len(self.tests)} tests in {', '.join(files)})"


def _classes() -> dict[str, Any]:
    try:
        from olmocr.bench.tests import BaselineTest, TableTest, TextOrderTest, TextPresenceTest
    except ImportError as exc:
        raise MissingDependencyError(
            "olmocr", "documents-bench", f"Scoring documents with olmOCR-bench's tests ({exc})"
        ) from None
    return {
        "present": TextPresenceTest,
        "absent": TextPresenceTest,
        "order": TextOrderTest,
        "table": TableTest,
        "baseline": BaselineTest,
    }


def load_bench(folder: Any) -> Bench:
    """Read an olmOCR-bench folder (``*.jsonl`` and ``pdfs/``).

    Raises:
        DatasetError: No test file, no ``pdfs/`` folder, a test naming a missing PDF, a malformed line.
        MissingDependencyError: Without ``olmocr`` (the ``documents-bench`` extra).
    """
    root = Path(folder)
    pdfs = root / "pdfs"
    files = sorted(root.glob("*.jsonl"))
    if not pdfs.is_dir() or not files:
        raise DatasetError(f"{root} is not an olmOCR-bench folder: it needs *.jsonl test files and pdfs/")
    classes = _classes()
    tests: list[tuple[Any, str]] = []
    skipped = 0
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                kind = data["type"]
                if kind == "math":
                    skipped += 1
                    continue
                test = classes[kind](**data)
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path.name} line {number}: not an olmOCR-bench test ({exc!r})") from None
            if not (pdfs / test.pdf).is_file():
                raise DatasetError(f"{path.name} line {number}: {test.pdf} is not in {pdfs}")
            tests.append((test, path.name))
    for pdf in sorted({test.pdf for test, _ in tests}):
        if not any(test.type == "baseline" and test.pdf == pdf for test, _ in tests):
            baseline = classes["baseline"](id=f"{pdf}_baseline", pdf=pdf, page=1, type="baseline")
            tests.append((baseline, "baseline"))
    pages: dict[str, set[int]] = defaultdict(set)
    for test, _ in tests:
        pages[test.pdf].add(int(test.page))
    return Bench(root, tuple(tests), {pdf: tuple(sorted(p)) for pdf, p in pages.items()}, skipped)


def run_documents(
    name: str, client: Any, bench: Bench, format: Any, progress: bool | None, options: dict[str, Any]
) -> EvaluationRun:
    """One client's pass rates on the bench: per test type and test file, overall, with time and cost."""
    start = time.perf_counter()
    markdown: dict[tuple[str, int], str] = {}
    documents = []
    failures = 0
    for pdf, numbers in bench.pages.items():
        document = client.parse_document(
            bench.folder / "pdfs" / pdf, format=format, pages=list(numbers), progress=progress, **options
        )
        documents.append(document)
        for page in document.pages:
            markdown[(pdf, page.number)] = page.markdown
            failures += not page.ok
    seconds = time.perf_counter() - start
    by_type: dict[str, list[bool]] = defaultdict(list)
    by_file: dict[str, list[bool]] = defaultdict(list)
    rows = []
    for test, file in bench.tests:
        passed, why = test.run(markdown.get((test.pdf, int(test.page)), ""))
        by_type[test.type].append(bool(passed))
        by_file[file].append(bool(passed))
        rows.append({"test": test.id, "type": test.type, "file": file, "passed": bool(passed), "why": why})
    every = [p for results in by_type.values() for p in results]
    metrics = {
        "overall": sum(sum(r) / len(r) for r in by_file.values()) / max(1, len(by_file)),
        "pass_rate": sum(every) / max(1, len(every)),
        **{kind: sum(r) / len(r) for kind, r in sorted(by_type.items())},
    }
    pages = [page for document in documents for page in document.pages]
    usage = [page.usage for page in pages if page.usage is not None]
    costs = [u.cost for u in usage if u.cost is not None]
    return EvaluationRun(
        name=name,
        model=client.model,
        backend=type(client.backend).__name__,
        metrics=metrics,
        per_class={file: sum(r) / len(r) for file, r in sorted(by_file.items())},
        images=len(pages),
        failures=failures,
        seconds=seconds,
        prompt_tokens=sum(u.prompt_tokens for u in usage),
        completion_tokens=sum(u.completion_tokens for u in usage),
        cost=sum(costs) if costs else None,
        per_image=tuple(rows),
        results=tuple(documents),
    )
