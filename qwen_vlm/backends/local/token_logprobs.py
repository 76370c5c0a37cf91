"""The model's log-probability of every token ``generate`` picks, read as it generates.

A logits processor placed first among ours sees each step's scores before the grammar's mask (and
before any user processor): transformers' own generation-config processors run before it (a
repetition penalty; temperature, top-k and top-p only when sampling), so with greedy decoding and no
penalty these are the model's plain probabilities. It keeps one step's log-softmax at a time and reads
the chosen token's value when the next step shows which token was chosen — one vocabulary-sized row
per sequence in memory, whatever the answer's length.
"""

from __future__ import annotations

from typing import Any

from ...logprobs import TokenLogprobs

__all__ = ["LogprobRecorder", "token_logprobs"]

_PARTIAL = "\ufffd"  # what a token holding part of a character decodes to
_MAX_CHARACTER_TOKENS = 4  # UTF-8 characters are at most 4 bytes


class LogprobRecorder:
    """A logits processor recording the log-probability of each generated token, per row.

    Args:
        torch: The ``torch`` module.
    """

    def __init__(self, torch: Any) -> None:
        self._torch = torch
        self._previous: Any = None
        self._steps: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """Record the token chosen at the previous step; keep this step's log-probabilities."""
        if self._previous is not None:
            chosen = input_ids[:, -1:]
            self._steps.append(self._previous.gather(1, chosen).squeeze(1))
        # A new tensor: later processors (the grammar's mask) change ``scores`` in place, not this.
        self._previous = self._torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, generated: Any) -> list[list[float]]:
        """Per row, the log-probability of each generated token (``generated``: the new tokens only)."""
        steps = list(self._steps)
        if self._previous is not None and generated.shape[1] > len(steps):
            chosen = generated[:, len(steps) : len(steps) + 1].to(self._previous.device)
            steps.append(self._previous.gather(1, chosen).squeeze(1))
        self._previous, self._steps = None, []
        if not steps:
            return [[] for _ in range(generated.shape[0])]
        values: list[list[float]] = self._torch.stack(steps, dim=1).tolist()
        return values


def token_logprobs(
    tokenizer: Any, tokens: list[int], logprobs: list[float], text: str
) -> TokenLogprobs | None:
    """Each token's text with its log-probability; ``None`` if the pieces do not make up ``text``.

    Tokens are decoded in one call; a token that holds only part of a character (byte-level BPE splits
    UTF-8) is decoded together with the next ones until the character is whole, and that piece's
    log-probability is the sum of theirs.

    Args:
        tokenizer: The processor's tokenizer.
        tokens: The kept generated tokens.
        logprobs: Their log-probabilities (at least as many).
        text: ``tokens`` decoded as a whole, special tokens kept.
    """
    if len(logprobs) < len(tokens):
        return None
    singles = tokenizer.batch_decode([[t] for t in tokens], skip_special_tokens=False)
    pieces: list[str] = []
    values: list[float] = []
    group: list[int] = []
    total = 0.0
    for k, (token, single) in enumerate(zip(tokens, singles, strict=True)):
        group.append(token)
        total += logprobs[k]
        piece = single if len(group) == 1 else tokenizer.decode(group, skip_special_tokens=False)
        if _PARTIAL in piece and len(group) < _MAX_CHARACTER_TOKENS and k + 1 < len(tokens):
            continue
        pieces.append(piece)
        values.append(total)
        group, total = [], 0.0
    merged = TokenLogprobs(tuple(pieces), tuple(values))
    return merged if merged.text == text else None
