"""The quickstart notebook's offline cells run as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(NOTEBOOK.parent)
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    namespace: dict[str, object] = {}
    ran = 0
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or source.startswith("# requires: model"):
            continue
        exec(compile(source, f"{NOTEBOOK.name} cell", "exec"), namespace)
        ran += 1
    assert ran >= 4
    assert [d.label for d in namespace["detections"]] == ["house", "sun"]  # type: ignore[attr-defined]
