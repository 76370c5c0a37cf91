"""OCR: all the text of an image in reading order, located where the model gives boxes (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import prompts
from ..results import Result, TextResult
from .base import Answer
from .params import BuiltinTask, empty_answer, with_error
from .text_regions import parse_text_regions, split_pages

__all__ = ["OcrTask"]


class OcrTask(BuiltinTask):
    """Read all text in the image; ``regions`` when the answer locates it, ``pages`` for a group."""

    name = "ocr"
    result = TextResult
    max_tokens = 2048
    evaluated_as = "text"

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The OCR prompt."""
        return prompts.ocr_prompt()

    def group_prompt(self, params: Mapping[str, Any], images: int) -> str:
        """Each page's text under its own header line, so it can be split again."""
        return prompts.group_ocr_prompt(images)

    def parse(self, answer: Answer) -> Result:
        """The text; a group's pages split; located text (QwenVL HTML, text spotting) as regions."""
        error = empty_answer(answer)
        if error is not None:
            return with_error(TextResult(), error, answer.text)
        if answer.images > 1:
            return TextResult(pages=split_pages(answer.text, answer.images))
        if answer.image_size is not None and answer.info is not None:
            regions = parse_text_regions(answer.text, answer.info.spec, answer.image_size, answer.input_size)
            return TextResult(regions=regions)
        return TextResult()
