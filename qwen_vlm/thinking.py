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


#: Markers a streamed delta may split: a suffix of the text that could be the start of one is held back.
_MARKERS = (_OPEN, _CLOSE, *SPECIAL_TOKENS)


class ThinkingSplitter:
    """Split a stream of raw text deltas into reasoning and answer deltas, as :func:`split_thinking` would.

    ``<think>``/``</think>`` (and chat-control tokens) split across deltas are recognised; the answer's
    leading and trailing whitespace are dropped, so the answer deltas joined equal the answer
    :func:`split_thinking` gives for the whole text.

    Args:
        thinking_started: The prompt already opened a ``<think>`` block.
    """

    def __init__(self, *, thinking_started: bool = False) -> None:
        self._in_thinking = thinking_started
        self._seen_close = False
        self._pending = ""  # text that may be the start of a marker
        self._answer_started = False
        self._answer_ws = ""  # whitespace inside the answer, emitted only when more text follows
        self._thinking_started = False

    def feed(self, delta: str) -> list[tuple[str, str]]:
        """The ``("thinking" | "text", delta)`` pieces that are certain after ``delta``."""
        text = self._pending + delta
        self._pending = ""
        keep = _held_back(text)
        if keep:
            text, self._pending = text[:-keep], text[-keep:]
        return self._split(text)

    def close(self) -> list[tuple[str, str]]:
        """The pieces left at the end of the stream (trailing answer whitespace is dropped)."""
        text, self._pending = self._pending, ""
        return self._split(text)

    def _split(self, text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        text = strip_special_tokens(text)
        while text:
            if self._in_thinking:
                head, sep, rest = text.partition(_CLOSE)
                if head:
                    if not self._thinking_started:
                        head = head.lstrip()
                        self._thinking_started = bool(head)
                    if head:
                        out.append(("thinking", head))
                if not sep:
                    break
                self._in_thinking, self._seen_close, text = False, True, rest
                continue
            if not self._answer_started and not self._seen_close and text.lstrip().startswith(_OPEN):
                self._in_thinking, text = True, text.lstrip()[len(_OPEN) :]
                continue
            text = text.replace(_OPEN, "")
            if _CLOSE in text and not self._seen_close:  # "…</think>answer" with no opening tag
                head, _, text = text.partition(_CLOSE)
                if head.strip():
                    out.append(("thinking", head.strip()))
                self._seen_close = True
                continue
            text = text.replace(_CLOSE, "")
            out.extend(self._answer(text))
            break
        return out

    def _answer(self, text: str) -> list[tuple[str, str]]:
        if not self._answer_started:
            text = text.lstrip()
            if not text:
                return []
            self._answer_started = True
        body = text.rstrip()
        trailing = text[len(body) :]
        if not body:
            self._answer_ws += trailing
            return []
        piece, self._answer_ws = self._answer_ws + body, trailing
        return [("text", piece)]


def _held_back(text: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of a marker."""
    best = 0
    for marker in _MARKERS:
        for k in range(min(len(marker) - 1, len(text)), best, -1):
            if marker.startswith(text[-k:]):
                best = k
                break
    return best
