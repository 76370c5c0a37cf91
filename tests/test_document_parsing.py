"""parse_document: a PDF built in the test, read page by page in each format over a loopback server.

The server plays the document model (tests/documents_kit.py): it reads which page it was sent and
answers with that page's elements, boxes in the convention of the model id, so each block's box can be
checked against where the element was drawn on the page image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer, Reply, chat_server, completion
from documents_kit import PAGES, TABLE, answer, build_pdf, drawn_box

from qwen_vlm import ConfigurationError, Document, DocumentError, QwenVLM

pypdfium2 = pytest.importorskip("pypdfium2")
pytest.importorskip("fpdf")
pytest.importorskip("openai")

Q25, Q3 = "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"
EXPECTED = "\n\n".join(
    [
        "# A Study of Boxes",
        "The first paragraph says what was done.",
        TABLE,
        "$$\nE = mc^2\n$$",
        "## Results",
        "The second page holds the results.",
        TABLE.replace("alpha", "beta"),
    ]
)


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pdf(tmp_path_factory.mktemp("docs") / "two-pages.pdf")


@pytest.fixture
def server() -> Any:
    with chat_server() as s:
        yield s


def rendered(pdf: Path, number: int, longest_side: int) -> Any:
    """The page as the test renders it itself (lossless), to find where elements were drawn."""
    document = pypdfium2.PdfDocument(str(pdf))
    page = document[number - 1]
    width, height = page.get_size()
    return page.render(scale=longest_side / max(width, height)).to_pil().convert("RGB")


@pytest.mark.parametrize(
    ("fmt", "model", "relative", "boxed"),
    [
        ("qwenvl-html", Q25, False, "all"),
        ("qwenvl-html", Q3, True, "all"),
        ("qwenvl-markdown", Q3, True, "table"),
        ("olmocr", "allenai/olmOCR-2-7B-1025", False, None),
        ("dots", "rednote-hilab/dots.ocr", False, "all"),
        ("markdown", Q3, True, None),
    ],
)
def test_each_format_reads_the_pages_with_their_layout(
    server: ChatServer, pdf: Path, fmt: str, model: str, relative: bool, boxed: str | None
) -> None:
    server.script = lambda n, body: Reply(body=completion(answer(fmt, body, relative)))
    # A pixel budget that holds a whole page: it goes as rendered, and the scripted model's boxes (page
    # points scaled by the page's height) are exact. Resized pages are mapped back the same way.
    vlm = QwenVLM(model, backend="openai", base_url=server.url, max_pixels=2_500_000)
    default = fmt in ("olmocr", "dots") or (fmt == "qwenvl-html")
    document = vlm.parse_document(pdf, format=None if default else fmt)
    assert isinstance(document, Document) and document.ok, document
    assert document.format == fmt and [p.number for p in document.pages] == [1, 2]
    assert len(server.requests) == 2 and document.page_count == 2
    factor = vlm.info.spec.factor  # the longest side snapped down to it, the other padded up to it
    side = 1288 if fmt in ("olmocr", "markdown") else 1600
    side -= side % factor
    for page, elements in zip(document.pages, PAGES, strict=True):
        picture = rendered(pdf, page.number, side)
        assert page.image_size == tuple(-(-v // factor) * factor for v in picture.size)
        assert max(page.image_size) == side
        for element in elements:
            found = [b for b in page.blocks if b.category == element.category]
            if boxed is None or (boxed == "table" and element.category != "table"):
                assert all(b.bbox is None for b in found if b.category != "figure")
                continue
            assert len(found) == 1 or element.category == "page-footer", (element, page.blocks)
            block = found[0]
            drawn = drawn_box(picture, element.grey)
            assert block.bbox is not None
            assert all(abs(a - b) <= 2 for a, b in zip(block.bbox, drawn, strict=True)), (block, drawn)
    assert document.markdown == EXPECTED
    assert "Journal of Tests" not in document.markdown and "Page 1" not in document.markdown
    if fmt in ("qwenvl-html", "dots"):  # furniture stays as blocks, and in Markdown when asked for
        assert document.pages[0].blocks[0].category == "page-header"
        assert "Journal of Tests" in document.to_markdown(furniture=True)


@pytest.mark.parametrize(("model", "relative"), [(Q25, False), (Q3, True)])
def test_a_page_larger_than_the_pixel_budget_is_rendered_within_it(
    server: ChatServer, pdf: Path, model: str, relative: bool
) -> None:
    """Not rendered at 1600 px and then resized: drawn at the largest size the budget keeps, sent as is."""
    from documents_kit import page_number, sent_image

    budget = 600_000  # a Letter page at 1600 px is ~2 MP
    server.script = lambda n, body: Reply(body=completion(answer("qwenvl-html", body, relative)))
    vlm = QwenVLM(model, backend="openai", base_url=server.url, max_pixels=budget)
    document = vlm.parse_document(pdf)
    assert document.ok and document.markdown == EXPECTED
    factor = vlm.info.spec.factor
    sent = {page_number(image): image.size for image in map(sent_image, server.requests)}
    for page, elements in zip(document.pages, PAGES, strict=True):
        width, height = page.image_size
        assert sent[page.number] == page.image_size  # no resize on the way
        assert width % factor == 0 and height % factor == 0 and width * height <= budget
        assert (width + factor) * (height + factor) > budget  # the largest that fits, within a step
        picture = rendered(pdf, page.number, height)  # the page's long side is drawn at exactly that
        for element in elements:
            (block, *_) = [b for b in page.blocks if b.category == element.category]
            drawn = drawn_box(picture, element.grey)
            assert block.bbox is not None
            assert all(abs(a - b) <= 2 for a, b in zip(block.bbox, drawn, strict=True)), (block, drawn)


def test_a_longest_side_asked_for_is_kept_and_the_backend_resizes(server: ChatServer, pdf: Path) -> None:
    from documents_kit import sent_image

    server.script = lambda n, body: Reply(body=completion(answer("markdown", body, True)))
    vlm = QwenVLM(Q3, backend="openai", base_url=server.url, max_pixels=600_000)
    document = vlm.parse_document(pdf, format="markdown", longest_side=1600)
    assert document.ok and [max(p.image_size) for p in document.pages] == [1600, 1600]
    for image in map(sent_image, server.requests):  # the client's budget still holds what is sent
        assert image.width * image.height <= 600_000 and max(image.size) < 1600


def test_the_async_client_reads_documents_without_blocking_its_loop(server: ChatServer, pdf: Path) -> None:
    import asyncio

    from qwen_vlm import AsyncQwenVLM

    server.script = lambda n, body: Reply(body=completion(answer("qwenvl-html", body, True)), delay=0.2)

    async def main() -> tuple[Any, int]:
        vlm = AsyncQwenVLM(Q3, backend="openai", base_url=server.url, max_pixels=2_500_000)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        documents = await vlm.parse_document([pdf, b"not a document"])
        ticker.cancel()
        return documents, ticks

    (good, bad), ticks = asyncio.run(main())
    assert good.ok and good.markdown == EXPECTED and [p.number for p in good.pages] == [1, 2]
    assert all(b.bbox is not None for p in good.pages for b in p.blocks)
    assert not bad.ok and "neither a PDF nor an image" in (bad.error or "")
    assert len(server.requests) == 2 and ticks >= 10  # the loop kept running while pages were read


def test_a_format_of_your_own_is_a_task_like_any_other(server: ChatServer, pdf: Path) -> None:
    """A DocumentFormat subclass: its prompt sent, its answers read into boxed blocks; by object or name."""
    from documents_kit import model_box, page_number, sent_image

    from qwen_vlm import register_task
    from qwen_vlm.tasks.document_formats import RawBlock
    from qwen_vlm.tasks.documents import DocumentFormat

    class Lines(DocumentFormat):
        """One element a line: ``category | x0 y0 x1 y1 | text``."""

        name = "document-lines"
        format = "lines"

        def prompt(self, params: Any) -> str:
            return "One element a line: category | box | text."

        def blocks(self, answer: Any) -> tuple[list[RawBlock], dict[str, Any]]:
            rows = [line.split(" | ", 2) for line in answer.text.splitlines() if line.strip()]
            return [RawBlock(c, t, tuple(float(v) for v in b.split())) for c, b, t in rows], {}  # type: ignore[arg-type]

    def reply(n: int, body: dict[str, Any]) -> Reply:
        image = sent_image(body)
        lines = [
            f"{e.category} | {' '.join(map(str, model_box(e, image.size, True)))} | {e.text}"
            for e in PAGES[page_number(image) - 1]
        ]
        return Reply(body=completion("\n".join(lines)))

    server.script = reply
    vlm = QwenVLM(Q3, backend="openai", base_url=server.url, max_pixels=2_500_000)
    by_object = vlm.parse_document(pdf, format=Lines())
    register_task(Lines, replace=True)
    by_name = vlm.parse_document(pdf, format="document-lines")
    assert by_object.ok and by_object.format == "lines" and by_name.to_dict() == by_object.to_dict()
    sent = server.requests[0]["messages"][-1]["content"]
    assert any(part.get("text") == "One element a line: category | box | text." for part in sent)
    for page, elements in zip(by_object.pages, PAGES, strict=True):
        picture = rendered(pdf, page.number, max(page.image_size))
        assert [b.category for b in page.blocks] == [e.category for e in elements]
        for block, element in zip(page.blocks, elements, strict=True):
            drawn = drawn_box(picture, element.grey)
            assert block.bbox is not None
            assert all(abs(a - b) <= 2 for a, b in zip(block.bbox, drawn, strict=True)), (block, drawn)
    assert "Journal of Tests" not in by_object.markdown and "A Study of Boxes" in by_object.markdown


def test_a_progress_bar_counts_pages(
    server: ChatServer, pdf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script = lambda n, body: Reply(body=completion(answer("markdown", body, True)))
    vlm = QwenVLM(Q3, backend="openai", base_url=server.url)
    vlm.parse_document(pdf, format="markdown", progress=True)
    shown = capsys.readouterr().err
    assert "parse_document (markdown)" in shown and "2/2" in shown
    assert "page/s" in shown or "s/page" in shown  # counted in pages, not images


@pytest.mark.parametrize(
    "bbox", ["[true, 0, 100, 100]", "[1e400, 0, 100, 100]", '["nan", 0, 1, 1]', "[0, 0, 1e9, 1e9]"]
)
def test_a_block_with_a_box_no_model_would_write_keeps_its_text(
    server: ChatServer, pdf: Path, bbox: str
) -> None:
    """One unusable box drops that box only: the page and its text stay (it failed the page, or read 1, 0)."""
    good = '{"bbox": [10, 10, 200, 60], "category": "Title", "text": "Kept"}'
    bad = '{"bbox": ' + bbox + ', "category": "Text", "text": "Also kept"}'
    server.script = lambda n, body: Reply(body=completion(f"[{good}, {bad}]"))
    vlm = QwenVLM("rednote-hilab/dots.ocr", backend="openai", base_url=server.url)
    (page,) = vlm.parse_document(pdf, pages=1).pages
    assert page.ok and [b.text for b in page.blocks] == ["Kept", "Also kept"]
    assert page.blocks[0].bbox is not None and page.blocks[1].bbox is None


def test_documents_save_and_convert(server: ChatServer, pdf: Path, tmp_path: Path) -> None:
    import json

    server.script = lambda n, body: Reply(body=completion(answer("qwenvl-html", body, True)))
    document = QwenVLM(Q3, backend="openai", base_url=server.url).parse_document(pdf, pages=[2])
    assert [p.number for p in document] == [2] and document.page_count == 2
    assert document.save(tmp_path / "out.md").read_text() == document.markdown + "\n"
    html = document.save(tmp_path / "out.html").read_text()
    assert '<section class="page" data-page="2">' in html and "data-bbox=" in html
    data = json.loads(document.save(tmp_path / "out.json").read_text())
    assert data["pages"][0]["number"] == 2 and data["pages"][0]["blocks"][0]["category"] == "section-header"
    with pytest.raises(ConfigurationError, match=r"\.md, \.html or \.json"):
        document.save(tmp_path / "out.txt")
    assert "page 2" in document._repr_html_() and "<img src='data:image/png" in document._repr_html_()
    document.pages[0].draw()


def test_bad_documents_are_typed_errors_before_any_request(
    server: ChatServer, pdf: Path, tmp_path: Path
) -> None:
    vlm = QwenVLM(Q3, backend="openai", base_url=server.url)
    text = tmp_path / "notes.txt"
    text.write_text("not a document")
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(pdf.read_bytes()[:400])
    locked = tmp_path / "locked.pdf"
    _encrypt(pdf, locked)
    for source, message in [
        (text, "neither a PDF nor an image"),
        (damaged, "damaged PDF"),
        (locked, "password"),
        (tmp_path / "gone.pdf", "not found"),
        (b"%PDF-1.4 garbage", "damaged PDF"),
        (b"", "the bytes given are empty"),
        (bytearray(b"not a document"), "the 14 bytes given are neither a PDF nor an image"),
        (_bomb(60_000, 60_000), "not a readable image: .*too large to decode safely"),  # says why
    ]:
        with pytest.raises(DocumentError, match=message):
            vlm.parse_document(source)
    with pytest.raises(ConfigurationError, match="longest_side must be at most 8192"):
        vlm.parse_document(pdf, longest_side=99_999)  # refused, not a 30 GB bitmap
    with pytest.raises(ConfigurationError, match="page 3 is out of range"):
        vlm.parse_document(pdf, pages=[1, 3])
    with pytest.raises(ConfigurationError, match="unknown document format"):
        vlm.parse_document(pdf, format="latex")
    with pytest.raises(ConfigurationError, match="pages="):
        vlm.parse_document(pdf, pages="1")
    assert server.requests == []
    # in a list, a bad document is that document's failure; the others are read
    server.script = lambda n, body: Reply(body=completion(answer("qwenvl-html", body, True)))
    good, bad = vlm.parse_document([pdf, damaged])
    assert good.ok and len(good.pages) == 2 and not bad.ok and "damaged" in (bad.error or "")


def test_pdf_bytes_in_any_bytes_like_form_or_after_junk_are_read(server: ChatServer, pdf: Path) -> None:
    server.script = lambda n, body: Reply(body=completion(answer("markdown", body, True)))
    vlm = QwenVLM(Q3, backend="openai", base_url=server.url)
    data = pdf.read_bytes()
    junk = b"\xef\xbb\xbfJUNK\r\n" + data  # junk before the header: readers find it in the first 1 KB
    for source in (data, bytearray(data), memoryview(data), junk):
        document = vlm.parse_document(source, format="markdown", pages=1)
        assert document.ok and document.page_count == 2 and "A Study of Boxes" in document.markdown


def test_a_huge_longest_side_is_drawn_within_the_most_pixels_a_model_takes(
    server: ChatServer, pdf: Path
) -> None:
    from qwen_vlm.pdf import MAX_PAGE_PIXELS

    server.script = lambda n, body: Reply(body=completion(answer("markdown", body, True)))
    vlm = QwenVLM(Q3, backend="openai", base_url=server.url)
    document = vlm.parse_document(pdf, format="markdown", pages=1, longest_side=8192)
    (page,) = document.pages
    width, height = page.image_size
    assert page.ok and width * height <= MAX_PAGE_PIXELS and height % 32 == 0
    assert (width + 32) * (height + 32) > MAX_PAGE_PIXELS  # as large as allowed, within a step


def test_no_more_page_threads_than_pages(server: ChatServer, pdf: Path) -> None:
    """A huge max_concurrent_requests does not start a thread per slot: one per page at most."""
    import threading

    seen: list[int] = []

    def script(n: int, body: dict[str, Any]) -> Reply:
        seen.append(sum(t.name.startswith("qwen-vlm-page-") for t in threading.enumerate()))
        return Reply(body=completion(answer("markdown", body, True)))

    server.script = script
    vlm = QwenVLM(Q3, backend="openai", base_url=server.url, max_concurrent_requests=100_000)
    document = vlm.parse_document(pdf, format="markdown")
    assert document.ok and len(seen) == 2 and max(seen) <= 2


def _bomb(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header claims ``width`` x ``height`` pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width * 3 + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _encrypt(source: Path, target: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter(clone_from=str(source))
    writer.encrypt("secret")
    writer.write(str(target))


def test_an_image_is_a_one_page_document(server: ChatServer, pdf: Path) -> None:
    from PIL import Image

    page = rendered(pdf, 1, 1008)  # 1008 = 36 x 28, and the width padded to a multiple of 28: sent as it is
    picture = Image.new("RGB", (-(-page.width // 28) * 28, page.height), "white")
    picture.paste(page, (0, 0))
    server.script = lambda n, body: Reply(body=completion(answer("dots", body, False)))
    document = QwenVLM("rednote-hilab/dots.ocr", backend="openai", base_url=server.url).parse_document(
        picture
    )
    assert document.ok and len(document.pages) == 1 and document.pages[0].image_size == picture.size
    title = next(b for b in document.pages[0].blocks if b.category == "title")
    drawn = drawn_box(picture, 40)
    assert all(abs(a - b) <= 2 for a, b in zip(title.bbox or (), drawn, strict=True))


FRONT = (
    "---\nprimary_language: en\nis_rotation_valid: {valid}\nrotation_correction: {turn}\n"
    "is_table: False\nis_diagram: False\n---\n"
)


def test_a_page_olmocr_says_is_turned_is_sent_again_turned(server: ChatServer, pdf: Path) -> None:
    import numpy as np
    from documents_kit import sent_image
    from PIL import Image

    def script(n: int, body: dict[str, Any]) -> Reply:
        if n == 0:
            return Reply(body=completion(FRONT.format(valid="False", turn=90) + "sdrawkcab txet"))
        return Reply(body=completion(FRONT.format(valid="True", turn=0) + "The page, upright."))

    server.script = script
    # a budget that holds olmOCR's 1288 px page (the default one, ~1 MP, has it rendered smaller)
    vlm = QwenVLM("allenai/olmOCR-2-7B-1025", backend="openai", base_url=server.url, max_pixels=2_500_000)
    document = vlm.parse_document(pdf, pages=1)
    (page,) = document.pages
    assert len(server.requests) == 2 and page.ok and page.rotation == 90 and page.attempts == 2
    assert page.markdown == "The page, upright." and page.metadata["is_rotation_valid"] is True
    first, second = (sent_image(body) for body in server.requests)
    assert second.size == (first.height, first.width)  # turned a quarter, as olmOCR turns it
    turned = np.asarray(first.transpose(Image.Transpose.ROTATE_90).resize(second.size), dtype=float)
    assert np.abs(turned - np.asarray(second, dtype=float)).mean() < 4  # the same page, turned (JPEG aside)
    width = rendered(pdf, 1, 1288).width  # 1288 is a multiple of 28: only the width is padded
    assert page.image_size == (1288, -(-width // 28) * 28)  # the page image as sent, turned


def test_a_looping_answer_is_asked_once_more_warmer(server: ChatServer, pdf: Path) -> None:
    loop = "Name | Value\n" + "| alpha | 1 |\n" * 60

    def script(n: int, body: dict[str, Any]) -> Reply:
        return Reply(body=completion(loop if n == 0 else "The first paragraph says what was done."))

    server.script = script
    vlm = QwenVLM(Q3, backend="openai", base_url=server.url)
    (page,) = vlm.parse_document(pdf, pages=[1], format="markdown").pages
    assert len(server.requests) == 2 and page.ok and page.attempts == 2
    assert page.markdown == "The first paragraph says what was done."
    assert "temperature" not in server.requests[0] and server.requests[1]["temperature"] == 0.2
    server.requests.clear()
    server.script = lambda n, body: Reply(body=completion(loop))
    (page,) = vlm.parse_document(pdf, pages=[1], format="markdown").pages
    assert len(server.requests) == 2 and not page.ok and "loops" in (page.error or "")
    assert page.text == loop.strip()  # the text is kept, and why it failed is said


def test_a_cut_answer_says_so(server: ChatServer, pdf: Path) -> None:
    server.script = lambda n, body: Reply(body=completion("# A Study", finish_reason="length"))
    (page,) = QwenVLM(Q3, backend="openai", base_url=server.url).parse_document(
        pdf, pages=1, format="markdown"
    )
    assert page.truncated and page.finish_reason == "length"


def test_a_local_generation_forced_into_a_loop_stops_early(pdf: Path, checkpoints: dict[str, Path]) -> None:
    """A logits processor forces ``| a | a | a ...``: generation stops within a few checks, not at 2000."""
    torch = pytest.importorskip("torch")

    def forced(tokenizer: Any) -> dict[str, Any]:
        cycle = tokenizer.encode("| a ", add_special_tokens=False)

        class Loop:
            def __call__(self, input_ids: Any, scores: Any) -> Any:
                forced_scores = torch.full_like(scores, -float("inf"))
                forced_scores[:, cycle[input_ids.shape[1] % len(cycle)]] = 0.0
                return forced_scores

        return {"logits_processor": [Loop()]}

    vlm = QwenVLM(str(checkpoints["qwen2_5_vl"]), generate_kwargs=forced)
    document = vlm.parse_document(pdf, pages=1, format="markdown", longest_side=320, max_tokens=2000)
    (page,) = document.pages
    assert not page.ok and "loops" in (page.error or "") and page.attempts == 2
    assert page.finish_reason == "repetition"
    assert page.usage is not None and page.usage.completion_tokens <= 160  # stopped at a check, not at 2000
    print(f"stopped after {page.usage.completion_tokens} tokens of 2000")


def test_the_command_line_writes_one_file_per_document(
    server: ChatServer, pdf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qwen_vlm.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(pdf.read_bytes())
    (folder / "b.pdf").write_bytes(pdf.read_bytes())
    (folder / "notes.txt").write_text("skipped: not a document")
    server.script = lambda n, body: Reply(body=completion(answer("qwenvl-html", body, True)))
    common = ["--backend", "openai", "--base-url", server.url, "--model", Q3]
    out = tmp_path / "out"
    job = ["parse-document", str(folder), "-o", str(out), "--pages", "1-2", "--cache", str(tmp_path / "c.db")]
    assert main([*job, *common]) == 0 and sorted(p.name for p in out.iterdir()) == ["a.md", "b.md"]
    # the two files are one document twice: a page whose twin settled first comes from the store
    sent = len(server.requests)
    assert (out / "a.md").read_text() == EXPECTED + "\n" and 2 <= sent <= 4
    assert main([*job, *common]) == 0 and len(server.requests) == sent  # run again: every page stored
    assert main(["parse-document", str(pdf), "-o", str(out), "--to", "json", *common]) == 0
    assert (out / "two-pages.json").exists()
    assert main(["parse-document", str(pdf), "-o", str(out), "--pages", "9", *common]) == 2
    assert "out of range" in capsys.readouterr().err


def test_a_document_becomes_a_docling_document(server: ChatServer, pdf: Path) -> None:
    pytest.importorskip("docling_core")
    server.script = lambda n, body: Reply(body=completion(answer("qwenvl-html", body, True)))
    document = QwenVLM(Q3, backend="openai", base_url=server.url).parse_document(pdf)
    docling = document.to_docling()
    assert docling.name == "two-pages" and sorted(docling.pages) == [1, 2]
    (table,) = [t for t in docling.tables if t.prov[0].page_no == 1]
    assert table.data.num_rows == 2 and table.data.num_cols == 2
    assert [c.text for c in table.data.table_cells] == ["Name", "Value", "alpha", "1"]
    exported = docling.export_to_markdown()
    assert "A Study of Boxes" in exported and "The second page holds the results." in exported
    assert "Journal of Tests" not in exported  # page furniture is docling furniture
    title = next(t for t in docling.texts if t.text == "A Study of Boxes")
    block = next(b for b in document.pages[0].blocks if b.category == "title")
    box = title.prov[0].bbox
    assert (box.l, box.t, box.r, box.b) == block.bbox


def test_pages_keep_their_colours(tmp_path: Path) -> None:
    """Pages are rendered in RGB byte order: a red square is red, a blue one blue (not swapped)."""
    from fpdf import FPDF

    from qwen_vlm.pdf import PdfFile, open_document

    document = FPDF(unit="pt", format=(200, 100))
    document.add_page()
    document.set_fill_color(220, 30, 40)
    document.rect(10, 10, 80, 80, style="F")
    document.set_fill_color(20, 40, 230)
    document.rect(110, 10, 80, 80, style="F")
    path = tmp_path / "colours.pdf"
    document.output(str(path))
    opened = open_document(path)
    assert isinstance(opened, PdfFile)
    image = opened.render(1, 400)
    assert image.mode == "RGB" and image.size == (400, 200)
    red, blue = image.getpixel((100, 100)), image.getpixel((300, 100))
    assert red[0] > 200 and red[2] < 60, red
    assert blue[2] > 200 and blue[0] < 60, blue


@pytest.mark.parametrize("where", ["render", "prepare", "ask"])
def test_an_unexpected_failure_stops_the_pages_and_is_raised(
    pdf: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """An error that is not a page's (a bug, out of memory) in any stage is raised, never a hang."""
    import threading

    from qwen_vlm.engine import pages
    from qwen_vlm.tasks.documents import DOCUMENT_FORMATS

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{where} broke")

    def ask(images: list[Any], options: dict[str, Any]) -> list[Any]:
        if where == "ask":
            fail()
        return [pages.Page(text="x") for _ in images]

    if where == "render":
        monkeypatch.setattr(pages, "render_page", fail)
    jobs = pages.plan_documents([pdf] * 20, False, None)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            pages.read_documents(
                jobs,
                DOCUMENT_FORMATS["markdown"],
                ask,
                options={},
                longest_side=200,
                workers=3,
                batch=1,
                progress=False,
                model=Q3,
                warm=fail if where == "prepare" else None,
            )
        except RuntimeError as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "read_documents hung"
    assert [str(e) for e in raised] == [f"{where} broke"]
