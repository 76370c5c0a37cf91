"""The synchronous client, :class:`QwenVLM`: one typed method per task.

Requests run on a thread pool (remote backends) or in the calling thread (local backend). It never uses
``run_until_complete``, so it works inside Jupyter, where an event loop is already running. The task
methods below are the single source of :class:`~qwen_vlm.AsyncQwenVLM`'s, which are generated from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from typing_extensions import Unpack

from .backends import GenerationResponse
from .document_methods import DocumentMethods
from .engine.call import CallOptions, Plan
from .engine.core import ClientCore, ImageBatch, schema_param
from .engine.threads import execute_in_threads
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
from .screen_methods import ScreenMethods
from .streaming import Stream
from .tasks import Task
from .tasks.extraction import Schema
from .video import Video

__all__ = ["AsyncQwenVLM", "CallOptions", "ImageBatch", "QwenVLM"]


class QwenVLM(DocumentMethods, ScreenMethods, ClientCore):
    """Run Qwen vision-language models on images; one typed method per task.

    Args:
        model: A Hugging Face repo id or local directory (``backend="local"``), an OpenRouter slug
            (``backend="openrouter"``), or the server's model name (``backend="openai"``). ``None`` picks
            the backend's default model.
        backend: ``"local"`` (transformers on this machine), ``"openrouter"``, ``"openai"`` (any
            OpenAI-compatible server: vLLM, SGLang, Ollama, DashScope), or any object implementing
            :class:`~qwen_vlm.backends.Backend`.
        api_key: API key for remote backends (default: ``OPENROUTER_API_KEY``). Never shown in reprs or logs.
        base_url: Server URL for ``backend="openai"`` (e.g. ``"http://localhost:8000/v1"``).
        privacy: OpenRouter provider data policy: ``"deny"`` (default: no training on your data),
            ``"allow"``, or ``"zdr"`` (zero data retention).
        max_concurrent_requests: Requests in flight at once for a batch (remote backends).
        timeout: Seconds per request (remote backends).
        max_retries: Retries of transient failures (remote backends).
        device: ``"cuda"``, ``"mps"``, ``"cpu"``... (local backend; default: the best available).
        dtype: Weights dtype (local backend; default ``"auto"``).
        family: Override the model family when it cannot be guessed from the id.
        max_tokens: Default token budget for every call (default: per task, higher when thinking).
        constrained: Decode structured tasks under a grammar of their answer format where the backend
            can (default on; ``constrained=False`` per call or here turns it off).
        **backend_options: Further backend options (local: ``device_map``, ``attn_implementation``,
            ``revision``, ``lazy``, ``min_pixels``, ``max_pixels``, ``batch_size``, ``adapter``; remote:
            ``server``, ``max_pixels``, ``app_name``, ``app_url``, ``provider_options``...).

    Raises:
        ConfigurationError: Unknown backend, model/backend mismatch, missing key, bad option.
        MissingDependencyError: The backend's extra is not installed.

    Example:
        >>> vlm = QwenVLM("Qwen/Qwen3-VL-2B-Instruct")            # doctest: +SKIP
        >>> vlm.detect("cats.jpg", ["cat"])                         # doctest: +SKIP
        Detections([Detection('cat', xyxy=(12.0, 40.5, 310.2, 398.0))])
    """

    def _call(self, task: str | Task, images: Any, params: dict[str, Any], options: CallOptions) -> Any:
        windows = self._windowed(task, images, params, options)
        if windows is not None:  # a long video in windows, then closer looks (engine/windows.py)
            results = windows.merge(self._call(task, windows.items, params, windows.options))
            zoom = windows.zoom(results)
            if zoom is not None:
                closer = self._call(task, zoom[0], params, windows.options)
                results = windows.zoomed(results, closer, zoom[1])
            return windows.finish(results)
        plan = self._plan(task, images, params, options)
        if not plan.refs:
            return []
        stored = self._stored(plan)
        if stored is not None:
            plan = stored.plan
        return self._finish(plan, self._execute(plan))

    def _execute(self, plan: Plan) -> list[GenerationResponse]:
        return execute_in_threads(self._backend, plan, self._settle, self._failed)

    # ------------------------------------------------------------------ tasks
    # <twin:begin> The async client's task methods are generated from the lines up to <twin:end>
    # (scripts/generate_async_client.py; a test fails when async_client.py is stale).
    @overload
    def prompt(self, image: ImageBatch, text: str, **options: Unpack[CallOptions]) -> list[TextResult]: ...
    @overload
    def prompt(self, image: ImageInput, text: str, **options: Unpack[CallOptions]) -> TextResult: ...
    def prompt(self, image: Any, text: str, **options: Unpack[CallOptions]) -> Any:
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
        return self._call("unconstrained", image, {"text": text}, options)

    @overload
    def ocr(self, image: ImageBatch, **options: Unpack[CallOptions]) -> list[TextResult]: ...
    @overload
    def ocr(self, image: ImageInput, **options: Unpack[CallOptions]) -> TextResult: ...
    def ocr(self, image: Any, **options: Unpack[CallOptions]) -> Any:
        """Read all text in the image, in reading order.

        Args:
            image: One image, or a list of images (then a list of results, same order).
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            A :class:`TextResult`; ``regions`` holds located text when the model gave boxes.
            (A list of them for a list of images.)
        """
        return self._call("ocr", image, {}, options)

    @overload
    def ask(self, image: ImageBatch, question: str, **options: Unpack[CallOptions]) -> list[TextResult]: ...
    @overload
    def ask(self, image: ImageInput, question: str, **options: Unpack[CallOptions]) -> TextResult: ...
    def ask(self, image: Any, question: str, **options: Unpack[CallOptions]) -> Any:
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
        return self._call("visual-question-answering", image, {"question": question}, options)

    @overload
    def caption(
        self, image: ImageBatch, detailed: bool = False, **options: Unpack[CallOptions]
    ) -> list[TextResult]: ...
    @overload
    def caption(
        self, image: ImageInput, detailed: bool = False, **options: Unpack[CallOptions]
    ) -> TextResult: ...
    def caption(self, image: Any, detailed: bool = False, **options: Unpack[CallOptions]) -> Any:
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
        return self._call(
            "detailed-caption" if detailed else "caption", image, {"detailed": detailed}, options
        )

    @overload
    def classify(
        self, image: ImageBatch, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> list[Classification]: ...
    @overload
    def classify(
        self, image: ImageInput, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> Classification: ...
    def classify(self, image: Any, classes: Sequence[str], **options: Unpack[CallOptions]) -> Any:
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
        return self._call("classification", image, {"classes": classes}, options)

    @overload
    def classify_multi(
        self, image: ImageBatch, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> list[MultiLabelClassification]: ...
    @overload
    def classify_multi(
        self, image: ImageInput, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> MultiLabelClassification: ...
    def classify_multi(self, image: Any, classes: Sequence[str], **options: Unpack[CallOptions]) -> Any:
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
        return self._call("multi-label-classification", image, {"classes": classes}, options)

    @overload
    def detect(
        self, image: ImageBatch, classes: Sequence[str] | None = None, **options: Unpack[CallOptions]
    ) -> list[Detections]: ...
    @overload
    def detect(
        self, image: ImageInput, classes: Sequence[str] | None = None, **options: Unpack[CallOptions]
    ) -> Detections: ...
    def detect(self, image: Any, classes: Sequence[str] | None = None, **options: Unpack[CallOptions]) -> Any:
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
        return self._call("object-detection", image, {"classes": classes}, options)

    @overload
    def point(
        self, image: ImageBatch, classes: Sequence[str], **options: Unpack[CallOptions]
    ) -> list[Points]: ...
    @overload
    def point(self, image: ImageInput, classes: Sequence[str], **options: Unpack[CallOptions]) -> Points: ...
    def point(self, image: Any, classes: Sequence[str], **options: Unpack[CallOptions]) -> Any:
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
        return self._call("point", image, {"classes": classes}, options)

    @overload
    def locate_events(
        self, video: ImageBatch, events: Sequence[str], **options: Unpack[CallOptions]
    ) -> list[Events]: ...
    @overload
    def locate_events(
        self, video: Video, events: Sequence[str], **options: Unpack[CallOptions]
    ) -> Events: ...
    def locate_events(self, video: Any, events: Sequence[str], **options: Unpack[CallOptions]) -> Any:
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
        return self._call("temporal-grounding", video, {"events": events}, options)

    @overload
    def extract(
        self,
        image: ImageBatch,
        schema: Schema | None = None,
        *,
        output_structure: Schema | None = None,
        **options: Unpack[CallOptions],
    ) -> list[Extraction]: ...
    @overload
    def extract(
        self,
        image: ImageInput,
        schema: Schema | None = None,
        *,
        output_structure: Schema | None = None,
        **options: Unpack[CallOptions],
    ) -> Extraction: ...
    def extract(
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
        return self._call("structured-answering", image, schema_param(schema, output_structure), options)

    # <twin:end>

    def run(self, task: str | Task, image: Any, **params: Any) -> Any:
        """Run any task: a built-in by name, a registered task's name, or a :class:`~qwen_vlm.Task`.

        Args:
            task: A block task type (``"object-detection"``), a method name (``"detect"``), the name of
                a task given to :func:`~qwen_vlm.register_task`, or a :class:`~qwen_vlm.Task` object.
            image: One image, or a list of images (then a list of results, same order).
            **params: The task's parameters (built-ins: ``classes``, ``question``, ``text``/``prompt``,
                ``schema``/``output_structure``, ``detailed``, ``events``) and call options.

        Returns:
            The task's result (a list of them for a list of images).

        Raises:
            ConfigurationError: For an unknown task (the message lists the known ones) or bad parameters.
        """
        options = {k: params.pop(k) for k in list(params) if k in CallOptions.__annotations__}
        return self._call(task, image, params, options)  # type: ignore[arg-type]

    def stream(self, task: str | Task, image: Any, **params: Any) -> Stream[Any]:
        """Stream one task's answer as it is generated; the typed result is there when it ends.

        Args:
            task: The task, as for :meth:`run` (``"caption"``, ``"ocr"``, ``"detect"``, a Task...).
            image: One image (a list is refused: stream each in turn).
            **params: The task's parameters and call options, as for :meth:`run`.

        Returns:
            A :class:`~qwen_vlm.streaming.Stream` of :class:`~qwen_vlm.streaming.StreamEvent`
            (``kind`` ``"text"`` or ``"thinking"``); ``stream.result`` is the task's result once it has
            ended. Breaking out of the loop, ``close()`` or leaving a ``with`` block stops the generation.

        Raises:
            ConfigurationError: For bad parameters, a list of images, or a backend that cannot stream.
            ImageError: If the image cannot be read.
            BackendError: If the request fails (retried only before the first event).

        Example:
            >>> with vlm.stream("caption", "photo.jpg", detailed=True) as stream:   # doctest: +SKIP
            ...     for event in stream:
            ...         if event.kind == "text":
            ...             print(event.delta, end="", flush=True)
        """
        plan, request = self._stream_plan(task, image, params)
        plan, replay = self._stream_stored(plan)
        chunks = iter(replay) if replay is not None else self._streamer()(request)
        return Stream(chunks, lambda response: self._finish_stream(plan, response))

    def close(self) -> None:
        """Release the backend's resources."""
        self._backend.close()

    def __enter__(self) -> QwenVLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


from .async_client import AsyncQwenVLM  # noqa: E402  (re-exported: `from qwen_vlm.client import AsyncQwenVLM`)
