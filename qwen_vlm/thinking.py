"""Splitting reasoning from the answer (pure)."""

from __future__ import annotations

import re

__all__ = ["SPECIAL_TOKENS", "split_thinking", "strip_special_tokens"]

#: Chat-control tokens that may leak into decoded text and are never part of an answer.
SPECIAL_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|im_start|>", "<|vision_pad|>", "<|image_pad|>")

_SPECIAL_RE = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))
_OPEN = "<think>"
_CLOSE = "</think>"


def strip_special_tokens(text: str) -> str:
    """Remove chat-control tokens (``<|im_end|>``, ``<|endoftext|>``...) but keep grounding tokens."""
    return _SPECIAL_RE.sub("", text)


def split_thinking(text: str, *, thinking_started: bool = False) -> tuple[str | None, str]:
    """Split a raw generation into ``(thinking, answer)``.

    Handles a complete ``<think>...</think>`` block, a missing opening tag (templates that pre-fill
    ``<think>``), and output cut before ``</think>``.

    Args:
        text: The generated text.
        thinking_started: The prompt already opened a ``<think>`` block (thinking was on), so text
            without ``</think>`` is all reasoning, cut off by the token limit.

    Returns:
        ``(thinking, answer)``; ``thinking`` is ``None`` when the text held no reasoning at all.
    """
    text = strip_special_tokens(text)
    if _CLOSE in text:
        head, _, answer = text.partition(_CLOSE)
        start = head.find(_OPEN)
        thinking = head[start + len(_OPEN) :] if start >= 0 else head
        return thinking.strip(), answer.replace(_OPEN, "").strip()
    stripped = text.lstrip()
    if stripped.startswith(_OPEN):
        return stripped[len(_OPEN) :].strip(), ""
    if thinking_started:
        return text.strip(), ""
    return None, text.strip()
