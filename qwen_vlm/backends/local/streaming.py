"""Streaming one local generation: a worker thread runs ``generate`` with a text streamer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ...errors import BackendError, OutOfMemoryError, QwenVLMError
from ...thinking import ThinkingSplitter
from ..base import GenerationResponse, StreamChunk, stream_chunks
from .runtime import Runtime

__all__ = ["LocalStream", "RunGeneration"]

#: Runs the generation with the given streaming ``generate`` arguments, calling back with the prompts.
RunGeneration = Callable[[dict[str, Any], Callable[[list[str]], None]], GenerationResponse]


class LocalStream:
    """One streamed local generation, an iterator of :class:`StreamChunk`.

    ``close()`` (also on ``break`` through :class:`~qwen_vlm.streaming.Stream`) sets a stopping criterion
    that ends generation at the next token and waits for the worker, so the backend's lock is free when
    it returns.

    Args:
        rt: The loaded model.
        lock: The backend's lock (held while generating).
        run: Runs the generation (see :data:`RunGeneration`).
        is_open: Whether the backend still has its model (it may be closed meanwhile).
    """

    def __init__(self, rt: Runtime, lock: Any, run: RunGeneration, is_open: Callable[[], bool]) -> None:
        tf, torch = rt.transformers, rt.torch
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._pending: list[StreamChunk] = []
        self._finished = False
        self._splitter = ThinkingSplitter()
        sink = self._queue

        class QueueStreamer(tf.TextStreamer):  # type: ignore[misc, name-defined]
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if text:
                    sink.put(("text", text))

        stop = self._stop

        class StopWhenClosed(tf.StoppingCriteria):  # type: ignore[misc, name-defined]
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full(
                    (input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device
                )

        streaming = {
            "streamer": QueueStreamer(rt.tokenizer, skip_prompt=True, skip_special_tokens=False),
            "stopping_criteria": tf.StoppingCriteriaList([StopWhenClosed()]),
        }
        self._thread = threading.Thread(
            target=self._run, args=(rt, lock, run, is_open, streaming), name="qwen-vlm-stream", daemon=True
        )
        self._thread.start()

    def _run(
        self, rt: Runtime, lock: Any, run: RunGeneration, is_open: Callable[[], bool], streaming: Any
    ) -> None:
        def on_prompts(texts: list[str]) -> None:
            self._queue.put(("started", texts[0].rstrip().endswith("<think>")))

        try:
            with lock:
                if not is_open():
                    raise BackendError("the model was closed")
                response = run(streaming, on_prompts)
            self._queue.put(("done", response))
        except rt.torch.OutOfMemoryError as exc:
            error = OutOfMemoryError(
                f"out of memory while streaming: {str(exc).splitlines()[0]}", batch_size=1
            )
            self._queue.put(("error", error))
        except QwenVLMError as exc:
            self._queue.put(("error", exc))
        except Exception as exc:  # anything else is reported to the reader, typed
            self._queue.put(
                ("error", BackendError(f"unexpected {type(exc).__name__} while streaming: {exc}"))
            )

    def __iter__(self) -> Iterator[StreamChunk]:
        return self

    def __next__(self) -> StreamChunk:
        while not self._pending:
            if self._finished:
                raise StopIteration
            kind, value = self._queue.get()
            if kind == "started":
                self._splitter = ThinkingSplitter(thinking_started=value)
            elif kind == "text":
                self._pending = stream_chunks(self._splitter.feed(value))
            elif kind == "done":
                self._finished = True
                self._pending = [*stream_chunks(self._splitter.close()), StreamChunk(response=value)]
            else:
                self._finished = True
                raise value
        return self._pending.pop(0)

    def close(self) -> None:
        """Stop the generation at the next token and wait until the backend is free again."""
        self._stop.set()
        self._finished = True
        self._thread.join(timeout=30)
