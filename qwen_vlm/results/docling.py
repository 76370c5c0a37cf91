"""A :class:`~qwen_vlm.Document` as a docling ``DoclingDocument`` (the ``docling`` extra: docling-core).

docling-core is the document model of IBM's docling: once a parse is a ``DoclingDocument``, docling's
exporters (Markdown, HTML, DocTags, JSON) and its chunkers for retrieval pipelines work on it. Every block
becomes the docling item of its category with its box as provenance (top-left origin, page pixels); page
headers, footers and numbers go in docling's furniture layer; tables are parsed into cells.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError

if TYPE_CHECKING:
    from .documents import Block, Document

__all__ = ["to_docling"]


def to_docling(document: Document, name: str = "document") -> Any:
    """The document as a ``docling_core.types.doc.DoclingDocument``.

    Raises:
        MissingDependencyError: Without docling-core (``pip install "qwen-vlm[docling]"``).
    """
    try:
        from docling_core.types.doc import DoclingDocument, Size
    except ImportError:
        raise MissingDependencyError("docling-core", "docling", "Document.to_docling()") from None
    out = DoclingDocument(name=name)
    for page in document.pages:
        width, height = page.image_size or (1, 1)
        out.add_page(page_no=page.number, size=Size(width=width, height=height))
        for block in page.blocks:
            _add(out, block, page.number)
    return out


def _add(out: Any, block: Block, page: int) -> None:
    from docling_core.types.doc import (
        BoundingBox,
        ContentLayer,
        CoordOrigin,
        DocItemLabel,
        ProvenanceItem,
    )

    prov = None
    if block.bbox is not None:
        x0, y0, x1, y1 = block.bbox
        box = BoundingBox(l=x0, t=y0, r=x1, b=y1, coord_origin=CoordOrigin.TOPLEFT)
        prov = ProvenanceItem(page_no=page, bbox=box, charspan=(0, len(block.text)))
    furniture = {"page-header": DocItemLabel.PAGE_HEADER, "page-footer": DocItemLabel.PAGE_FOOTER}
    category = block.category
    if category in furniture or category == "page-number":
        label = furniture.get(category, DocItemLabel.PAGE_FOOTER)
        out.add_text(label=label, text=block.text, prov=prov, content_layer=ContentLayer.FURNITURE)
    elif category == "title":
        out.add_title(text=block.text, prov=prov)
    elif category == "section-header":
        out.add_heading(text=block.text, level=max(1, (block.level or 2) - 1), prov=prov)
    elif category == "list-item":
        out.add_list_item(text=block.text.lstrip("-*+ ").strip(), prov=prov)
    elif category == "formula":
        out.add_formula(text=block.text, prov=prov)
    elif category == "table":
        out.add_table(data=_table(block.text), prov=prov)
    elif category == "figure":
        out.add_picture(prov=prov)
    else:
        labels = {
            "caption": DocItemLabel.CAPTION,
            "footnote": DocItemLabel.FOOTNOTE,
            "code": DocItemLabel.CODE,
        }
        out.add_text(label=labels.get(category, DocItemLabel.TEXT), text=block.text, prov=prov)


def _table(html: str) -> Any:
    """An HTML table's cells as docling ``TableData`` (row and column spans kept)."""
    from bs4 import BeautifulSoup
    from docling_core.types.doc import TableCell, TableData

    cells = []
    taken: set[tuple[int, int]] = set()
    rows = BeautifulSoup(html, "html.parser").find_all("tr")
    columns = 0
    for r, row in enumerate(rows):
        c = 0
        for cell in row.find_all(["td", "th"]):
            while (r, c) in taken:
                c += 1
            rows_spanned = int(str(cell.get("rowspan") or 1))
            cols_spanned = int(str(cell.get("colspan") or 1))
            for dr in range(rows_spanned):
                for dc in range(cols_spanned):
                    taken.add((r + dr, c + dc))
            cells.append(
                TableCell(
                    text=cell.get_text(" ", strip=True),
                    row_span=rows_spanned,
                    col_span=cols_spanned,
                    start_row_offset_idx=r,
                    end_row_offset_idx=r + rows_spanned,
                    start_col_offset_idx=c,
                    end_col_offset_idx=c + cols_spanned,
                    column_header=cell.name == "th",
                )
            )
            c += cols_spanned
            columns = max(columns, c)
    return TableData(table_cells=cells, num_rows=len(rows), num_cols=columns)
