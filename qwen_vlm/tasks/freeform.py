"""Free-text tasks: your own prompt, a question, a caption (pure). Their result is a :class:`TextResult`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .. import prompts
from ..results import Result, TextResult
from .base import Answer, Window
from .params import BuiltinTask, check_text, empty_answer, with_error

__all__ = ["AskTask", "CaptionTask", "DetailedCaptionTask", "PromptTask"]


class _FreeText(BuiltinTask):
    result = TextResult
    accepts_video = True
    windows = True

    def parse(self, answer: Answer) -> Result:
        """The answer as text; an empty answer is a failure."""
        return with_error(TextResult(), empty_answer(answer), answer.text)

    def merge(self, parts: Sequence[Window], params: Mapping[str, Any]) -> Result:
        """A long video's answers, window by window: the text is each answer under its times."""
        return TextResult()


class PromptTask(_FreeText):
    """Your own prompt, sent unchanged after the image (``"unconstrained"``)."""

    name = "unconstrained"
    method = "prompt"
    aliases: ClassVar[tuple[str, ...]] = ("prompt",)
    parameters: ClassVar[tuple[str, ...]] = ("text", "prompt")

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``text`` (or ``prompt``): a non-empty string."""
        text = params.get("text", params.get("prompt"))
        if parsing and text is None:
            return {}
        return {"text": check_text(text, "prompt needs text=, a non-empty string")}

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The user's text."""
        return str(params["text"])

    def group_prompt(self, params: Mapping[str, Any], images: int) -> str:
        """The user's text, unchanged."""
        return self.prompt(params)


class AskTask(PromptTask):
    """A question about the image (``"visual-question-answering"``)."""

    name = "visual-question-answering"
    method = "ask"
    aliases = ("vqa", "ask")
    parameters = ("question", "prompt")

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``question`` (or ``prompt``): a non-empty string."""
        question = params.get("question", params.get("prompt"))
        if parsing and question is None:
            return {}
        return {"question": check_text(question, "ask needs question=, a non-empty string")}

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The question."""
        return str(params["question"])


class CaptionTask(_FreeText):
    """One sentence about the image (``detailed=True``: a paragraph)."""

    name = "caption"
    max_tokens = 256
    parameters = ("detailed",)
    detailed: ClassVar[bool] = False

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``detailed``: a paragraph instead of a sentence."""
        return {"detailed": bool(params.get("detailed", self.detailed))}

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The caption prompt, short or detailed."""
        return prompts.caption_prompt(bool(params["detailed"]))


class DetailedCaptionTask(CaptionTask):
    """A detailed paragraph about the image."""

    name = "detailed-caption"
    method = "caption"
    max_tokens = 1024
    detailed = True
