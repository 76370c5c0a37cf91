"""Constrained decoding for the local backend: xgrammar token masks as a transformers logits processor.

Why xgrammar: it is the structured-output engine vLLM and SGLang use by default (so a schema behaves the
same locally and on those servers), its ``0.2.x`` wheels work with transformers 5.x and with left-padded
batches (one matcher per row), its masks for a JSON schema cost microseconds per token after a
millisecond compile, and its matcher can be forked and checked without committing (llguidance, the
other candidate, is a comparable engine, but outlines' transformers integration is heavier and slower).

What this module adds on top of xgrammar's own processor:

* **thinking first**: a row whose prompt opened ``<think>`` generates freely until ``</think>``, then
  under the grammar; if the budget would leave no room for the answer, ``</think>`` is forced;
* **closing on budget**: when no more tokens remain than :func:`~qwen_vlm.constraints.closing_reserve`
  needs, each step takes the allowed token that ends the structure soonest (a stop token, ``"]}``,
  ``null``, ``0``...), so the answer is complete JSON within ``max_tokens``; such rows are reported
  as closed early (the result is flagged ``truncated``);
* per-row grammars (Qwen2.5-VL's coordinates are bounded by each image's own input size) and rows
  without any grammar in the same batch.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...constraints import Constraint, closing_reserve
from ...errors import ConfigurationError

__all__ = ["GrammarEngine", "GrammarProcessor", "RowGrammar"]

_CLOSERS = set('"]}')
_STRUCTURAL = frozenset('{}[]",:')
#: Extra tokens kept when closing starts (the box-order rule may need a digit or two more).
_MARGIN = 6
_MINIMAL_VALUES = ("null", "0", "false", '""', "[]", "{}", ",", ":", "[", "{")


class GrammarEngine:
    """One tokenizer's xgrammar state: the compiler (with its cache) and the token ids closing prefers.

    Args:
        tokenizer: The checkpoint's Hugging Face tokenizer.
        vocab_size: Width of the model's logits (may exceed the tokenizer's vocabulary).
        stop_ids: Token ids that end an answer.
    """

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: Sequence[int]) -> None:
        import xgrammar

        self._xgr = xgrammar
        self.vocab_size = vocab_size
        self.info = xgrammar.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=list(dict.fromkeys(stop_ids))
        )
        self._compiler = xgrammar.GrammarCompiler(self.info, max_threads=1)
        self._compiled: dict[str, Any] = {}
        self._closing_tensors: dict[str, Any] = {}
        self._lock = threading.Lock()
        vocab = self.info.decoded_vocab
        texts = {
            i: (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) for i, v in enumerate(vocab)
        }
        # Brackets first (longest first: "]}" ends two levels at once), then a quote: a token such as
        # '"}' would open a string where a value is due, so quotes only come alone.
        closers = sorted(
            (i for i, t in texts.items() if t and set(t) <= _CLOSERS - {'"'}), key=lambda i: -len(texts[i])
        )
        closers += [i for i, t in texts.items() if t == '"']
        by_text = {t: i for i, t in texts.items() if t in _MINIMAL_VALUES}
        minimal = [by_text[t] for t in _MINIMAL_VALUES if t in by_text]
        quote = [i for i, t in texts.items() if t == '"']
        #: Token ids in the order closing prefers them: outside a string, and inside one (quote first).
        self.closing_order: list[int] = list(dict.fromkeys([*stop_ids, *closers, *minimal]))
        self.closing_order_in_string: list[int] = list(dict.fromkeys([*stop_ids, *quote, *closers, *minimal]))
        think_end = tokenizer.encode("</think>", add_special_tokens=False)
        self.think_end: list[int] = [int(t) for t in think_end]
        #: Text of each token (for the coordinate-order rule).
        self.texts: list[str] = [texts.get(i, "") for i in range(vocab_size)]
        self.digits: dict[int, str] = {i: t for i, t in texts.items() if t and t.isdigit() and t.isascii()}
        # Added tokens (<think>, <|box_start|>, <tool_call>...) never belong inside an answer's JSON, but
        # some are not marked special, so a grammar's strings would let them in.
        #: Tokens that start a new list element or object (",", ", ", "{", "[{"...): refused near the budget.
        self.openers: list[int] = [i for i, t in texts.items() if t.strip() and set(t.strip()) <= set(",{[")]
        #: Tokens whose text starts with "," or "]" (the ends of a box's x2 and y2).
        self.starting_with: dict[str, list[int]] = {
            c: [i for i, t in texts.items() if t.startswith(c)] for c in ",]"
        }
        stops = set(stop_ids)
        added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        self.banned: list[int] = sorted(int(i) for i in added if int(i) not in stops and int(i) < vocab_size)
        #: The bitmask words with the banned tokens' bits cleared (ANDed into each row's mask).
        self.allowed_words: Any = None
        if self.banned:
            words = xgrammar.allocate_token_bitmask(1, vocab_size)[0]
            for token in self.banned:
                words[token >> 5] &= ~(1 << (token & 31))
            self.allowed_words = words

    def closing_tensor(self, device: Any, in_string: bool) -> Any:
        """The closing order (:attr:`closing_order` or :attr:`closing_order_in_string`) on ``device``."""
        key = f"{device}/{in_string}"
        found = self._closing_tensors.get(key)
        if found is None:
            import torch

            order = self.closing_order_in_string if in_string else self.closing_order
            found = torch.tensor(order, dtype=torch.long, device=device)
            self._closing_tensors[key] = found
        return found

    def compiled(self, constraint: Constraint, input_size: tuple[int, int] | None) -> tuple[Any, int]:
        """The compiled grammar of ``constraint`` for one image, and its closing reserve in tokens.

        Raises:
            ConfigurationError: If the schema cannot be turned into a grammar (a contradiction such as
                ``minimum`` above ``maximum``, a ``$ref`` to nothing, a regex xgrammar cannot read).
        """
        key = constraint.grammar_key(input_size)
        with self._lock:
            found = self._compiled.get(key)
            if found is None:
                schema = constraint.json_schema(input_size)
                try:
                    grammar = self._compiler.compile_json_schema(key, any_whitespace=False, strict_mode=True)
                except (RuntimeError, ValueError, TypeError) as exc:
                    reason = str(exc).strip().splitlines()[-1][:300]
                    reason = re.sub(r"^\[[^\]]*\]\s*(\S+\.cc:\d+:\s*)?", "", reason)  # "[time] x.cc:9:"
                    raise ConfigurationError(
                        f"the {constraint.kind} schema cannot be used for constrained decoding ({reason}); "
                        "fix the schema, or pass constrained=False to generate without a grammar"
                    ) from None
                # Each allowed token writes at least one character; twice the characters closing needs
                # covers detours such as a closer token that opens a string where a value is due.
                found = (grammar, 2 * closing_reserve(schema) + 4)
                if len(self._compiled) > 256:
                    self._compiled.clear()
                self._compiled[key] = found
        return found


@dataclass
class _Lexer:
    """Whether the JSON written so far stands inside a string (fed token texts one by one)."""

    in_string: bool = False
    escaped: bool = False

    def feed(self, text: str) -> None:
        if '"' not in text and not self.in_string:
            return
        for char in text:
            if self.escaped:
                self.escaped = False
            elif self.in_string and char == "\\":
                self.escaped = True
            elif char == '"':
                self.in_string = not self.in_string


@dataclass
class RowGrammar:
    """One batch row's constrained decoding state.

    Attributes:
        grammar: The compiled grammar.
        reserve: Tokens kept for closing the answer.
        budget: The row's ``max_tokens``.
        thinking: The prompt opened ``<think>``: the grammar starts after ``</think>``.
        closed_early: Closing on budget changed what the model would have written.
    """

    grammar: Any
    reserve: int
    budget: int
    thinking: bool = False
    box_limits: tuple[int, int] | None = None
    closed_early: bool = False
    closing: bool = False
    need: int | None = None
    lexer: _Lexer = field(default_factory=lambda: _Lexer())
    matcher: Any = None
    done: bool = False
    recent: list[int] = field(default_factory=list)
    tail: str = ""


class GrammarProcessor:
    """A transformers logits processor applying one grammar per row (``None`` rows are left free).

    Args:
        engine: The tokenizer's :class:`GrammarEngine`.
        rows: Each batch row's grammar state, or ``None`` for a row generated freely.
    """

    def __init__(self, engine: GrammarEngine, rows: Sequence[RowGrammar | None]) -> None:
        self._engine = engine
        self._xgr = engine._xgr
        self.rows = list(rows)
        self._start: int | None = None
        self._bitmask = self._xgr.allocate_token_bitmask(len(self.rows), engine.vocab_size)
        self._scratch = self._xgr.allocate_token_bitmask(1, engine.vocab_size)

    def _open(self, row: RowGrammar) -> None:
        row.matcher = self._xgr.GrammarMatcher(row.grammar)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """Mask the tokens each row's grammar does not allow (and close rows about to run out)."""
        if self._start is None:
            self._start = int(input_ids.shape[1])
            for row in self.rows:
                if row is not None and not row.thinking:
                    self._open(row)
        step = int(input_ids.shape[1]) - self._start
        lasts = input_ids[:, -1].tolist() if step > 0 else [None] * len(self.rows)
        masked: list[int] = []
        forced: dict[int, int] = {}
        think_end = self._engine.think_end
        for i, row in enumerate(self.rows):
            if row is None or row.done:
                continue
            last = lasts[i]
            remaining = row.budget - step
            if row.matcher is None:  # still thinking
                if last is not None:
                    row.recent = [*row.recent, last][-len(think_end) :]
                if think_end and row.recent == think_end:
                    self._open(row)
                else:
                    if remaining <= row.reserve + len(think_end):
                        matched = _matched_prefix(row.recent, think_end)
                        forced[i] = think_end[matched]
                        row.closed_early = True
                    continue
            elif last is not None:
                if not row.matcher.accept_token(last):
                    row.done = True  # cannot happen under the mask; never block the row
                    continue
                text = self._engine.texts[last]
                row.tail = (row.tail + text)[-48:]
                row.lexer.feed(text)
                if not _STRUCTURAL.isdisjoint(text):
                    row.need = None  # only structure changes what closing takes (not string or digit text)
            if row.matcher.is_terminated():
                row.done = True
                continue
            row.matcher.fill_next_token_bitmask(self._bitmask, i)  # overwrites the whole row
            if self._engine.allowed_words is not None:
                self._bitmask[i].bitwise_and_(self._engine.allowed_words)
            masked.append(i)
            if not row.closing and remaining <= row.reserve:
                if row.need is None:
                    row.need = self._closing_steps(row)
                row.closing = remaining <= row.need + _MARGIN
                if not row.closing:
                    self._refuse_openers(row, i, remaining)
        if masked:
            bitmask = self._bitmask if scores.device.type == "cpu" else self._bitmask.to(scores.device)
            indices = None if len(masked) == len(self.rows) else masked
            self._xgr.apply_token_bitmask_inplace(scores, bitmask, indices=indices)
            for i in masked:
                row = self.rows[i]
                assert row is not None
                if row.box_limits is not None:
                    self._order_box(row, i, scores)
                if row.closing:  # the allowed token that ends the structure soonest
                    order = self._engine.closing_tensor(scores.device, row.lexer.in_string)
                    allowed = (scores[i, order] > float("-inf")).nonzero()
                    if len(allowed):
                        forced[i] = int(order[int(allowed[0])])
                        row.closed_early = True
        for i, token in forced.items():
            scores[i, :] = float("-inf")
            scores[i, token] = 0.0
        return scores

    def _refuse_openers(self, row: RowGrammar, i: int, remaining: int) -> None:
        """Refuse a token that starts a new element (``,`` ``{`` ``[``) when closing after it would not fit.

        A comma in a list commits the answer to one more whole element: taken too late, no close fits.
        """
        words = self._bitmask[i].tolist()
        for token in self._engine.openers:
            if not _allowed(words, token):
                continue
            after = row.matcher.fork()
            if not after.accept_token(token):
                continue
            lexer = _Lexer(row.lexer.in_string, row.lexer.escaped)
            lexer.feed(self._engine.texts[token])
            if 1 + self._closing_steps(row, after, lexer) + _MARGIN >= remaining:
                self._bitmask[i, token >> 5] &= ~(1 << (token & 31))

    def _closing_steps(self, row: RowGrammar, matcher: Any = None, lexer: _Lexer | None = None) -> int:
        """How many tokens closing the row's answer from here takes (simulated on a fork of its matcher)."""
        matcher = matcher if matcher is not None else row.matcher.fork()
        lexer = lexer if lexer is not None else _Lexer(row.lexer.in_string, row.lexer.escaped)
        scratch = self._scratch
        engine = self._engine
        for steps in range(1, row.reserve + 1):
            matcher.fill_next_token_bitmask(scratch, 0)
            words = scratch[0].tolist()
            order = engine.closing_order_in_string if lexer.in_string else engine.closing_order
            token = next((t for t in order if _allowed(words, t)), None)
            if token is None:
                token = _first_allowed(words)
            if token is None or not matcher.accept_token(token):
                break
            lexer.feed(engine.texts[token])
            if matcher.is_terminated():
                return steps
        return row.reserve + 1

    def _order_box(self, row: RowGrammar, i: int, scores: Any) -> None:
        """While a box's x2 (or y2) is written, allow only digits and ends that keep it above x1 (y1).

        JSON schemas cannot relate two numbers; this rule makes every constrained box non-degenerate.
        """
        found = _BOX_END.search(row.tail)
        if found is None:
            return
        x1, y1, x2, prefix = found.groups()
        width, height = row.box_limits  # type: ignore[misc]
        lower, upper, end = (int(x1) + 1, width, ",") if x2 is None else (int(y1) + 1, height, "]")
        refused = [t for t, d in self._engine.digits.items() if not _reachable(prefix + d, lower, upper)]
        if not prefix or int(prefix) < lower:
            refused += self._engine.starting_with[end]
        if refused:
            scores[i, refused] = float("-inf")

    def closed_early(self) -> list[bool]:
        """Per row: whether closing on budget decided any of its tokens."""
        return [row is not None and row.closed_early for row in self.rows]


_BOX_END = re.compile(r'"bbox_2d": \[(\d+), (\d+), (?:(\d+), )?(\d*)$')


def _reachable(prefix: str, lower: int, upper: int) -> bool:
    """Whether some integer in ``[lower, upper]`` is written starting with ``prefix``."""
    if len(prefix) > 1 and prefix[0] == "0":
        return False
    value = int(prefix)
    if value == 0:
        return lower <= 0 <= upper
    scale = 1
    while value * scale <= upper:
        if value * scale + scale - 1 >= lower:
            return True
        scale *= 10
    return False


def _allowed(words: list[int], token: int) -> bool:
    """Whether ``token``'s bit is set in one row of an xgrammar bitmask (32 tokens per int32 word)."""
    return bool((words[token >> 5] >> (token & 31)) & 1)


def _first_allowed(words: list[int]) -> int | None:
    for index, word in enumerate(words):
        if word:
            return index * 32 + (word & -word).bit_length() - 1
    return None


def _matched_prefix(recent: list[int], target: list[int]) -> int:
    """How many leading tokens of ``target`` the end of ``recent`` already holds."""
    for size in range(min(len(recent), len(target) - 1), 0, -1):
        if recent[-size:] == target[:size]:
            return size
    return 0
