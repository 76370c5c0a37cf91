"""Bracket spans of a model answer, matched in one linear pass with recovery from stray brackets."""

from __future__ import annotations

import re

__all__ = ["BROKEN", "CUT", "MAX_JSON_DEPTH", "Spans"]

#: Values nested deeper than this are refused (no task's answer is anywhere near; it keeps results
#: serialisable without hitting Python's recursion limit).
MAX_JSON_DEPTH = 64

# Tokens that matter for bracket matching. A double-quoted string, or a single-quoted one where a JSON
# value or key may start (after ``[ { , :``, so apostrophes in prose are not strings), is consumed whole;
# a string never spans a line break (JSON strings cannot), which bounds the damage of a stray quote.
_TOKEN = re.compile(r"""[\[\]{}]|"(?:[^"\\\n]|\\.)*"?|(?<=[\[{,:])[ \t]*'(?:[^'\\\n]|\\.)*'?""")
CUT = -1  # span still open when the text ended (truncated output)
BROKEN = -2  # span closed implicitly by an outer closing bracket (a syntax slip)

#: Brackets nested deeper than this are matched by counting only (no spans are recorded for them: a value
#: that deep is refused anyway), skipping whole chunks of text at C speed when they cannot close.
_MAX_SCAN_DEPTH = MAX_JSON_DEPTH
#: At most this many bracket spans are recorded per answer; text beyond is not read (counted as dropped).
_MAX_SPANS = 200_000
_BRACKET = re.compile(r"[\[\]{}]")
_SKIP_CHUNK = 4096


class Spans:
    """Bracket spans of a text, matched in one linear pass with recovery from stray brackets.

    A closing bracket with no opener of its kind is ignored; one that matches an opener further down
    the stack closes it and marks the openers above as broken (a stray ``{`` inside a list).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        start: list[int] = []
        end: list[int] = []
        kind: list[str] = []
        parent: list[int] = []
        stack: list[int] = []
        open_count = {"[": 0, "{": 0}
        self.overflow = False
        self.too_deep: set[int] = set()
        pos = 0
        length = len(text)
        while pos < length:
            deep_at = -1
            for m in _TOKEN.finditer(text, pos):
                p = m.start()
                ch = text[p]
                if ch == "[" or ch == "{":
                    if len(stack) >= _MAX_SCAN_DEPTH or len(start) >= _MAX_SPANS:
                        deep_at = m.end()
                        break
                    parent.append(stack[-1] if stack else -1)
                    stack.append(len(start))
                    start.append(p)
                    end.append(CUT)
                    kind.append(ch)
                    open_count[ch] += 1
                elif ch == "]" or ch == "}":
                    want = "[" if ch == "]" else "{"
                    if not open_count[want]:
                        continue  # a stray closing bracket: ignored
                    while True:  # pop up to the matching opener; skipped ones were never closed
                        sid = stack.pop()
                        open_count[kind[sid]] -= 1
                        if kind[sid] == want:
                            end[sid] = p
                            break
                        end[sid] = BROKEN
            if deep_at < 0:
                break
            self.overflow = True
            self.too_deep.update(stack)  # these spans hold text nested deeper than the limit
            pos = self._skip_deep(text, deep_at)
        self.start, self.end, self.kind, self.parent = start, end, kind, parent
        self.cut = bool(stack)
        self._children: list[list[int]] | None = None

    @staticmethod
    def _skip_deep(text: str, pos: int) -> int:
        """Past the bracket that closes the one just before ``pos`` (kinds and strings ignored)."""
        depth = 1
        length = len(text)
        while pos < length:
            chunk = text[pos : pos + _SKIP_CHUNK]
            closes = chunk.count("]") + chunk.count("}")
            if depth - closes > 0:  # cannot get back out within this chunk
                depth += chunk.count("[") + chunk.count("{") - closes
                pos += len(chunk)
                continue
            for m in _BRACKET.finditer(chunk):
                depth += 1 if m.group() in "[{" else -1
                if depth == 0:
                    return pos + m.end()
            pos += len(chunk)
        return length

    @property
    def roots(self) -> list[int]:
        """The spans at the top level, in order."""
        return [sid for sid, p in enumerate(self.parent) if p < 0]

    def children(self, sid: int) -> list[int]:
        """The spans directly inside span ``sid``, in order."""
        if self._children is None:
            self._children = [[] for _ in self.start]
            for child, p in enumerate(self.parent):
                if p >= 0:
                    self._children[p].append(child)
        return self._children[sid]

    def span(self, sid: int) -> str:
        """The text of a closed span, brackets included."""
        return self.text[self.start[sid] : self.end[sid] + 1]
