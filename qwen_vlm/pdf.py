"""Documents as inputs: a PDF (path or bytes) or one image, opened and checked, pages rendered (pypdfium2).

PDF pages are rendered with pypdfium2 (the ``documents`` extra): Google's PDFium, the renderer of
Chrome, in a self-contained wheel — what olmOCR and docling render with. A page is rendered so that its
longest side is ``longest_side`` pixels. PDFium is not thread-safe: one document is rendered by one
thread at a time (:class:`PdfFile` holds a lock).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import ConfigurationError, ImageError, MissingDependencyError
from .images import is_image_input, load_image

__all__ = ["MAX_PAGE_PIXELS", "DocumentError", "DocumentSource", "PdfFile", "open_document", "page_numbers"]

#: A PDF file's header; readers look for it anywhere in the first 1024 bytes (junk may come first).
PDF_MAGIC = b"%PDF-"
#: Most pixels a page is rendered at: 4096 x 4096, what Qwen3-VL's processor takes at most by default
#: (the most of any Qwen-VL model; every backend shrinks a larger image). A larger page is drawn smaller.
MAX_PAGE_PIXELS = 4096 * 4096


class DocumentError(ImageError):
    """A document could not be read: not a PDF or an image, a damaged PDF, a password-protected PDF."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message, index)
        where = f"document {index}" if index is not None else "document"
        self.args = (f"{where}: {message}",)


class PdfFile:
    """An open PDF: its page count and its pages rendered on demand.

    Args:
        data: The file's bytes.
        name: How messages name it.
        index: Its position in a call (for messages).

    Raises:
        DocumentError: A damaged or password-protected PDF.
        MissingDependencyError: pypdfium2 is not installed.
    """

    def __init__(self, data: bytes, name: str, index: int | None = None) -> None:
        try:
            import pypdfium2
        except ImportError:
            raise MissingDependencyError("pypdfium2", "documents", "Reading PDF files") from None
        self.name = name
        self._lock = threading.Lock()
        try:
            self._pdf: Any = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            reason = str(exc)
            if "password" in reason.lower():
                raise DocumentError(f"{name} is protected by a password", index) from None
            raise DocumentError(f"{name} is a damaged PDF ({reason})", index) from None
        self.page_count = len(self._pdf)
        if self.page_count == 0:
            raise DocumentError(f"{name} has no pages", index)

    def render(
        self,
        number: int,
        longest_side: int,
        multiple: int = 1,
        fit: Callable[[int, int], tuple[int, int]] | None = None,
    ) -> Image.Image:
        """Page ``number`` (1-based) as an RGB image whose longest side is ``longest_side`` pixels.

        ``multiple``: each side of the image is padded with white (right and bottom) up to a multiple
        of it; PDFium draws the page straight into the padded bitmap, so the padding costs no copy.
        ``fit``: gives the size an image of ``(width, height)`` would be sent at (a backend's pixel
        budget); a page it would shrink is drawn smaller instead, at a size it keeps as it is.

        Raises:
            DocumentError: The page cannot be rendered.
        """
        import pypdfium2
        import pypdfium2.raw as pdfium_c

        with self._lock:
            try:
                page = self._pdf[number - 1]
                width, height = page.get_size()
                drawn, padded = _fitted((width, height), longest_side, multiple, fit)
                # RGB byte order: PIL copies the bitmap into an RGB image with no channel swap
                bitmap = pypdfium2.PdfBitmap.new_native(
                    padded[0], padded[1], pdfium_c.FPDFBitmap_BGR, rev_byteorder=True
                )
                bitmap.fill_rect(color=(255, 255, 255, 255), left=0, top=0, width=padded[0], height=padded[1])
                flags = pdfium_c.FPDF_ANNOT | pdfium_c.FPDF_REVERSE_BYTE_ORDER
                pdfium_c.FPDF_RenderPageBitmap(bitmap, page, 0, 0, drawn[0], drawn[1], 0, flags)
                image: Image.Image = bitmap.to_pil()
                bitmap.close()
                page.close()
            except Exception as exc:  # PDFium's own errors
                raise DocumentError(f"page {number} of {self.name} cannot be rendered: {exc}") from None
        return image if image.mode == "RGB" else image.convert("RGB")

    def close(self) -> None:
        """Release the document."""
        with self._lock:
            self._pdf.close()


def _fitted(
    page: tuple[float, float],
    longest_side: int,
    multiple: int,
    fit: Callable[[int, int], tuple[int, int]] | None,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The size a page of ``page`` points is drawn at, and its bitmap's size (padded to ``multiple``).

    The longest side is drawn at ``longest_side`` exactly, unless the padded image would be larger than
    :data:`MAX_PAGE_PIXELS` or than what ``fit`` keeps: then at the longest side (a multiple of
    ``multiple``) whose padded image is within both.
    """
    width, height = page
    longest = max(width, height, 1e-6)
    side = longest_side
    while True:
        scale = side / longest
        drawn = (
            side if width >= height else max(1, math.ceil(width * scale - 1e-9)),
            side if height > width else max(1, math.ceil(height * scale - 1e-9)),
        )
        padded = (-(-drawn[0] // multiple) * multiple, -(-drawn[1] // multiple) * multiple)
        area = padded[0] * padded[1]
        kept = fit(*padded) if fit is not None else padded
        allowed = min(kept[0] * kept[1], MAX_PAGE_PIXELS)
        if allowed >= area or side <= multiple:
            return drawn, padded
        smaller = int(side * math.sqrt(allowed / area))
        side = max(multiple, min(side - multiple, smaller - smaller % multiple))


#: What ``parse_document`` reads: a PDF (a path, ``pathlib.Path`` or bytes) or one image.
DocumentSource = str | os.PathLike[str] | bytes | Image.Image


def _name(source: Any) -> str:
    if isinstance(source, bytes):
        return f"a PDF of {len(source)} bytes"
    text = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    return repr(text if len(text) <= 120 else text[:117] + "...")


def open_document(source: Any, index: int | None = None) -> PdfFile | Image.Image:
    """A PDF opened, or an image read: anything else is refused naming it.

    Raises:
        DocumentError: A file that is neither, a damaged or locked PDF, a missing file.
        ConfigurationError: A value of a type that cannot be a document.
    """
    if isinstance(source, (bytearray, memoryview)):
        source = bytes(source)
    name = _name(source)
    if isinstance(source, bytes):
        if PDF_MAGIC in source[:1024]:
            return PdfFile(source, name, index)
        if not source:
            raise DocumentError("the bytes given are empty: neither a PDF nor an image", index)
        try:
            return load_image(source, index)
        except ImageError as exc:
            raise _not_a_document(f"the {len(source)} bytes given are", exc, index) from None
    if isinstance(source, (str, os.PathLike)) and not str(source).lower().startswith(("http://", "https://")):
        path = Path(source).expanduser()
        if not path.is_file():
            missing = f"file {name} not found" if not path.exists() else f"{name} is not a file"
            raise DocumentError(missing, index)
        with open(path, "rb") as handle:
            head = handle.read(1024)
        if PDF_MAGIC in head:
            return PdfFile(path.read_bytes(), name, index)
        try:
            return load_image(path, index)
        except ImageError as exc:
            raise _not_a_document(f"{name} is", exc, index) from None
    if is_image_input(source):
        try:
            return load_image(source, index)
        except ImageError as exc:
            raise DocumentError(getattr(exc, "reason", str(exc)), index) from None
    raise ConfigurationError(
        f"parse_document takes a PDF (a path or bytes) or an image, got {type(source).__name__}"
    )


def _not_a_document(subject: str, exc: ImageError, index: int | None) -> DocumentError:
    """Not a PDF, and not an image either: why (an image too large or truncated says so)."""
    if "not an image PIL can read" in exc.reason:
        return DocumentError(f"{subject} neither a PDF nor an image", index)
    return DocumentError(f"{subject} not a PDF, and not a readable image: {exc.reason}", index)


def page_numbers(pages: Any, count: int, name: str) -> list[int]:
    """The 1-based page numbers ``pages`` selects from a document of ``count`` pages (``None``: all).

    Raises:
        ConfigurationError: A page out of range, or a selection that is not an int, a range or a list.
    """
    if pages is None:
        return list(range(1, count + 1))
    if isinstance(pages, bool):
        raise ConfigurationError(f"pages= takes page numbers (1-based), got {pages!r}")
    chosen: Sequence[Any] = [pages] if isinstance(pages, int) else pages
    if not isinstance(chosen, (range, list, tuple)) or not chosen:
        raise ConfigurationError(
            f"pages= takes an int, a range or a non-empty list of page numbers, got {pages!r}"
        )
    numbers = []
    for number in chosen:
        if isinstance(number, bool) or not isinstance(number, int):
            raise ConfigurationError(f"pages= holds page numbers (ints, 1-based), got {number!r}")
        if not 1 <= number <= count:
            raise ConfigurationError(f"page {number} is out of range: {name} has {count} page(s) (1-based)")
        if number not in numbers:
            numbers.append(number)
    return numbers
