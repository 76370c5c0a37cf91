"""Whole document pages in each answer format, as tasks (pure): ``parse_document``'s formats.

A format is a :class:`DocumentFormat`: a task whose result is a :class:`~qwen_vlm.Page`. Its prompt asks
for the page in the format; its ``parse`` reads the answer into blocks (:mod:`.document_formats`), boxes
converted to pixels of the page image by the model family's rule (absolute pixels of the resized input
for Qwen2.5-VL and fine-tunes built on it, 0–1000 for Qwen3-VL and later). Add a format the way you add
a task: subclass :class:`DocumentFormat` (set ``format``, ``prompt`` and ``blocks``) and pass it as
``format=`` (or register it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .. import prompts
from ..errors import OutputParseError
from ..parsing import NoJSONError, TruncatedJSONError, parse_json, repetition
from ..results import Block, Page, Result
from .base import Answer
from .document_formats import RawBlock, dots_blocks, front_matter, html_blocks, markdown_blocks
from .params import BuiltinTask, with_error

__all__ = [
    "DOCUMENT_FORMATS",
    "DocumentFormat",
    "DotsFormat",
    "MarkdownFormat",
    "OlmOCRFormat",
    "QwenVLHtmlFormat",
    "QwenVLMarkdownFormat",
]


class DocumentFormat(BuiltinTask):
    """A page of a document read in one answer format (a task whose result is a :class:`Page`).

    Attributes:
        format: The format's name (``parse_document(format=...)``).
        stops_repeating: The answer is checked for repetition loops (retried once; a local generation
            stops as soon as one is certain).
    """

    result = Page
    needs_geometry = True
    max_tokens = 8192
    method = "parse_document"
    evaluated_as = None
    stop_on_repetition = True
    format: ClassVar[str] = ""

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The format's prompt (:data:`qwen_vlm.prompts.DOCUMENT_PROMPTS`)."""
        return prompts.document_prompt(self.format)

    def blocks(self, answer: Answer) -> tuple[list[RawBlock], dict[str, Any]]:
        """The answer's blocks (boxes as the model wrote them) and what else it says about the page."""
        raise NotImplementedError

    def empty(self, answer: Answer) -> Result:
        """A page with no blocks (its size kept)."""
        return Page(image_size=answer.image_size, format=self.format)

    def parse(self, answer: Answer) -> Result:
        """The page's blocks in reading order, boxes in pixels of the page image; loops marked failed."""
        raw, metadata = self.blocks(answer)
        blocks = []
        for block in raw:
            box = answer.to_pixels(block.box) if block.box is not None else None
            bbox = (box[0], box[1], box[2], box[3]) if box is not None else None
            blocks.append(Block(block.category, block.text, bbox, block.level))
        rotation = metadata.get("rotation_correction") if metadata.get("is_rotation_valid") is False else 0
        page = Page(
            image_size=answer.image_size,
            blocks=tuple(blocks),
            format=self.format,
            metadata=metadata,
            suggested_rotation=int(rotation) % 360 if isinstance(rotation, int) else 0,
        )
        loop = repetition(answer.text)
        if loop is not None:
            return with_error(page, OutputParseError(f"the answer loops: {loop}", answer.text), answer.text)
        if not blocks and answer.text.strip() and not metadata:
            return with_error(page, "no page content could be read from the answer", answer.text)
        return page


class QwenVLHtmlFormat(DocumentFormat):
    """QwenVL HTML: every element with its ``data-bbox`` (Qwen2.5-VL, Qwen3-VL and later)."""

    name = "document-qwenvl-html"
    aliases = ("qwenvl-html",)
    format = "qwenvl-html"

    def blocks(self, answer: Answer) -> tuple[list[RawBlock], dict[str, Any]]:
        """Every outermost element carrying a box."""
        return html_blocks(answer.text), {}


class QwenVLMarkdownFormat(DocumentFormat):
    """QwenVL Markdown: the page as Markdown, tables in LaTeX and figures as coordinate notes (Qwen3-VL)."""

    name = "document-qwenvl-markdown"
    aliases = ("qwenvl-markdown",)
    format = "qwenvl-markdown"

    def blocks(self, answer: Answer) -> tuple[list[RawBlock], dict[str, Any]]:
        """Markdown blocks; a table or figure's coordinates from the note before it."""
        return markdown_blocks(answer.text), {}


class OlmOCRFormat(DocumentFormat):
    """olmOCR: YAML front matter (language, rotation, table, diagram), then the page's natural text."""

    name = "document-olmocr"
    aliases = ("olmocr",)
    format = "olmocr"

    def blocks(self, answer: Answer) -> tuple[list[RawBlock], dict[str, Any]]:
        """The front matter as metadata; the text's blocks (figures boxed by their file names)."""
        metadata, text = front_matter(answer.text)
        return markdown_blocks(text), metadata


class DotsFormat(DocumentFormat):
    """dots.ocr: a JSON list of layout elements ``{"bbox", "category", "text"}``."""

    name = "document-dots"
    aliases = ("dots",)
    format = "dots"
    max_tokens = 16384

    def blocks(self, answer: Answer) -> tuple[list[RawBlock], dict[str, Any]]:
        """Each element of the JSON answer (a cut-off answer keeps its complete elements)."""
        try:
            data = parse_json(answer.text)
        except TruncatedJSONError:
            raise OutputParseError(
                "the answer was cut off before any complete layout element", answer.text
            ) from None
        except NoJSONError:
            raise OutputParseError("no JSON list of layout elements in the answer", answer.text) from None
        return dots_blocks(data), {}


class MarkdownFormat(DocumentFormat):
    """Plain Markdown: the page's text in reading order, no layout (any model)."""

    name = "document-markdown"
    aliases = ("markdown",)
    format = "markdown"

    def blocks(self, answer: Answer) -> tuple[list[RawBlock], dict[str, Any]]:
        """Markdown blocks, without boxes."""
        return markdown_blocks(answer.text), {}


#: The built-in formats by name.
DOCUMENT_FORMATS: dict[str, DocumentFormat] = {
    task.format: task
    for task in (QwenVLHtmlFormat(), QwenVLMarkdownFormat(), OlmOCRFormat(), DotsFormat(), MarkdownFormat())
}


def default_format(model_id: str) -> str:
    """The format a model answers in best: olmOCR and dots.ocr checkpoints their own, others QwenVL HTML."""
    name = model_id.lower()
    if "olmocr" in name:
        return "olmocr"
    if "dots.ocr" in name or "dots-ocr" in name or "dots_ocr" in name or "dotsocr" in name:
        return "dots"
    return "qwenvl-html"


def format_names() -> Sequence[str]:
    """The built-in formats' names."""
    return tuple(DOCUMENT_FORMATS)
