"""Document results: a :class:`Document` of :class:`Page` results, each a list of layout :class:`Block`.

Every format (QwenVL HTML, QwenVL Markdown, olmOCR, dots.ocr, plain Markdown) is read into the same
shape: blocks in reading order, each with a category from :data:`BLOCK_CATEGORIES`, a box in pixels of
the page image (or ``None`` where the format gives none) and its text as Markdown (tables as HTML,
formulas as LaTeX).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .base import Result, escape_html, plain_data, source_name

__all__ = ["BLOCK_CATEGORIES", "FURNITURE", "Block", "Document", "Page"]

#: Every block category; each format's own names are mapped onto these.
BLOCK_CATEGORIES = (
    "title",
    "section-header",
    "text",
    "list-item",
    "table",
    "formula",
    "figure",
    "caption",
    "footnote",
    "code",
    "page-header",
    "page-footer",
    "page-number",
)
#: Page furniture: kept as blocks, left out of ``markdown`` unless asked for.
FURNITURE = frozenset({"page-header", "page-footer", "page-number"})


@dataclass(frozen=True)
class Block:
    """One layout element of a page.

    Attributes:
        category: One of :data:`BLOCK_CATEGORIES`.
        text: Its content as Markdown (a table as HTML, a formula as LaTeX without delimiters, a figure's
            description or ``""``).
        bbox: ``(x0, y0, x1, y1)`` in pixels of the page image, or ``None`` where the format gives none.
        level: For a title or section header: its heading level (1 for a title).
    """

    category: str
    text: str
    bbox: tuple[float, float, float, float] | None = None
    level: int | None = None

    def to_markdown(self) -> str:
        """The block as Markdown: headings with ``#``, list items with ``-``, formulas in ``$$``."""
        text = self.text.strip()
        if self.category in ("title", "section-header"):
            level = self.level or (1 if self.category == "title" else 2)
            return f"{'#' * level} {text.lstrip('#').strip()}" if text else ""
        if self.category == "list-item":
            return text if text[:2] in ("- ", "* ", "+ ") or text[:1].isdigit() else f"- {text}"
        if self.category == "formula":
            return f"$$\n{text}\n$$" if text else ""
        if self.category == "figure":
            return f"![{text}]()" if text else ""
        if self.category == "code":
            return f"```\n{text}\n```" if text else ""
        return text


def _markdown(blocks: Sequence[Block], furniture: bool) -> str:
    """Blocks as Markdown: a blank line between blocks, list items of one list on consecutive lines."""
    out: list[str] = []
    previous = None
    for block in blocks:
        if not furniture and block.category in FURNITURE:
            continue
        text = block.to_markdown()
        if not text:
            continue
        if out:
            out.append("\n" if block.category == previous == "list-item" else "\n\n")
        out.append(text)
        previous = block.category
    return "".join(out)


@dataclass(frozen=True, kw_only=True)
class Page(Result):
    """One page of a document, as the model read it.

    Attributes:
        number: The page's number in the document (1-based).
        image_size: ``(width, height)`` of the page image sent, in pixels (after any rotation).
        blocks: The page's layout elements, in reading order.
        rotation: Degrees the page image was turned before the answer kept (olmOCR's rotation
            correction; 0 when none).
        format: The answer format asked for (``"qwenvl-html"``, ``"olmocr"``...).
        metadata: What the format says about the page besides its text (olmOCR's front matter...).
        suggested_rotation: Degrees the model says the page must be turned to be read (0: none).
        attempts: Requests made for this page (retries included).
    """

    number: int = 1
    image_size: tuple[int, int] | None = None
    blocks: tuple[Block, ...] = ()
    rotation: int = 0
    format: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    suggested_rotation: int = 0
    attempts: int = 1

    @property
    def markdown(self) -> str:
        """The page as Markdown, without page headers, footers and numbers."""
        return _markdown(self.blocks, furniture=False)

    def to_markdown(self, furniture: bool = False) -> str:
        """The page as Markdown (``furniture=True`` keeps page headers, footers and numbers)."""
        return _markdown(self.blocks, furniture)

    def draw(self) -> Any:
        """A new PIL image: the page (as kept: a thumbnail) with each block's box and category drawn.

        Raises:
            ConfigurationError: The result does not hold its page image.
        """
        from PIL import Image

        picture = self.source
        if not isinstance(picture, Image.Image) or self.image_size is None:
            raise ConfigurationError("this page does not hold its image (it was not made by parse_document)")
        from ..draw import draw_objects

        scale = picture.width / self.image_size[0]
        objects = [
            (block.category, tuple(v * scale for v in block.bbox), 0, None)
            for block in self.blocks
            if block.bbox is not None
        ]
        return draw_objects([picture], objects, legend=True)

    def __iter__(self) -> Iterator[Block]:
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def __repr__(self) -> str:
        return f"Page({self.number}, {len(self.blocks)} blocks{self._tail()}"


@dataclass(frozen=True)
class Document:
    """A parsed document: its pages in order.

    Attributes:
        pages: One :class:`Page` per page asked for, in page order (a failed page carries its error).
        source: The PDF or image it was read from (a path; ``None`` for bytes or in-memory images).
        format: The answer format used.
        model: The model that read it.
        page_count: Pages in the whole document (``pages`` may be a selection).
        error: Why the document could not be read at all (``None`` when it could).
    """

    pages: tuple[Page, ...] = ()
    source: Any = field(default=None, compare=False)
    format: str = ""
    model: str = ""
    page_count: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the document was read and every page succeeded."""
        return self.error is None and all(page.ok for page in self.pages)

    @property
    def markdown(self) -> str:
        """The whole document as Markdown, page after page, without page furniture."""
        return self.to_markdown()

    def to_markdown(self, furniture: bool = False) -> str:
        """The whole document as Markdown (``furniture=True`` keeps page headers, footers, numbers)."""
        return "\n\n".join(t for t in (p.to_markdown(furniture) for p in self.pages) if t)

    def to_html(self) -> str:
        """The document as one HTML page: each page a ``<section>``, each block an element with its box."""
        body = []
        for page in self.pages:
            items = []
            for block in page.blocks:
                box = f' data-bbox="{" ".join(f"{v:.0f}" for v in block.bbox)}"' if block.bbox else ""
                text = block.text if block.category == "table" else html.escape(block.text)
                tag = {"title": "h1", "section-header": "h2", "list-item": "li"}.get(block.category, "div")
                items.append(f'<{tag} class="{block.category}"{box}>{text}</{tag}>')
            body.append(
                f'<section class="page" data-page="{page.number}">\n' + "\n".join(items) + "\n</section>"
            )
        return "<!DOCTYPE html>\n<html><body>\n" + "\n".join(body) + "\n</body></html>\n"

    def to_docling(self, name: str | None = None) -> Any:
        """The document as a docling ``DoclingDocument`` (``pip install "qwen-vlm[docling]"``).

        docling's exporters and chunkers then work on it; boxes become provenance, page furniture goes in
        docling's furniture layer, tables become cells.
        """
        from .docling import to_docling

        return to_docling(
            self,
            name or (Path(str(self.source)).stem if isinstance(self.source, (str, Path)) else "document"),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: the document's fields and every page's."""
        return {
            "source": source_name(self.source) if not isinstance(self.source, bytes) else None,
            "format": self.format,
            "model": self.model,
            "page_count": self.page_count,
            "error": self.error,
            "pages": [{**plain_data(page), "error_type": page.error_type} for page in self.pages],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the document as ``.md``, ``.html`` or ``.json``, by the path's suffix.

        Raises:
            ConfigurationError: Another suffix.
        """
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in (".md", ".html", ".json"):
            raise ConfigurationError(f"save() writes .md, .html or .json, not {target.name!r}")
        if suffix == ".html":
            text = self.to_html()
        elif suffix == ".json":
            text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2)
        else:
            text = self.markdown + "\n"
        target.write_text(text, encoding="utf-8")
        return target

    def __iter__(self) -> Iterator[Page]:
        return iter(self.pages)

    def __len__(self) -> int:
        return len(self.pages)

    def __getitem__(self, index: int) -> Page:
        return self.pages[index]

    def __repr__(self) -> str:
        failed = sum(not p.ok for p in self.pages)
        tail = f", {failed} failed" if failed else ""
        tail += f", error={self.error!r}" if self.error else ""
        return (
            f"Document({source_name(self.source)!r}, {len(self.pages)} pages, format={self.format!r}{tail})"
        )

    def _repr_html_(self) -> str:
        """Jupyter's view: each page's Markdown beside its block list (thumbnails with ``draw_page``)."""
        rows = []
        for page in self.pages:
            state = escape_html(page.error) if page.error else f"{len(page.blocks)} blocks"
            state += _thumbnail(page)
            text = escape_html(page.markdown[:3000])
            rows.append(
                f"<tr><td style='vertical-align:top'><b>page {page.number}</b><br>{state}"
                f"{f'<br>turned {page.rotation}°' if page.rotation else ''}</td>"
                f"<td><pre style='white-space:pre-wrap;margin:0'>{text}</pre></td></tr>"
            )
        return f"<table><caption>{escape_html(repr(self))}</caption>{''.join(rows)}</table>"


def _thumbnail(page: Page) -> str:
    """The page's picture with its blocks drawn, as an inline PNG (``""`` when it has none)."""
    try:
        import base64
        import io

        buffer = io.BytesIO()
        page.draw().save(buffer, format="PNG")
    except Exception:  # a display hook must never raise
        return ""
    return f"<br><img src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}'>"
