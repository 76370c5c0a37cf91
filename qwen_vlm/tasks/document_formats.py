r"""Document answers read into layout blocks, one reader per format (pure).

Each reader returns :class:`RawBlock` values in reading order, boxes as the model wrote them (the task
converts them to page pixels by the family's rule). Formats:

* QwenVL HTML — ``<h1 data-bbox="x1 y1 x2 y2">``, ``<p>``, ``<table>``, ``<div class="formula|image|
  chart|header|footer|...">`` (read with BeautifulSoup; only the outermost element carrying a box is a
  block).
* Markdown (QwenVL Markdown, olmOCR's page text, plain Markdown) — headings, paragraphs, list items, HTML
  tables, LaTeX ``tabular`` tables (made HTML), ``$$``/``\[`` formulas, ``<!-- Image (x1, y1, x2, y2) -->``
  coordinate notes (QwenVL Markdown) and olmOCR's figure names ``![alt](page_x_y_w_h.png)``.
* dots.ocr — a JSON list of ``{"bbox", "category", "text"}``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import MissingDependencyError
from ..parsing import strip_fences
from .coordinates import numbers_of

__all__ = ["RawBlock", "dots_blocks", "front_matter", "html_blocks", "latex_table_html", "markdown_blocks"]


@dataclass(frozen=True)
class RawBlock:
    """A block as the answer gives it: category, Markdown text, box in the model's coordinates."""

    category: str
    text: str
    box: tuple[float, float, float, float] | None = None
    level: int | None = None


#: dots.ocr's categories, and other names formats use, mapped onto :data:`~qwen_vlm.BLOCK_CATEGORIES`.
CATEGORY_NAMES = {
    "caption": "caption",
    "image caption": "caption",
    "footnote": "footnote",
    "formula": "formula",
    "equation": "formula",
    "list-item": "list-item",
    "list": "list-item",
    "page-footer": "page-footer",
    "footer": "page-footer",
    "page-header": "page-header",
    "header": "page-header",
    "page-number": "page-number",
    "page_number": "page-number",
    "picture": "figure",
    "image": "figure",
    "figure": "figure",
    "chart": "figure",
    "section-header": "section-header",
    "table": "table",
    "text": "text",
    "image ocr": "text",
    "title": "title",
    "code": "code",
}


def _box(value: Any) -> tuple[float, float, float, float] | None:
    """Four coordinates read as ``detect`` reads them, or ``None`` (the block keeps its text, boxless)."""
    nums = numbers_of(value, 4)
    if nums is None:
        return None
    x0, y0, x1, y1 = nums
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


# ----------------------------------------------------------------------------- QwenVL HTML
def html_blocks(text: str) -> list[RawBlock]:
    """The blocks of a QwenVL HTML answer: every outermost element carrying ``data-bbox``.

    Raises:
        MissingDependencyError: BeautifulSoup is not installed (the ``documents`` extra).
    """
    try:
        from bs4 import BeautifulSoup
    except ImportError:
        raise MissingDependencyError("beautifulsoup4", "documents", "Reading QwenVL HTML") from None
    soup = BeautifulSoup(strip_fences(text), "html.parser")
    blocks = []
    for element in soup.find_all(lambda tag: tag.has_attr("data-bbox")):
        if any(parent.has_attr("data-bbox") for parent in element.parents if hasattr(parent, "has_attr")):
            continue  # inside a block already read (an <img> in <div class="image">)
        block = _html_block(element)
        if block is not None:
            blocks.append(block)
    return blocks


def _html_block(element: Any) -> RawBlock | None:
    tag = element.name.lower()
    classes = " ".join(element.get("class") or []).lower()
    box = _box(element.get("data-bbox"))
    words = " ".join(element.get_text(" ", strip=True).split())
    if tag == "table" or "table" in classes.split():
        return RawBlock("table", _clean_table(element), box)
    if re.fullmatch(r"h[1-6]", tag):
        level = int(tag[1])
        return RawBlock("title" if level == 1 else "section-header", words, box, level)
    if tag in ("ul", "ol"):
        items = [" ".join(li.get_text(" ", strip=True).split()) for li in element.find_all("li")]
        return RawBlock("list-item", "\n".join(f"- {item}" for item in items if item) or words, box)
    if tag == "li":
        return RawBlock("list-item", words, box)
    if tag == "img":
        return RawBlock("figure", element.get("alt") or "", box)
    if tag in ("pre", "code"):
        return RawBlock("code", element.get_text().strip("\n"), box)
    category = CATEGORY_NAMES.get(classes) or next(
        (CATEGORY_NAMES[c] for c in classes.split() if c in CATEGORY_NAMES), None
    )
    if category == "formula":
        return RawBlock("formula", _formula(element.get_text()), box)
    if category == "figure":
        return RawBlock("figure", words if "ocr" not in classes else "", box)
    return RawBlock(category or "text", words, box)


def _clean_table(element: Any) -> str:
    """A table's HTML without the model's boxes and classes."""
    for node in [element, *element.find_all(True)]:
        for attribute in ("data-bbox", "class", "style"):
            if node.has_attr(attribute):
                del node[attribute]
    if element.name != "table":
        inner = element.find("table")
        element = inner if inner is not None else element
    return str(element)


def _formula(text: str) -> str:
    text = text.strip()
    for start, end in (("$$", "$$"), ("\\[", "\\]"), ("$", "$"), ("\\(", "\\)")):
        if text.startswith(start) and text.endswith(end) and len(text) > len(start) + len(end):
            return text[len(start) : -len(end)].strip()
    return text


# ----------------------------------------------------------------------------- Markdown
_FRONT = re.compile(r"\A\s*---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_NOTE = re.compile(
    r"<!--\s*([A-Za-z][\w -]*?)?\s*[\(\[]?\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*"
    r"(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*[\)\]]?\s*-->"
)
_FIGURE = re.compile(r"^!\[([^\]]*)\]\(([^)]*)\)\s*$")
_OLMOCR_NAME = re.compile(r"page_(\d+(?:\.\d+)?)_(\d+(?:\.\d+)?)_(\d+(?:\.\d+)?)_(\d+(?:\.\d+)?)\.\w+$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_ITEM = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """OlmOCR's YAML front matter (between ``---`` lines) and the text after it.

    Raises:
        MissingDependencyError: PyYAML is not installed (the ``documents`` extra).
    """
    text = strip_fences(text)
    match = _FRONT.match(text)
    if match is None:
        return {}, text
    try:
        import yaml
    except ImportError:
        raise MissingDependencyError("pyyaml", "documents", "Reading olmOCR's front matter") from None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        data = None
    return (dict(data) if isinstance(data, Mapping) else {}), text[match.end() :]


def markdown_blocks(text: str) -> list[RawBlock]:
    """The blocks of a Markdown page: headings, paragraphs, list items, tables, formulas, figures."""
    lines = strip_fences(text).replace("\r\n", "\n").split("\n")
    blocks: list[RawBlock] = []
    paragraph: list[str] = []
    pending_box: tuple[float, float, float, float] | None = None
    k = 0

    def flush() -> None:
        if paragraph:
            blocks.append(RawBlock("text", "\n".join(paragraph).strip()))
            paragraph.clear()

    while k < len(lines):
        line = lines[k]
        stripped = line.strip()
        note = _NOTE.fullmatch(stripped)
        if note is not None:
            flush()
            kind = (note.group(1) or "").strip().lower()
            box = _box([note.group(n) for n in range(2, 6)])
            if kind in ("table", "formula", "equation"):
                pending_box = box  # the box of the block that follows
            else:
                blocks.append(RawBlock(CATEGORY_NAMES.get(kind, "figure"), "", box))
            k += 1
            continue
        block, k_next = _special(lines, k)
        if block is not None:
            flush()
            if pending_box is not None and block.box is None:
                block = RawBlock(block.category, block.text, pending_box, block.level)
                pending_box = None
            blocks.append(block)
            k = k_next
            continue
        if not stripped:
            flush()
        elif (heading := _HEADING.match(stripped)) is not None:
            flush()
            level = len(heading.group(1))
            blocks.append(
                RawBlock("title" if level == 1 else "section-header", heading.group(2).strip(), None, level)
            )
        elif _ITEM.match(stripped):
            flush()
            blocks.append(RawBlock("list-item", stripped))
        else:
            paragraph.append(stripped)
        k += 1
    flush()
    return blocks


def _special(lines: list[str], k: int) -> tuple[RawBlock | None, int]:
    """A table, formula or figure starting at line ``k`` (and the line after it), else ``(None, k)``."""
    stripped = lines[k].strip()
    lowered = stripped.lower()
    if lowered.startswith("<table"):
        end = _until(lines, k, lambda s: "</table>" in s.lower())
        return RawBlock("table", "\n".join(lines[k : end + 1]).strip()), end + 1
    if lowered.startswith(("\\begin{tabular", "\\begin{table", "\\begin{longtable")):
        end = _until(lines, k, lambda s: re.search(r"\\end\{(?:tabular|table|longtable)\*?\}", s) is not None)
        while end + 1 < len(lines) and re.match(r"\s*\\end\{table\*?\}", lines[end + 1]):
            end += 1
        return RawBlock("table", latex_table_html("\n".join(lines[k : end + 1]))), end + 1
    for start, stop in (("$$", "$$"), ("\\[", "\\]")):
        if stripped.startswith(start):
            rest = stripped[len(start) :]
            if rest.rstrip().endswith(stop) and len(rest.rstrip()) >= len(stop):
                return RawBlock("formula", rest.rstrip()[: -len(stop)].strip()), k + 1
            end = _until(lines, k + 1, lambda s, stop=stop: s.strip().endswith(stop))
            body = "\n".join([rest, *lines[k + 1 : end + 1]]).strip()
            return RawBlock("formula", body[: -len(stop)].strip() if body.endswith(stop) else body), end + 1
    figure = _FIGURE.match(stripped)
    if figure is not None:
        name = _OLMOCR_NAME.search(figure.group(2))
        box = None
        if name is not None:  # olmOCR: page_<x>_<y>_<width>_<height>.png, in the page image's pixels
            x, y, w, h = (float(name.group(n)) for n in range(1, 5))
            box = (x, y, x + w, y + h)
        return RawBlock("figure", figure.group(1).strip(), box), k + 1
    return None, k


def _until(lines: list[str], k: int, done: Any) -> int:
    """The first line from ``k`` for which ``done`` holds (the last line when none does)."""
    for n in range(k, len(lines)):
        if done(lines[n]):
            return n
    return len(lines) - 1


_RULES = re.compile(r"\\(?:hline|toprule|midrule|bottomrule|cline\{[^}]*\}|centering)")
_MULTI = re.compile(r"\\multi(column|row)\{(\d+)\}\{[^}]*\}\{(.*)\}\s*$", re.DOTALL)


def latex_table_html(latex: str) -> str:
    r"""A LaTeX ``tabular`` as an HTML table (``\multicolumn``/``\multirow`` become spans)."""
    body = re.search(
        r"\\begin\{(?:tabular|longtable)\*?\}(?:\{[^}]*\})*(.*?)\\end\{(?:tabular|longtable)",
        latex,
        re.DOTALL,
    )
    content = body.group(1) if body else latex
    content = _RULES.sub("", content)
    rows = []
    for raw_row in re.split(r"\\\\", content):
        if not raw_row.strip():
            continue
        cells = []
        for raw_cell in re.split(r"(?<!\\)&", raw_row):
            cell, span = raw_cell.strip(), ""
            multi = _MULTI.match(cell)
            if multi is not None:
                span = f' {"colspan" if multi.group(1) == "column" else "rowspan"}="{multi.group(2)}"'
                cell = multi.group(3).strip()
            shown = html.escape(cell.replace("\\&", "&"), quote=False)
            cells.append(f"<td{span}>{shown}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


# ----------------------------------------------------------------------------- dots.ocr
def dots_blocks(entries: Any) -> list[RawBlock]:
    """dots.ocr's JSON list of ``{"bbox": [x1, y1, x2, y2], "category": ..., "text": ...}`` as blocks."""
    if isinstance(entries, Mapping):
        entries = next((v for v in entries.values() if isinstance(v, list)), [entries])
    blocks = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, Mapping):
            continue
        name = str(entry.get("category", "text")).strip().lower()
        category = CATEGORY_NAMES.get(name, "text")
        text = entry.get("text")
        text = text if isinstance(text, str) else ""
        box = _box(entry.get("bbox", entry.get("bbox_2d")))
        level = None
        if category in ("title", "section-header"):
            heading = _HEADING.match(text.strip())
            level = len(heading.group(1)) if heading else (1 if category == "title" else 2)
            text = heading.group(2) if heading else text
        if category == "formula":
            text = _formula(text)
        blocks.append(RawBlock(category, text.strip(), box, level))
    return blocks
