"""The clients: :class:`QwenVLM` (sync) and :class:`AsyncQwenVLM` (async), one typed method per task.

Both share :class:`_ClientCore`, which validates inputs, builds requests and turns responses into results;
they differ only in how requests are executed (a thread pool vs. asyncio tasks). The sync client never
uses ``run_until_complete``, so it works inside Jupyter, where an event loop is already running.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Literal, TypeVar, overload

from .backends import Backend, GenerationRequest, GenerationResponse, create_backend
from .errors import BackendError, ConfigurationError, OutputParseError, QwenVLMError
from .images import ImageInput, ImageRef, is_image_input, prepare_images
from .models import Family, ModelInfo
from .results import (
    Classification,
    Detections,
    Extraction,
    MultiLabelClassification,
    Points,
    Result,
    TextResult,
)
from .tasks import THINKING_MAX_TOKENS, TaskSpec, build_prompt, parse_answer, resolve_task, validate_params
from .tasks.extraction import Schema
from .thinking import split_thinking

__all__ = ["AsyncQwenVLM", "QwenVLM"]

R = TypeVar("R", bound=Result)
#: A batch of images: a list or tuple of anything :data:`~qwen_vlm.images.ImageInput` accepts.
ImageBatch = list[Any] | tuple[Any, ...]
Privacy = Literal["allow", "deny", "zdr"]


def _progress_bar(total: int, progress: bool | None, desc: str) -> Any:
    show = (
        progress
        if progress is not None
        else (total > 1 and ("ipykernel" in sys.modules or sys.stderr.isatty()))
    )
    if not show:
        return None
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    return tqdm(total=total, desc=desc, unit="img")


class _Plan:
    """One call's work: its task, parameters, images and requests."""

    def __init__(
        self,
        spec: TaskSpec,
        params: dict[str, Any],
        refs: list[ImageRef],
        requests: list[GenerationRequest],
        single: bool,
        strict: bool,
        progress: bool | None,
    ) -> None:
        self.spec = spec
        self.params = params
        self.refs = refs
        self.requests = requests
        self.single = single
        self.strict = strict
        self.progress = progress

    def chunks(self, size: int) -> list[list[int]]:
        indices = list(range(len(self.requests)))
        return [indices[i : i + size] for i in range(0, len(indices), max(1, size))]


class _ClientCore:
    """State and logic shared by the sync and async clients."""

    _backend: Backend

    def __init__(
        self,
        model: str | None = None,
        *,
        backend: str | Backend = "local",
        api_key: str | None = None,
        base_url: str | None = None,
        privacy: Privacy | None = None,
        max_concurrent_requests: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        device: str | None = None,
        dtype: str | None = None,
        family: Family | None = None,
        max_tokens: int | None = None,
        **backend_options: Any,
    ) -> None:
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise ConfigurationError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        self._default_max_tokens = max_tokens
        if not isinstance(backend, str):
            if not isinstance(backend, Backend):
                raise ConfigurationError(
                    f"backend must be 'local', 'openrouter', 'openai' or a Backend object, got {backend!r}"
                )
            given = {k: v for k, v in (("model", model), ("api_key", api_key), ("base_url", base_url)) if v}
            if given or backend_options:
                raise ConfigurationError(
                    f"options {sorted([*given, *backend_options])} do not apply when a Backend object "
                    "is passed; configure the backend itself"
                )
            self._backend = backend
            return
        options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "privacy": privacy,
            "max_concurrent_requests": max_concurrent_requests,
            "timeout": timeout,
            "max_retries": max_retries,
            "device": device,
            "dtype": dtype,
            "family": family,
        }
        options = {k: v for k, v in options.items() if v is not None}
        options.update(backend_options)
        self._backend = create_backend(backend, model, **options)

    # ------------------------------------------------------------------ properties
    @property
    def backend(self) -> Backend:
        """The backend serving this client."""
        return self._backend

    @property
    def model(self) -> str:
        """The model id."""
        return self._backend.info.id

    @property
    def info(self) -> ModelInfo:
        """What the SDK knows about the model (family, coordinates, thinking support)."""
        return self._backend.info

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, backend={type(self._backend).__name__})"

    # ------------------------------------------------------------------ planning
    def _plan(
        self,
        task: str,
        images: Any,
        params: dict[str, Any],
        *,
        max_tokens: int | None,
        temperature: float | None,
        enable_thinking: bool | None,
        strict: bool,
        progress: bool | None,
    ) -> _Plan:
        spec = resolve_task(task)
        checked = validate_params(spec, params)
        if temperature is not None and (
            not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2
        ):
            raise ConfigurationError(f"temperature must be a number between 0 and 2, got {temperature!r}")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise ConfigurationError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        info = self._backend.info
        if not info.vision:
            raise ConfigurationError(f"model {info.id!r} is text-only and cannot run image tasks")
        if enable_thinking and info.thinking == "none":
            raise ConfigurationError(
                f"model {info.id!r} has no thinking mode; drop enable_thinking or pick a Qwen3.5/3.6 "
                "or -Thinking model"
            )
        if (
            enable_thinking is False
            and info.thinking == "always"
            and not getattr(self._backend, "ignores_thinking_off", False)
        ):
            raise ConfigurationError(
                f"model {info.id!r} always thinks; enable_thinking=False is not possible"
            )
        single = is_image_input(images)
        if single:
            items: list[Any] = [images]
        elif isinstance(images, (list, tuple)):
            items = list(images)
        else:
            raise ConfigurationError(f"expected an image or a list of images, got {type(images).__name__}")
        refs = prepare_images(items, single=single)
        if spec.needs_geometry or not getattr(self._backend, "accepts_urls", False):
            for ref in refs:
                ref.pil()  # download URLs now, so a bad one fails before anything is sent
        prompt, json_schema = build_prompt(spec, checked)
        thinking_on = enable_thinking if enable_thinking is not None else info.thinking_default
        budget = (
            max_tokens
            or self._default_max_tokens
            or (max(spec.max_tokens, THINKING_MAX_TOKENS) if thinking_on else spec.max_tokens)
        )
        requests = [
            GenerationRequest(
                image=ref,
                prompt=prompt,
                max_tokens=budget,
                temperature=temperature,
                enable_thinking=enable_thinking,
                json_schema=json_schema,
                needs_geometry=spec.needs_geometry,
                task=spec.name,
            )
            for ref in refs
        ]
        return _Plan(spec, checked, refs, requests, single, strict, progress)

    # ------------------------------------------------------------------ results
    @staticmethod
    def _failed(count: int, exc: BaseException) -> list[GenerationResponse]:
        if isinstance(exc, QwenVLMError):
            error: QwenVLMError = exc
        else:
            error = BackendError(f"unexpected {type(exc).__name__}: {exc}")
        return [GenerationResponse(text="", error=error) for _ in range(count)]

    def _finish(self, plan: _Plan, responses: list[GenerationResponse]) -> Any:
        info = self._backend.info
        results: list[Result] = []
        for ref, response in zip(plan.refs, responses, strict=True):
            thinking, answer = split_thinking(response.text)
            if response.thinking:
                thinking = response.thinking if thinking is None else f"{response.thinking}\n{thinking}"
            image_size = ref.size if (plan.spec.needs_geometry and response.error is None) else None
            error = None if response.error is None else f"{type(response.error).__name__}: {response.error}"
            result = parse_answer(
                plan.spec,
                answer,
                info,
                plan.params,
                thinking=thinking,
                image_size=image_size,
                input_size=response.input_size,
                usage=response.usage,
                error=error,
            )
            if plan.strict and result.error is not None:
                if response.error is not None:
                    raise response.error
                raise OutputParseError(
                    f"image {ref.index if ref.index is not None else 0}: {result.error}", answer
                )
            results.append(result)
        return results[0] if plan.single else results


class QwenVLM(_ClientCore):
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

    def _execute(self, plan: _Plan) -> list[GenerationResponse]:
        backend = self._backend
        chunks = plan.chunks(backend.max_batch_size)
        responses: list[GenerationResponse | None] = [None] * len(plan.requests)
        bar = _progress_bar(len(plan.requests), plan.progress, plan.spec.method)

        def run(chunk: list[int]) -> None:
            batch = [plan.requests[i] for i in chunk]
            try:
                out = backend.generate(batch)
                if len(out) != len(batch):
                    raise BackendError(f"backend returned {len(out)} responses for {len(batch)} requests")
            except QwenVLMError as exc:
                if exc.whole_call:
                    raise
                out = self._failed(len(batch), exc)
            except Exception as exc:  # a backend bug must not lose the other images' work
                out = self._failed(len(batch), exc)
            for i, response in zip(chunk, out, strict=True):
                responses[i] = response
            if bar is not None:
                bar.update(len(chunk))

        try:
            workers = max(1, min(backend.max_concurrency, len(chunks)))
            if workers == 1:
                for chunk in chunks:
                    run(chunk)
            else:
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qwen-vlm") as pool:
                    futures = [pool.submit(run, chunk) for chunk in chunks]
                    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
                    for future in pending:
                        future.cancel()
                    for future in done:
                        future.result()  # re-raise a whole-call error
        finally:
            if bar is not None:
                bar.close()
        return [r if r is not None else self._failed(1, BackendError("not run"))[0] for r in responses]

    def _call(
        self,
        task: str,
        images: Any,
        params: dict[str, Any],
        **options: Any,
    ) -> Any:
        plan = self._plan(task, images, params, **options)
        if not plan.requests:
            return []
        return self._finish(plan, self._execute(plan))

    # ------------------------------------------------------------------ tasks
    @overload
    def prompt(
        self,
        image: ImageBatch,
        text: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[TextResult]: ...
    @overload
    def prompt(
        self,
        image: ImageInput,
        text: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> TextResult: ...
    def prompt(
        self,
        image: Any,
        text: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Send your own prompt with the image ("unconstrained").

        Args:
            image: One image, or a list of images.
            text: The prompt.
            max_tokens: Token budget (reasoning included); default per task.
            temperature: Sampling temperature; default greedy.
            enable_thinking: Switch reasoning on/off (models that support it); default the model's own.
            strict: Raise instead of marking a failed image's ``error``.
            progress: Show a progress bar (default: for batches, in notebooks and terminals).

        Returns:
            A :class:`TextResult` (a list of them for a list of images).
        """
        return self._call(
            "unconstrained",
            image,
            {"text": text},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    def ocr(
        self,
        image: ImageBatch,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[TextResult]: ...
    @overload
    def ocr(
        self,
        image: ImageInput,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> TextResult: ...
    def ocr(
        self,
        image: Any,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Read all text in the image, in reading order.

        Args:
            image: One image, or a list of images.
            max_tokens: Token budget (reasoning included); default per task.
            temperature: Sampling temperature; default greedy.
            enable_thinking: Switch reasoning on/off (models that support it); default the model's own.
            strict: Raise instead of marking a failed image's ``error``.
            progress: Show a progress bar (default: for batches, in notebooks and terminals).

        Returns:
            A :class:`TextResult`; ``regions`` holds located text when the model gave boxes.
        """
        return self._call(
            "ocr", image, {}, **_opts(max_tokens, temperature, enable_thinking, strict, progress)
        )

    @overload
    def ask(
        self,
        image: ImageBatch,
        question: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[TextResult]: ...
    @overload
    def ask(
        self,
        image: ImageInput,
        question: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> TextResult: ...
    def ask(
        self,
        image: Any,
        question: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Answer a question about the image ("visual-question-answering").

        Args:
            image: One image, or a list of images.
            question: The question.
            max_tokens: Token budget (reasoning included); default per task.
            temperature: Sampling temperature; default greedy.
            enable_thinking: Switch reasoning on/off (models that support it); default the model's own.
            strict: Raise instead of marking a failed image's ``error``.
            progress: Show a progress bar (default: for batches, in notebooks and terminals).
        """
        return self._call(
            "visual-question-answering",
            image,
            {"question": question},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    def caption(
        self,
        image: ImageBatch,
        detailed: bool = False,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[TextResult]: ...
    @overload
    def caption(
        self,
        image: ImageInput,
        detailed: bool = False,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> TextResult: ...
    def caption(
        self,
        image: Any,
        detailed: bool = False,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Describe the image: one sentence, or a detailed paragraph.

        Args:
            image: One image, or a list of images.
            detailed: A paragraph ("detailed-caption") instead of one sentence ("caption").
            max_tokens: Token budget (reasoning included); default per task.
            temperature: Sampling temperature; default greedy.
            enable_thinking: Switch reasoning on/off (models that support it); default the model's own.
            strict: Raise instead of marking a failed image's ``error``.
            progress: Show a progress bar (default: for batches, in notebooks and terminals).
        """
        task = "detailed-caption" if detailed else "caption"
        return self._call(
            task,
            image,
            {"detailed": detailed},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    def classify(
        self,
        image: ImageBatch,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[Classification]: ...
    @overload
    def classify(
        self,
        image: ImageInput,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Classification: ...
    def classify(
        self,
        image: Any,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Pick the one class that fits the image.

        Args:
            image: One image, or a list of images.
            classes: The candidate classes.
            max_tokens: Token budget (reasoning included); default per task.
            temperature: Sampling temperature; default greedy.
            enable_thinking: Switch reasoning on/off (models that support it); default the model's own.
            strict: Raise instead of marking a failed image's ``error``.
            progress: Show a progress bar (default: for batches, in notebooks and terminals).

        Returns:
            A :class:`Classification`; ``label`` is one of ``classes``, or ``None`` with ``error`` set.
        """
        return self._call(
            "classification",
            image,
            {"classes": classes},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    def classify_multi(
        self,
        image: ImageBatch,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[MultiLabelClassification]: ...
    @overload
    def classify_multi(
        self,
        image: ImageInput,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> MultiLabelClassification: ...
    def classify_multi(
        self,
        image: Any,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Pick every class present in the image ("multi-label-classification").

        Args:
            image: One image, or a list of images.
            classes: The candidate classes.
            max_tokens: Token budget (reasoning included); default per task.
            temperature: Sampling temperature; default greedy.
            enable_thinking: Switch reasoning on/off (models that support it); default the model's own.
            strict: Raise instead of marking a failed image's ``error``.
            progress: Show a progress bar (default: for batches, in notebooks and terminals).
        """
        return self._call(
            "multi-label-classification",
            image,
            {"classes": classes},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    def detect(
        self,
        image: ImageBatch,
        classes: Sequence[str] | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[Detections]: ...
    @overload
    def detect(
        self,
        image: ImageInput,
        classes: Sequence[str] | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Detections: ...
    def detect(
        self,
        image: Any,
        classes: Sequence[str] | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Detect objects: boxes in pixels of the original image.

        Args:
            image: One image, or a list of images.
            classes: What to look for; ``None`` detects prominent objects with free labels.
            max_tokens: Token budget (reasoning included); default per task.
            temperature: Sampling temperature; default greedy.
            enable_thinking: Switch reasoning on/off (models that support it); default the model's own.
            strict: Raise instead of marking a failed image's ``error``.
            progress: Show a progress bar (default: for batches, in notebooks and terminals).

        Returns:
            :class:`Detections` (a sequence of :class:`Detection`).
        """
        return self._call(
            "object-detection",
            image,
            {"classes": classes},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    def point(
        self,
        image: ImageBatch,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[Points]: ...
    @overload
    def point(
        self,
        image: ImageInput,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Points: ...
    def point(
        self,
        image: Any,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Locate each instance of ``classes`` as a point, in pixels of the original image.

        Args:
            image: One image, or a list of images.
            classes: What to point at.
            max_tokens: Token budget (reasoning included); default per task.
            temperature: Sampling temperature; default greedy.
            enable_thinking: Switch reasoning on/off (models that support it); default the model's own.
            strict: Raise instead of marking a failed image's ``error``.
            progress: Show a progress bar (default: for batches, in notebooks and terminals).
        """
        return self._call(
            "point",
            image,
            {"classes": classes},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    def extract(
        self,
        image: ImageBatch,
        schema: Schema,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[Extraction]: ...
    @overload
    def extract(
        self,
        image: ImageInput,
        schema: Schema,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Extraction: ...
    def extract(
        self,
        image: Any,
        schema: Schema,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Extract structured data ("structured-answering").

        Args:
            image: One image, or a list of images.
            schema: ``{"field": "description", ...}``, or a pydantic model class (``data`` is then a
                validated instance).
            max_tokens: Token budget (reasoning included); default per task.
            temperature: Sampling temperature; default greedy.
            enable_thinking: Switch reasoning on/off (models that support it); default the model's own.
            strict: Raise instead of marking a failed image's ``error``.
            progress: Show a progress bar (default: for batches, in notebooks and terminals).
        """
        return self._call(
            "structured-answering",
            image,
            {"schema": schema},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    def run(self, task: str, image: Any, **params: Any) -> Any:
        """Run a task by name: a block task type (``"object-detection"``) or a method name (``"detect"``).

        Args:
            task: The task.
            image: One image, or a list of images.
            **params: The task's parameters (``classes``, ``question``, ``text``/``prompt``, ``schema``/
                ``output_structure``, ``detailed``) and call options.
        """
        options = {k: params.pop(k) for k in list(params) if k in _OPTION_NAMES}
        return self._call(task, image, params, **_opts(**options))

    def close(self) -> None:
        """Release the backend's resources."""
        self._backend.close()

    def __enter__(self) -> QwenVLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncQwenVLM(_ClientCore):
    """The async twin of :class:`QwenVLM`: same constructor, same methods, as coroutines.

    Example:
        >>> vlm = AsyncQwenVLM("qwen/qwen3-vl-8b-instruct", backend="openrouter")   # doctest: +SKIP
        >>> results = await vlm.detect(images, ["car"])                              # doctest: +SKIP
    """

    async def _execute(self, plan: _Plan) -> list[GenerationResponse]:
        import asyncio

        backend = self._backend
        chunks = plan.chunks(backend.max_batch_size)
        semaphore = asyncio.Semaphore(max(1, backend.max_concurrency))
        bar = _progress_bar(len(plan.requests), plan.progress, plan.spec.method)

        async def run(chunk: list[int]) -> list[GenerationResponse]:
            batch = [plan.requests[i] for i in chunk]
            async with semaphore:
                try:
                    out = await backend.agenerate(batch)
                    if len(out) != len(batch):
                        raise BackendError(f"backend returned {len(out)} responses for {len(batch)} requests")
                except QwenVLMError as exc:
                    if exc.whole_call:
                        raise
                    out = self._failed(len(batch), exc)
                except Exception as exc:
                    out = self._failed(len(batch), exc)
            if bar is not None:
                bar.update(len(chunk))
            return out

        tasks = [asyncio.ensure_future(run(chunk)) for chunk in chunks]
        try:
            outs = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        finally:
            if bar is not None:
                bar.close()
        return [response for out in outs for response in out]

    async def _call(
        self,
        task: str,
        images: Any,
        params: dict[str, Any],
        **options: Any,
    ) -> Any:
        import asyncio

        plan = await asyncio.to_thread(self._plan, task, images, params, **options)
        if not plan.requests:
            return []
        return self._finish(plan, await self._execute(plan))

    @overload
    async def prompt(
        self,
        image: ImageBatch,
        text: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[TextResult]: ...
    @overload
    async def prompt(
        self,
        image: ImageInput,
        text: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> TextResult: ...
    async def prompt(
        self,
        image: Any,
        text: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Async :meth:`QwenVLM.prompt`."""
        return await self._call(
            "unconstrained",
            image,
            {"text": text},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    async def ocr(
        self,
        image: ImageBatch,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[TextResult]: ...
    @overload
    async def ocr(
        self,
        image: ImageInput,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> TextResult: ...
    async def ocr(
        self,
        image: Any,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Async :meth:`QwenVLM.ocr`."""
        return await self._call(
            "ocr", image, {}, **_opts(max_tokens, temperature, enable_thinking, strict, progress)
        )

    @overload
    async def ask(
        self,
        image: ImageBatch,
        question: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[TextResult]: ...
    @overload
    async def ask(
        self,
        image: ImageInput,
        question: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> TextResult: ...
    async def ask(
        self,
        image: Any,
        question: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Async :meth:`QwenVLM.ask`."""
        return await self._call(
            "visual-question-answering",
            image,
            {"question": question},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    async def caption(
        self,
        image: ImageBatch,
        detailed: bool = False,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[TextResult]: ...
    @overload
    async def caption(
        self,
        image: ImageInput,
        detailed: bool = False,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> TextResult: ...
    async def caption(
        self,
        image: Any,
        detailed: bool = False,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Async :meth:`QwenVLM.caption`."""
        task = "detailed-caption" if detailed else "caption"
        return await self._call(
            task,
            image,
            {"detailed": detailed},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    async def classify(
        self,
        image: ImageBatch,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[Classification]: ...
    @overload
    async def classify(
        self,
        image: ImageInput,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Classification: ...
    async def classify(
        self,
        image: Any,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Async :meth:`QwenVLM.classify`."""
        return await self._call(
            "classification",
            image,
            {"classes": classes},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    async def classify_multi(
        self,
        image: ImageBatch,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[MultiLabelClassification]: ...
    @overload
    async def classify_multi(
        self,
        image: ImageInput,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> MultiLabelClassification: ...
    async def classify_multi(
        self,
        image: Any,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Async :meth:`QwenVLM.classify_multi`."""
        return await self._call(
            "multi-label-classification",
            image,
            {"classes": classes},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    async def detect(
        self,
        image: ImageBatch,
        classes: Sequence[str] | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[Detections]: ...
    @overload
    async def detect(
        self,
        image: ImageInput,
        classes: Sequence[str] | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Detections: ...
    async def detect(
        self,
        image: Any,
        classes: Sequence[str] | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Async :meth:`QwenVLM.detect`."""
        return await self._call(
            "object-detection",
            image,
            {"classes": classes},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    async def point(
        self,
        image: ImageBatch,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[Points]: ...
    @overload
    async def point(
        self,
        image: ImageInput,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Points: ...
    async def point(
        self,
        image: Any,
        classes: Sequence[str],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Async :meth:`QwenVLM.point`."""
        return await self._call(
            "point",
            image,
            {"classes": classes},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    @overload
    async def extract(
        self,
        image: ImageBatch,
        schema: Schema,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> list[Extraction]: ...
    @overload
    async def extract(
        self,
        image: ImageInput,
        schema: Schema,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Extraction: ...
    async def extract(
        self,
        image: Any,
        schema: Schema,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        enable_thinking: bool | None = None,
        strict: bool = False,
        progress: bool | None = None,
    ) -> Any:
        """Async :meth:`QwenVLM.extract`."""
        return await self._call(
            "structured-answering",
            image,
            {"schema": schema},
            **_opts(max_tokens, temperature, enable_thinking, strict, progress),
        )

    async def run(self, task: str, image: Any, **params: Any) -> Any:
        """Async :meth:`QwenVLM.run`."""
        options = {k: params.pop(k) for k in list(params) if k in _OPTION_NAMES}
        return await self._call(task, image, params, **_opts(**options))

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


_OPTION_NAMES = ("max_tokens", "temperature", "enable_thinking", "strict", "progress")


def _opts(
    max_tokens: int | None = None,
    temperature: float | None = None,
    enable_thinking: bool | None = None,
    strict: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    return {
        "max_tokens": max_tokens,
        "temperature": temperature,
        "enable_thinking": enable_thinking,
        "strict": bool(strict),
        "progress": progress,
    }
