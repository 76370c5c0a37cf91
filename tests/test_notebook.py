"""The quickstart notebook runs top to bottom with no network ("Run All"), and shows its pictures."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from PIL import Image

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("nbconvert")
pytest.importorskip("ipykernel")
pytest.importorskip("torch")

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"


def test_the_saved_notebook_has_cell_ids_and_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)  # cell ids are required by nbformat 4.5+
    assert all(cell.get("id") for cell in nb.cells)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs for cell in code), "outputs are saved so it reads well on GitHub"
    methods = "".join(cell.source for cell in code)
    for task in (
        "caption",
        "ocr",
        "ask",
        "prompt",
        "classify",
        "classify_multi",
        "detect",
        "point",
        "extract",
        "parse_document",
    ):
        assert f".{task}(" in methods, f"every task appears: {task}"


def test_the_notebook_runs_offline_top_to_bottom(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbconvert import HTMLExporter

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on a machine with no network
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError naming the cell when any cell fails
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    setup = next(c for c in nb.cells if c.get("id") == "setup")
    said = "".join(o.get("text", "") for o in setup.outputs)
    assert "tiny random-weight" in said or "Using Qwen/" in said  # it says plainly which model it runs

    html, _ = HTMLExporter().from_notebook_node(nb)
    detect = next(c for c in nb.cells if c.get("id") == "detect")
    png = detect.outputs[0]["data"]["image/png"]
    assert f"data:image/png;base64,{png}" in html  # the drawn detection is in the exported page
    picture = Image.open(io.BytesIO(base64.b64decode(png)))
    assert picture.size == Image.open(NOTEBOOK.parent.parent / "examples" / "sample.jpg").size
    assert len(re.findall(r"data:image/png;base64,", html)) >= 2  # detection and pointing
