"""Documents over Ray Data: documents as rows, pages as the unit of work (a local Ray, a loopback server)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("CI"):  # CI installs the ray extra: there these tests always run
    import ray
ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")
pytest.importorskip("pypdfium2")
pytest.importorskip("fpdf")
pytest.importorskip("openai")
pq = pytest.importorskip("pyarrow.parquet")

from chat_server import Reply, chat_server, completion  # noqa: E402
from documents_kit import PAGES, answer, build_pdf, page_number, sent_image  # noqa: E402

from qwen_vlm import ConfigurationError, QwenVLM  # noqa: E402
from qwen_vlm.integrations.ray_documents import parse_documents, to_documents  # noqa: E402

Q3 = "Qwen/Qwen3-VL-8B-Instruct"


def read_back(dataset: Any, folder: Path, key: str = "id") -> list[dict[str, Any]]:
    """Write to Parquet and read back (the values must survive the round trip), sorted by ``key``."""
    dataset.write_parquet(str(folder))
    return sorted(pq.read_table(str(folder)).to_pylist(), key=lambda row: (row[key], row.get("page", 0)))


def library(folder: Path) -> list[dict[str, Any]]:
    """Five documents: PDFs of 3, 5 and 2 pages (two as paths, one as bytes), a text file, a damaged PDF."""
    folder.mkdir()
    three = build_pdf(folder / "three.pdf", count=3)
    five = build_pdf(folder / "five.pdf", count=5)
    two = build_pdf(folder / "two.pdf", count=2).read_bytes()
    (folder / "notes.txt").write_text("not a document")
    (folder / "broken.pdf").write_bytes(three.read_bytes()[:300])
    return [
        {"id": 0, "path": str(three), "data": b""},
        {"id": 1, "path": str(five), "data": b""},
        {"id": 2, "path": "", "data": two},
        {"id": 3, "path": str(folder / "notes.txt"), "data": b""},
        {"id": 4, "path": str(folder / "broken.pdf"), "data": b""},
    ]


def test_documents_as_rows_pages_as_work(local_ray: None, tmp_path: Path) -> None:
    """One row per document, equal to parse_document's; each page sent once; bad documents are rows."""
    items = library(tmp_path / "docs")
    # One source column: paths for most, bytes for the third (Ray columns hold one type: use bytes for all).
    rows = [
        {"id": r["id"], "source": Path(r["path"]).read_bytes() if r["path"] else r["data"]} for r in items
    ]
    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion(answer("qwenvl-html", body, True)))
        options = {"backend": "openai", "base_url": server.url, "max_concurrent_requests": 4}
        out = parse_documents(
            ray.data.from_items(rows), Q3, source_column="source", batch_size=3, concurrency=2,
            client_options=options,
        )  # fmt: skip
        documents = read_back(out, tmp_path / "parquet")
        pages_sent = sorted(page_number(sent_image(body)) for body in server.requests if body)
        local = QwenVLM(Q3, backend="openai", base_url=server.url)
        expected = [
            local.parse_document(items[k]["path"] or items[k]["data"], progress=False) for k in (0, 1, 2)
        ]
    assert [d["id"] for d in documents] == [0, 1, 2, 3, 4]  # one row per document, none lost
    assert "source" not in documents[0]  # the bytes column is not carried
    assert pages_sent == sorted([1, 2, 3, 1, 2, 3, 4, 5, 1, 2])  # each page sent exactly once
    rebuilt = to_documents(documents)
    for k in (0, 1, 2):
        row = documents[k]
        assert row["ok"] and row["error"] is None and row["failed_pages"] == []
        assert row["page_count"] == len(expected[k].pages)
        assert row["markdown"] == expected[k].markdown  # the same text as parse_document
        assert "Journal of Tests" not in row["markdown"] and "<table" in row["markdown"]
        assert rebuilt[k].pages == expected[k].pages  # every page, block and box the same
        assert rebuilt[k].format == "qwenvl-html" and rebuilt[k].markdown == expected[k].markdown
        assert row["prompt_tokens"] > 0
    assert [p.number for p in rebuilt[1].pages] == [1, 2, 3, 4, 5]
    assert rebuilt[1].pages[3].blocks[0].text == PAGES[1][0].text  # page 4 is the second layout again
    for k, reason in ((3, "neither a PDF nor an image"), (4, "damaged PDF")):
        assert not documents[k]["ok"] and reason in documents[k]["error"]
        assert documents[k]["markdown"] is None and not rebuilt[k].ok


def test_pages_as_rows_and_a_resumed_job(local_ray: None, tmp_path: Path) -> None:
    """group=False gives one row per page; with a store, a run again sends only the pages not yet stored."""
    # Two documents with no page in common (the store's keys are the pages' contents).
    pdfs = [
        build_pdf(tmp_path / f"doc{k}.pdf", layouts, count=4)
        for k, layouts in enumerate((PAGES, PAGES[::-1]))
    ]
    rows = [{"id": k, "path": str(p)} for k, p in enumerate(pdfs)]
    store = str(tmp_path / "pages.db")
    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion(answer("olmocr", body, False)))
        options = {"backend": "openai", "base_url": server.url, "cache": store}
        model = "allenai/olmOCR-2-7B-1025"
        # A first job asked for pages 1-2 only; then the whole documents: only pages 3-4 are new.
        first = parse_documents(
            ray.data.from_items(rows), model, pages=[1, 2], group=False, client_options=options
        )
        first_rows = read_back(first, tmp_path / "first")
        assert len(server.requests) == 4
        full = parse_documents(ray.data.from_items(rows), model, group=False, client_options=options)
        page_rows = read_back(full, tmp_path / "full")
        assert len(server.requests) == 4 + 4  # the stored pages were not sent again
    assert [(r["id"], r["page"]) for r in first_rows] == [(k, p) for k in range(2) for p in (1, 2)]
    assert [(r["id"], r["page"]) for r in page_rows] == [(k, p) for k in range(2) for p in (1, 2, 3, 4)]
    assert all(r["error"] is None and r["attempts"] == 1 and r["rotation"] == 0 for r in page_rows)
    assert all(r["path"] == str(pdfs[r["id"]]) for r in page_rows)  # a path column is carried
    documents = to_documents(page_rows, format="olmocr", model=model)
    assert [len(d.pages) for d in documents] == [4, 4] and all(d.ok for d in documents)
    assert documents[0].pages[0].metadata["primary_language"] == "en"
    assert "A Study of Boxes" in documents[0].markdown


def test_bad_options_fail_before_any_task(tmp_path: Path) -> None:
    options = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1"}
    with pytest.raises(ConfigurationError, match="unknown document format"):
        parse_documents(object(), Q3, format="latex", client_options=options)
    with pytest.raises(ConfigurationError, match="pages"):
        parse_documents(object(), Q3, pages=[0], client_options=options)
    with pytest.raises(ConfigurationError, match="temperature"):
        parse_documents(object(), Q3, temperature=-1.0, client_options=options)
    with pytest.raises(ConfigurationError, match="longest_side"):
        parse_documents(object(), Q3, longest_side=0, client_options=options)
    with pytest.raises(ConfigurationError, match="document"):
        to_documents([{"id": 1}])
