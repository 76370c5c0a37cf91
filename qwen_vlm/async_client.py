"""The asynchronous client, :class:`AsyncQwenVLM`: the same constructor and methods as coroutines.

Requests run as asyncio tasks (remote backends) or in a worker thread (local backend). The task methods
between ``<twin:begin>`` and ``<twin:end>`` are generated from :class:`~qwen_vlm.QwenVLM`'s by
``scripts/generate_async_client.py`` — edit those in ``client.py`` and re-run it; a test fails when this
file is stale, so the twins cannot drift.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from typing import Any, overload

from typing_extensions import Unpack

from .async_document_methods import AsyncDocumentMethods
from .async_screen_methods import AsyncScreenMethods
from .backends import GenerationRequest, GenerationResponse, StreamChunk, capabilities_of
from .engine.aio import execute_in_tasks
from .engine.call import CallOptions, Plan
from .engine.core import ClientCore, ImageBatch, schema_param
from .images import ImageInput
from .results import (
    Classification,
    Detections,
    Events,
    Extraction,
    MultiLabelClassification,
    Points,
    TextResult,
)
from .streaming import AsyncStream
from .tasks import Task
from .tasks.extraction import Schema
from .video import Video

__all__ = ["AsyncQwenVLM"]


class AsyncQwenVLM(AsyncDocumentMethods, AsyncScreenMethods, ClientCore):
    """The async twin of :class:`QwenVLM`: same constructor, same methods, as coroutines.

    Example:
        >>> vlm = AsyncQwenVLM("qwen/qwen3-vl-8b-instruct", backend="openrouter")   # doctest: +SKIP
        >>> results = await vlm.detect(images, ["car"])                              # doctest: +SKIP
    """

    async def _call(self, task: str | Task, images: Any, params: dict[str, Any], options: CallOptions) -> Any:
        import asyncio

        windows = await asyncio.to_thread(self._windowed, task, images, params, options)
        if windows is not None:  # a long video in windows, then closer looks (engine/windows.py)
            results = windows.merge(await self._call(task, windows.items, params, windows.options))
            zoom = windows.zoom(results)
            if zoom is not None:
                closer = await self._call(task, zoom[0], params, windows.options)
                results = windows.zoomed(results, closer, zoom[1])
            return windows.finish(results)
        plan = await asyncio.to_thread(self._plan, task, images, params, options)
        if not plan.refs:
            return []
        stored = await asyncio.to_thread(self._stored, plan)
        if stored is not None:
            plan = stored.plan
        return self._finish(plan, await self._execute(plan))

    async def _execute(self, plan: Plan) -> list[GenerationResponse]:
        return await execute_in_tasks(self._backend, plan, self._settle)

    # <twin:begin> generated from client.py by scripts/generate_async_client.py: do not edit
    @overload
    async def prompt(
        self, image: ImageBatch, text: str, **options: Unpack[CallOptions]
    ) -> list[TextResult]: ...
    @overload
    async def prompt(self, image: ImageInput, text: str, **options: Unpack[CallOptions]) -> TextResult: ...
    async def prompt(self, image: Any, text: str, **options: Unpack[CallOptions]) -> Any:
        """Send your own prompt with the image ("unconstrained").

        Args:
            image: One image, or a list of images (then a list of results, same order).
            text: The prompt, sent unchanged after the image.
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            A :class:`TextResult`.
            (A list of them for a list of images.)
        """
        return await self._call("unconstrained", image, {"text": text}, options)

    @overload
    async def ocr(self, image: ImageBatch, **options: Unpack[CallOptions]) -> list[TextResult]: ...
    @overload
    async def ocr(self, image: ImageInput, **options: Unpack[CallOptions]) -> TextResult: ...
    async def ocr(self, image: Any, **options: Unpack[CallOptions]) -> Any:
        """Read all text in the image, in reading order.

        Args:
            image: One image, or a list of images (then a list of results, same order).
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            A :class:`TextResult`; ``regions`` holds located text when the model gave boxes.
            (A list of them for a list of images.)
        """
        return await self._call("ocr", image, {}, options)

    @overload
    async def ask(
        self, image: ImageBatch, question: str, **options: Unpack[CallOptions]
    ) -> list[TextResult]: ...
    @overload
    async def ask(self, image: ImageInput, question: str, **options: Unpack[CallOptions]) -> TextResult: ...
    async def ask(self, image: Any, question: str, **options: Unpack[CallOptions]) -> Any:
        """Answer a question about the image ("visual-question-answering").

        Args:
            image: One image, or a list of images (then a list of results, same order).
            question: The question, sent unchanged after the image.
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            A :class:`TextResult`.
            (A list of them for a list of images.)
        """
        return await self._call("visual-question-answering", image, {"question": question}, options)

    @overload
    async def caption(
        self, image: ImageBatch, detailed: bool = False, **options: Unpack[CallOptions]
    ) -> list[TextResult]: ...
    @overload
    async def caption(
        self, image: ImageInput, detailed: bool = False, **options: Unpack[CallOptions]
    ) -> TextResult: ...
    async def caption(self, image: Any, detailed: bool = False, **options: Unpack[CallOptions]) -> Any:
        """Describe the image: one sentence, or a detailed paragraph.

        Args:
            image: One image, or a list of images (then a list of results, same order).
            detailed: A paragraph ("detailed-caption") instead of one sentence ("caption").
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            A :class:`TextResult`.
            (A list of them for a list of images.)
        """
        return await self._call(
            "detailed-caption" if detailed else "caption", image, {"detailed": detailed}, options
        )

    @overload
    async def classify(
        self, image: ImageBatch, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> list[Classification]: ...
    @overload
    async def classify(
        self, image: ImageInput, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> Classification: ...
    async def classify(self, image: Any, classes: Sequence[str], **options: Unpack[CallOptions]) -> Any:
        """Pick the one class that fits the image.

        Args:
            image: One image, or a list of images (then a list of results, same order).
            classes: The candidate classes.
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            A :class:`Classification`; ``label`` is one of ``classes``, or ``None`` with ``error`` set.
            (A list of them for a list of images.)
        """
        return await self._call("classification", image, {"classes": classes}, options)

    @overload
    async def classify_multi(
        self, image: ImageBatch, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> list[MultiLabelClassification]: ...
    @overload
    async def classify_multi(
        self, image: ImageInput, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> MultiLabelClassification: ...
    async def classify_multi(self, image: Any, classes: Sequence[str], **options: Unpack[CallOptions]) -> Any:
        """Pick every class present in the image ("multi-label-classification").

        Args:
            image: One image, or a list of images (then a list of results, same order).
            classes: The candidate classes.
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            A :class:`MultiLabelClassification`; ``labels`` is a subset of ``classes``.
            (A list of them for a list of images.)
        """
        return await self._call("multi-label-classification", image, {"classes": classes}, options)

    @overload
    async def detect(
        self, image: ImageBatch, classes: Sequence[str] | None = None, **options: Unpack[CallOptions]
    ) -> list[Detections]: ...
    @overload
    async def detect(
        self, image: ImageInput, classes: Sequence[str] | None = None, **options: Unpack[CallOptions]
    ) -> Detections: ...
    async def detect(
        self, image: Any, classes: Sequence[str] | None = None, **options: Unpack[CallOptions]
    ) -> Any:
        """Detect objects: boxes in pixels of the original image, whatever the model family.

        Args:
            image: One image, or a list of images (then a list of results, same order).
            classes: What to look for; ``None`` detects prominent objects with free labels.
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            :class:`Detections`, a sequence of :class:`Detection`.
            (A list of them for a list of images.)
        """
        return await self._call("object-detection", image, {"classes": classes}, options)

    @overload
    async def point(
        self, image: ImageBatch, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> list[Points]: ...
    @overload
    async def point(
        self, image: ImageInput, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> Points: ...
    async def point(self, image: Any, classes: Sequence[str], **options: Unpack[CallOptions]) -> Any:
        """Locate each instance of ``classes`` as a point, in pixels of the original image.

        Args:
            image: One image, or a list of images (then a list of results, same order).
            classes: What to point at.
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            :class:`Points`, a sequence of :class:`Point`.
            (A list of them for a list of images.)
        """
        return await self._call("point", image, {"classes": classes}, options)

    @overload
    async def locate_events(
        self, video: ImageBatch, events: Sequence[str], **options: Unpack[CallOptions]
    ) -> list[Events]: ...
    @overload
    async def locate_events(
        self, video: Video, events: Sequence[str], **options: Unpack[CallOptions]
    ) -> Events: ...
    async def locate_events(self, video: Any, events: Sequence[str], **options: Unpack[CallOptions]) -> Any:
        """Find when each event happens in a video ("temporal-grounding"), in seconds of the video.

        Args:
            video: A :class:`Video`, or a list of them (then a list of results, same order).
            events: What to find, e.g. ``["a truck arrives", "the door opens"]``.
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``;
                for a long video ``window=`` (seconds or ``"auto"``), ``window_overlap=`` and
                ``refine=True`` (a closer look around each event found).

        Returns:
            :class:`Events`, a sequence of :class:`Event` (label, start, end).
        """
        return await self._call("temporal-grounding", video, {"events": events}, options)

    @overload
    async def extract(
        self,
        image: ImageBatch,
        schema: Schema | None = None,
        *,
        output_structure: Schema | None = None,
        **options: Unpack[CallOptions],
    ) -> list[Extraction]: ...
    @overload
    async def extract(
        self,
        image: ImageInput,
        schema: Schema | None = None,
        *,
        output_structure: Schema | None = None,
        **options: Unpack[CallOptions],
    ) -> Extraction: ...
    async def extract(
        self,
        image: Any,
        schema: Schema | None = None,
        *,
        output_structure: Schema | None = None,
        **options: Unpack[CallOptions],
    ) -> Any:
        """Extract structured data ("structured-answering").

        Args:
            image: One image, or a list of images (then a list of results, same order).
            schema: ``{"field": "description", ...}``, a JSON schema (a dict with ``"properties"``), or a
                pydantic model class (``data`` is then a validated instance).
            output_structure: The seed block's name for ``schema`` (give one or the other).
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            An :class:`Extraction` whose ``data`` is a dict or the pydantic model.
            (A list of them for a list of images.)
        """
        return await self._call(
            "structured-answering", image, schema_param(schema, output_structure), options
        )

    # <twin:end>

    async def run(self, task: str | Task, image: Any, **params: Any) -> Any:
        """Async :meth:`QwenVLM.run`."""
        options = {k: params.pop(k) for k in list(params) if k in CallOptions.__annotations__}
        return await self._call(task, image, params, options)  # type: ignore[arg-type]

    def stream(self, task: str | Task, image: Any, **params: Any) -> AsyncStream[Any]:
        """Async :meth:`QwenVLM.stream`: ``async for event in vlm.stream(...)``.

        The task, its parameters and the options are checked here; the image is read and the request
        sent when iteration starts (off the event loop), so an unreadable image raises then.
        """
        import asyncio

        self._check_stream_call(task, image, dict(params))
        holder: dict[str, Plan] = {}

        async def chunks() -> AsyncIterator[StreamChunk]:
            plan, request = await asyncio.to_thread(self._stream_plan, task, image, dict(params))
            plan, replay = await asyncio.to_thread(self._stream_stored, plan)
            holder["plan"] = plan
            if replay is not None:  # answered from the result store
                for chunk in replay:
                    yield chunk
                return
            astream = capabilities_of(self._backend).astream
            source: Any = astream(request) if astream is not None else _in_thread(self._streamer(), request)
            try:
                async for chunk in source:
                    yield chunk
            finally:
                await source.aclose()

        return AsyncStream(chunks(), lambda response: self._finish_stream(holder["plan"], response))

    async def aclose(self) -> None:
        """Release the backend's resources."""
        import asyncio

        await asyncio.to_thread(self._backend.close)

    def close(self) -> None:
        """Release the backend's resources."""
        self._backend.close()

    async def __aenter__(self) -> AsyncQwenVLM:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _in_thread(
    stream: Callable[[GenerationRequest], Iterator[StreamChunk]], request: GenerationRequest
) -> AsyncGenerator[StreamChunk, None]:
    """A backend's sync stream driven from a worker thread, one chunk at a time."""
    import asyncio

    chunks = await asyncio.to_thread(stream, request)
    try:
        while True:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
