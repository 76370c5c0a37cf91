"""Streaming answers: :class:`Stream` (sync) and :class:`AsyncStream` (async) of :class:`StreamEvent`.

The shape users know from the openai SDK: an iterator that is also a context manager, whose ``close()``
stops the generation (local) or closes the HTTP stream (remote) at once; the task's typed result is
available when the stream has ended::

    with vlm.stream("caption", "photo.jpg", detailed=True) as stream:
        for event in stream:
            if event.kind == "text":
                print(event.delta, end="", flush=True)
    stream.result          # a TextResult, as vlm.caption(...) would return

Reasoning (``kind="thinking"``) never leaks into the answer's events. An error while streaming (a dropped
connection, an error chunk) raises a typed :class:`~qwen_vlm.errors.BackendError`; retries happen only
before the first event.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from .backends.base import GenerationResponse, StreamChunk
from .errors import ConfigurationError
from .results import Result

__all__ = ["AsyncStream", "Stream", "StreamEvent"]

R = TypeVar("R", bound=Result)


@dataclass(frozen=True)
class StreamEvent:
    """One streamed piece of an answer.

    Attributes:
        kind: ``"text"`` (the answer) or ``"thinking"`` (reasoning).
        delta: The new text.
    """

    kind: Literal["text", "thinking"]
    delta: str


class _StreamBase(Generic[R]):
    """What both streams keep: the text and reasoning so far, pending events, and the final result."""

    def __init__(self, finish: Callable[[GenerationResponse], R]) -> None:
        self._finish = finish
        self._result: R | None = None
        self._pending: list[StreamEvent] = []
        self._text = ""
        self._thinking = ""

    def _take(self, chunk: StreamChunk) -> None:
        if chunk.thinking:
            self._thinking += chunk.thinking
            self._pending.append(StreamEvent("thinking", chunk.thinking))
        if chunk.text:
            self._text += chunk.text
            self._pending.append(StreamEvent("text", chunk.text))
        if chunk.response is not None:
            self._result = self._finish(chunk.response)

    @property
    def text(self) -> str:
        """The answer received so far."""
        return self._text

    @property
    def thinking(self) -> str:
        """The reasoning received so far."""
        return self._thinking

    @property
    def result(self) -> R:
        """The task's typed result (parsed, usage, finish_reason), once the stream has ended."""
        if self._result is None:
            raise ConfigurationError(
                "the stream has not ended: iterate it to the end (or call get_result()) before .result"
            )
        return self._result


class Stream(_StreamBase[R]):
    """A streamed answer (sync): iterate for :class:`StreamEvent`; ``.result`` once it has ended.

    Attributes:
        text: The answer received so far.
        thinking: The reasoning received so far.
    """

    def __init__(self, chunks: Iterator[StreamChunk], finish: Callable[[GenerationResponse], R]) -> None:
        super().__init__(finish)
        self._chunks = chunks

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        while not self._pending:
            self._take(next(self._chunks))  # StopIteration ends the stream
        return self._pending.pop(0)

    def get_result(self) -> R:
        """Read the rest of the stream and return the result."""
        for _ in self:
            pass
        return self.result

    def close(self) -> None:
        """Stop now: the generation stops (local) or the HTTP stream is closed (remote)."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Stream[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # `for event in vlm.stream(...): break` drops the stream at once: stop the generation then too.
        with contextlib.suppress(Exception):  # never raise from a finaliser
            self.close()


class AsyncStream(_StreamBase[R]):
    """A streamed answer (async): ``async for`` over :class:`StreamEvent`; ``.result`` once it has ended."""

    def __init__(self, chunks: AsyncIterator[StreamChunk], finish: Callable[[GenerationResponse], R]) -> None:
        super().__init__(finish)
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        while not self._pending:
            self._take(await self._chunks.__anext__())  # StopAsyncIteration ends the stream
        return self._pending.pop(0)

    async def get_result(self) -> R:
        """Read the rest of the stream and return the result."""
        async for _ in self:
            pass
        return self.result

    async def aclose(self) -> None:
        """Stop now: the generation stops (local) or the HTTP stream is closed (remote)."""
        aclose: Any = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncStream[R]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
