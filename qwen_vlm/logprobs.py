"""The model's log-probability of each token it generated, with each token's text (pure data).

Backends fill a :class:`TokenLogprobs` per answer (the local backend from ``generate``'s own scores, a
server from the ``logprobs`` it returns); tasks turn it into a confidence per located object.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["TokenLogprobs", "merge_pieces", "pieces_from_bytes"]


@dataclass(frozen=True)
class TokenLogprobs:
    """The generated tokens of one answer and the model's log-probability of each.

    Attributes:
        pieces: Each token's text, in order; their concatenation is the generated text. A character
            that spans several tokens (UTF-8 bytes split by byte-level BPE) is one piece, whose
            log-probability is the sum of its tokens'.
        logprobs: The natural-log probability of each piece, as the model gave it.
    """

    pieces: tuple[str, ...]
    logprobs: tuple[float, ...]
    _starts: list[int] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.pieces) != len(self.logprobs):
            raise ValueError(f"{len(self.pieces)} pieces but {len(self.logprobs)} log-probabilities")
        position = 0
        for piece in self.pieces:
            self._starts.append(position)
            position += len(piece)

    @property
    def text(self) -> str:
        """The generated text the pieces make up."""
        return "".join(self.pieces)

    def covering(self, start: int, end: int) -> range:
        """Indices of the pieces that hold any character of ``text[start:end]``."""
        if end <= start or not self.pieces:
            return range(0)
        first = bisect.bisect_right(self._starts, start) - 1
        last = bisect.bisect_left(self._starts, end)
        return range(max(first, 0), last)


def merge_pieces(tokens: Iterable[tuple[str, float]]) -> TokenLogprobs:
    """A :class:`TokenLogprobs` from ``(text, logprob)`` per token, in order."""
    pairs = list(tokens)
    return TokenLogprobs(tuple(text for text, _ in pairs), tuple(lp for _, lp in pairs))


def pieces_from_bytes(tokens: Sequence[tuple[bytes, float]]) -> TokenLogprobs:
    """Pieces from each token's raw bytes, joining tokens until their bytes decode as whole UTF-8."""
    pieces: list[str] = []
    logprobs: list[float] = []
    buffer, total = b"", 0.0
    for data, logprob in tokens:
        buffer, total = buffer + data, total + logprob
        try:
            text = buffer.decode("utf-8")
        except UnicodeDecodeError:
            if len(buffer) < 8:
                continue  # an incomplete character: wait for the next token's bytes
            text = buffer.decode("utf-8", errors="replace")
        pieces.append(text)
        logprobs.append(total)
        buffer, total = b"", 0.0
    if buffer:
        pieces.append(buffer.decode("utf-8", errors="replace"))
        logprobs.append(total)
    return TokenLogprobs(tuple(pieces), tuple(logprobs))
