"""Test documents: PDFs built with fpdf2 whose elements are drawn where the test knows, and a scripted
"model" that answers in each document format by reading which page it was sent.

Every page carries its number as five black-or-white squares along its top edge (readable after JPEG);
each element is a filled rectangle of its own grey, so a test finds where it was drawn on the rendered
page image. The scripted answers give each element's box in the convention of the model id asked
(absolute pixels of the image received for Qwen2.5-VL and fine-tunes, 0-1000 for Qwen3-VL).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

PAGE = (612.0, 792.0)  # US letter, in points


@dataclass(frozen=True)
class Element:
    category: str
    text: str
    rect: tuple[float, float, float, float]  # x, y, width, height in points
    grey: int


TABLE = "<table><tr><td>Name</td><td>Value</td></tr><tr><td>alpha</td><td>1</td></tr></table>"
PAGES = [
    [
        Element("page-header", "Journal of Tests", (60, 50, 300, 20), 200),
        Element("title", "A Study of Boxes", (60, 90, 400, 40), 40),
        Element("text", "The first paragraph says what was done.", (60, 150, 480, 80), 80),
        Element("table", TABLE, (60, 250, 300, 120), 120),
        Element("formula", "E = mc^2", (200, 390, 200, 40), 160),
        Element("page-footer", "Page 1", (280, 740, 60, 20), 180),
    ],
    [
        Element("section-header", "Results", (60, 90, 250, 30), 40),
        Element("text", "The second page holds the results.", (60, 140, 480, 60), 80),
        Element("table", TABLE.replace("alpha", "beta"), (60, 220, 300, 120), 120),
        Element("page-footer", "Page 2", (280, 740, 60, 20), 180),
    ],
]


def build_pdf(path: Path, pages: list[list[Element]] = PAGES, *, count: int | None = None) -> Path:
    """A PDF of ``pages`` (or ``count`` pages repeating them), each page numbered in its top squares."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=PAGE)
    for number in range(1, (count or len(pages)) + 1):
        pdf.add_page()
        for bit in range(5):
            if number >> bit & 1:
                pdf.set_fill_color(0, 0, 0)
                pdf.rect(20 + bit * 24, 10, 16, 16, style="F")
        for element in pages[(number - 1) % len(pages)]:
            pdf.set_fill_color(element.grey, element.grey, element.grey)
            pdf.rect(*element.rect, style="F")
    pdf.output(str(path))
    return path


def sent_image(body: dict[str, Any]) -> Image.Image:
    """The page image of a chat-completions request."""
    parts = body["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L")


def page_number(image: Image.Image) -> int:
    """The number drawn in the page's top squares."""
    scale = image.height / PAGE[1]  # the page's long side fills the image's; its width may be padded
    number = 0
    for bit in range(5):
        x, y = (28 + bit * 24) * scale, 18 * scale
        if image.getpixel((int(x), int(y))) < 100:  # type: ignore[operator]
            number |= 1 << bit
    return number


def drawn_box(page: Image.Image, grey: int) -> tuple[int, int, int, int]:
    """Where the element of ``grey`` is drawn on a (lossless) rendered page: its pixel bounds."""
    import numpy as np

    pixels = np.asarray(page.convert("L")).astype(int)
    ys, xs = np.nonzero(abs(pixels - grey) <= 3)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def model_box(element: Element, size: tuple[int, int], relative: bool) -> list[int]:
    """An element's box as a model would write it for an image of ``size`` (relative: 0-1000)."""
    x, y, w, h = element.rect
    scale = size[1] / PAGE[1]  # points to pixels: the page's long side fills the image's (its width padded)
    sx, sy = (scale * 1000 / size[0], 1000 / PAGE[1]) if relative else (scale, scale)
    return [round(x * sx), round(y * sy), round((x + w) * sx), round((y + h) * sy)]


_HTML_TAGS = {"title": "h1", "section-header": "h2", "text": "p"}
_HTML_CLASSES = {"formula": "formula", "page-header": "header", "page-footer": "footer"}
_DOTS = {
    "page-header": "Page-header",
    "page-footer": "Page-footer",
    "title": "Title",
    "section-header": "Section-header",
    "text": "Text",
    "table": "Table",
    "formula": "Formula",
}


def answer(fmt: str, body: dict[str, Any], relative: bool) -> str:
    """The page sent, answered in ``fmt`` as a document model answers."""
    image = sent_image(body)
    elements = PAGES[(page_number(image) - 1) % len(PAGES)]
    size = image.size
    if fmt == "qwenvl-html":
        parts = []
        for e in elements:
            box = " ".join(str(v) for v in model_box(e, size, relative))
            if e.category == "table":
                parts.append(e.text.replace("<table>", f'<table data-bbox="{box}">'))
            elif e.category in _HTML_CLASSES:
                text = f"$${e.text}$$" if e.category == "formula" else e.text
                parts.append(f'<div class="{_HTML_CLASSES[e.category]}" data-bbox="{box}">{text}</div>')
            else:
                tag = _HTML_TAGS[e.category]
                parts.append(f'<{tag} data-bbox="{box}">{e.text}</{tag}>')
        return "```html\n<html><body>\n" + " \n ".join(parts) + "\n</body></html>\n```"
    if fmt == "dots":
        return json.dumps(
            [
                {"bbox": model_box(e, size, relative), "category": _DOTS[e.category], "text": _dots_text(e)}
                for e in elements
            ]
        )
    lines = []
    if fmt == "olmocr":
        lines.append(
            "---\nprimary_language: en\nis_rotation_valid: True\nrotation_correction: 0\n"
            "is_table: True\nis_diagram: False\n---"
        )
    for e in elements:
        if e.category in ("page-header", "page-footer"):
            continue  # the Markdown formats leave page furniture out
        if e.category == "title":
            lines.append(f"# {e.text}")
        elif e.category == "section-header":
            lines.append(f"## {e.text}")
        elif e.category == "formula":
            lines.append(f"$$\n{e.text}\n$$")
        elif e.category == "table" and fmt == "qwenvl-markdown":
            box = ", ".join(str(v) for v in model_box(e, size, relative))
            lines.append(f"<!-- Table ({box}) -->\n{_latex(e.text)}")
        else:
            lines.append(e.text)
    return "\n\n".join(lines)


def _dots_text(e: Element) -> str:
    return {"title": f"# {e.text}", "section-header": f"## {e.text}"}.get(e.category, e.text)


def _latex(table: str) -> str:
    import re

    rows = re.findall(r"<tr>(.*?)</tr>", table)
    body = " \\\\\n".join(" & ".join(re.findall(r"<td>(.*?)</td>", row)) for row in rows)
    return "\\begin{tabular}{|l|l|}\n\\hline\n" + body + " \\\\\n\\hline\n\\end{tabular}"
