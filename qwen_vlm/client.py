"""The clients: :class:`QwenVLM` (sync) and :class:`AsyncQwenVLM` (async), one typed method per task.

Both share :class:`_ClientCore`, which validates inputs, builds requests and turns responses into results;
they differ only in how requests are executed (a thread pool vs. asyncio tasks). The sync client never
uses ``run_until_complete``, so it works inside Jupyter, where an event loop is already running.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, overload

from typing_extensions import Unpack

from .backends import Backend, GenerationRequest, GenerationResponse, create_backend
from .errors import BackendError, BatchError, ConfigurationError, ImageError, QwenVLMError
from .images import ImageInput, ImageRef, is_image_input, prepare_images
from .models import FAMILIES, Family, ModelInfo
from .options import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_path_or_str,
    check_str,
    check_url,
)
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

__all__ = ["AsyncQwenVLM", "CallOptions", "ImageBatch", "QwenVLM"]

#: A batch of images: a list or tuple of anything :data:`~qwen_vlm.images.ImageInput` accepts.
ImageBatch = list[Any] | tuple[Any, ...]
Privacy = Literal["allow", "deny", "zdr"]


class CallOptions(TypedDict, total=False):
    """Options every task method takes as keyword arguments.

    Attributes:
        max_tokens: Token budget, reasoning included (default: per task; 4096 when thinking is on).
        temperature: Sampling temperature from 0 to 2 (default: greedy).
        enable_thinking: Switch reasoning on or off on models that support it (default: the model's own
            default locally, off on remote servers).
        strict: Raise per-image failures (``OutputParseError``, ``BackendError``) instead of recording them
            on the result's ``error``.
        progress: Show a tqdm progress bar (default: for batches, in notebooks and terminals).
    """

    max_tokens: int
    temperature: float
    enable_thinking: bool
    strict: bool
    progress: bool


def _progress_bar(total: int, progress: bool | None, desc: str) -> Any:
    show = (
        progress
        if progress is not None
        else (total > 1 and ("ipykernel" in sys.modules or sys.stderr.isatty()))
    )
    if not show:
        return None
    import importlib.util

    if "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]  # a widget (the `notebook` extra)
    else:
        # Text bar: tqdm.auto without ipywidgets warns "IProgress not found" in every notebook.
        from tqdm.std import tqdm  # type: ignore[import-untyped]
    return tqdm(total=total, desc=desc, unit="img")


@dataclass(frozen=True)
class _Plan:
    """One call's work: its task, parameters, images and requests.

    ``refs`` holds every input in order; ``requests`` only those that could be read, ``positions[k]``
    being the input position of ``requests[k]``. Inputs that could not be read (in a list) have their
    :class:`ImageError` in ``ref.error`` and get a failed result without anything being sent.
    """

    spec: TaskSpec
    params: dict[str, Any]
    inputs: list[Any]
    refs: list[ImageRef]
    requests: list[GenerationRequest]
    positions: list[int]
    single: bool
    strict: bool
    progress: bool | None
    max_tokens: int

    def chunks(self, size: int) -> list[list[int]]:
        indices = list(range(len(self.requests)))
        return [indices[i : i + size] for i in range(0, len(indices), max(1, size))]


def _schema_param(schema: Any, output_structure: Any) -> dict[str, Any]:
    if schema is not None and output_structure is not None:
        raise ConfigurationError("extract takes schema= or output_structure= (the same thing), not both")
    return {"schema": schema if schema is not None else output_structure}


def _for_image(exc: QwenVLMError, index: int | None) -> QwenVLMError:
    """A copy of ``exc`` that names one image (errors shared by a chunk are copied, never mutated)."""
    if exc.index == index:
        return exc
    copy = exc.__class__.__new__(exc.__class__)
    copy.__dict__.update(exc.__dict__)
    copy.args = exc.args
    copy.__cause__ = exc.__cause__
    copy.__traceback__ = exc.__traceback__
    copy.index = index
    return copy


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
        self._default_max_tokens = check_int("max_tokens", max_tokens)
        model = check_path_or_str("model", model)
        check_choice("family", family, tuple(FAMILIES))
        check_choice("privacy", privacy, ("allow", "deny", "zdr"))
        check_int("max_concurrent_requests", max_concurrent_requests)
        check_number("timeout", timeout, exclusive_minimum=True)
        check_int("max_retries", max_retries, minimum=0)
        check_str("api_key", api_key)
        check_url("base_url", base_url)
        check_str("device", device)
        check_str("dtype", dtype)
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
    def _plan(self, task: str, images: Any, params: dict[str, Any], options: CallOptions) -> _Plan:
        unknown = set(options) - set(CallOptions.__annotations__)
        if unknown:
            raise ConfigurationError(
                f"unknown option(s) {sorted(unknown)}; per-call options are "
                f"{', '.join(CallOptions.__annotations__)}"
            )
        max_tokens = check_int("max_tokens", options.get("max_tokens"))
        temperature = check_number("temperature", options.get("temperature"), maximum=2.0)
        enable_thinking = check_bool("enable_thinking", options.get("enable_thinking"))
        strict = bool(check_bool("strict", options.get("strict")))
        progress = check_bool("progress", options.get("progress"))
        spec = resolve_task(task)
        checked = validate_params(spec, params)
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
        # In a list, an unreadable image is that image's failed result (unless strict=True, which
        # refuses to send anything); a single unreadable image raises.
        keep_going = not single and not strict
        refs = prepare_images(items, single=single, keep_going=keep_going)
        if spec.needs_geometry or not getattr(self._backend, "accepts_urls", False):
            for ref in refs:
                if ref.error is not None:
                    continue
                try:
                    ref.pil()  # download URLs now, so a bad one fails before anything is sent
                except ImageError as exc:
                    if not keep_going:
                        exc.whole_call = True
                        raise
                    ref.error = exc
        prompt, json_schema = build_prompt(spec, checked)
        thinking_on = enable_thinking if enable_thinking is not None else info.thinking_default
        budget = (
            max_tokens
            or self._default_max_tokens
            or (max(spec.max_tokens, THINKING_MAX_TOKENS) if thinking_on else spec.max_tokens)
        )
        positions = [i for i, ref in enumerate(refs) if ref.error is None]
        requests = [
            GenerationRequest(
                image=refs[i],
                prompt=prompt,
                max_tokens=budget,
                temperature=temperature,
                enable_thinking=enable_thinking,
                json_schema=json_schema,
                needs_geometry=spec.needs_geometry,
                task=spec.name,
            )
            for i in positions
        ]
        return _Plan(spec, checked, items, refs, requests, positions, single, strict, progress, budget)

    # ------------------------------------------------------------------ results
    def _settle(
        self, batch: list[GenerationRequest], outcome: list[GenerationResponse] | BaseException
    ) -> list[GenerationResponse]:
        """One chunk's responses: whole-call errors re-raised, anything else marked on each image."""
        if isinstance(outcome, BaseException):
            if isinstance(outcome, QwenVLMError) and outcome.whole_call:
                raise outcome
            return self._failed(len(batch), outcome)  # a backend bug must not lose other images' work
        if len(outcome) != len(batch):
            error = BackendError(f"backend returned {len(outcome)} responses for {len(batch)} requests")
            return self._failed(len(batch), error)
        return outcome

    @staticmethod
    def _failed(count: int, exc: BaseException) -> list[GenerationResponse]:
        if isinstance(exc, QwenVLMError):
            error: QwenVLMError = exc
        else:
            error = BackendError(f"unexpected {type(exc).__name__}: {exc}")
            error.__cause__ = exc
        return [GenerationResponse(text="", error=_for_image(error, None)) for _ in range(count)]

    def _result(self, plan: _Plan, ref: ImageRef, response: GenerationResponse) -> Result:
        """One image's result; never raises (a failure of any kind is recorded on the result)."""
        info = self._backend.info
        thinking, answer = split_thinking(response.text)
        if response.thinking:
            thinking = response.thinking if thinking is None else f"{response.thinking}\n{thinking}"
        error = response.error
        image_size = None
        # Coordinates need the original size: always known for grounding (pixels were loaded up front),
        # and for OCR answers with located text whenever the pixels are in memory.
        if error is None and (plan.spec.needs_geometry or ref.loaded):
            try:
                image_size = ref.size
            except ImageError as exc:
                error = exc
        result = parse_answer(
            plan.spec,
            answer,
            info,
            plan.params,
            thinking=thinking,
            image_size=image_size,
            input_size=response.input_size,
            usage=response.usage,
            error=None if error is None else _for_image(error, ref.index),
            finish_reason=response.finish_reason,
            max_tokens=plan.max_tokens,
            source=plan.inputs[ref.index or 0],
        )
        if result.exception is not None and result.exception.index is None:
            result.exception.index = ref.index  # a parse error: made for this result alone
        return result

    def _finish(self, plan: _Plan, responses: list[GenerationResponse]) -> Any:
        by_position = dict(zip(plan.positions, responses, strict=True))
        results: list[Result] = []
        for i, ref in enumerate(plan.refs):
            response = by_position.get(i)
            if response is None:  # unreadable input: nothing was sent
                response = GenerationResponse(text="", error=ref.error or ImageError("not read", ref.index))
            results.append(self._result(plan, ref, response))
        if plan.strict:
            failed = [i for i, r in enumerate(results) if r.exception is not None]
            if failed and plan.single:
                raise results[0].exception  # type: ignore[misc]
            if failed:
                exceptions = [results[i].exception for i in failed]
                raise BatchError(results, failed, [e for e in exceptions if e is not None])
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
            outcome: list[GenerationResponse] | BaseException
            try:
                outcome = backend.generate(batch)
            except Exception as exc:
                outcome = exc
            out = self._settle(batch, outcome)
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

    def _call(self, task: str, images: Any, params: dict[str, Any], options: CallOptions) -> Any:
        plan = self._plan(task, images, params, options)
        if not plan.refs:
            return []
        return self._finish(plan, self._execute(plan))

    # ------------------------------------------------------------------ tasks
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
        return self._call("structured-answering", image, _schema_param(schema, output_structure), options)

    def run(self, task: str, image: Any, **params: Any) -> Any:
        """Run a task by name: a block task type (``"object-detection"``) or a method name (``"detect"``).

        Args:
            task: The task.
            image: One image, or a list of images.
            **params: The task's parameters (``classes``, ``question``, ``text``/``prompt``, ``schema``/
                ``output_structure``, ``detailed``) and call options.
        """
        options = {k: params.pop(k) for k in list(params) if k in CallOptions.__annotations__}
        return self._call(task, image, params, options)  # type: ignore[arg-type]

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
            outcome: list[GenerationResponse] | BaseException
            async with semaphore:
                try:
                    outcome = await backend.agenerate(batch)
                except Exception as exc:
                    outcome = exc
            out = self._settle(batch, outcome)
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

    async def _call(self, task: str, images: Any, params: dict[str, Any], options: CallOptions) -> Any:
        import asyncio

        plan = await asyncio.to_thread(self._plan, task, images, params, options)
        if not plan.refs:
            return []
        return self._finish(plan, await self._execute(plan))

    @overload
    async def prompt(
        self, image: ImageBatch, text: str, **options: Unpack[CallOptions]
    ) -> list[TextResult]: ...
    @overload
    async def prompt(self, image: ImageInput, text: str, **options: Unpack[CallOptions]) -> TextResult: ...
    async def prompt(self, image: Any, text: str, **options: Unpack[CallOptions]) -> Any:
        """Async :meth:`QwenVLM.prompt`."""
        return await self._call("unconstrained", image, {"text": text}, options)

    @overload
    async def ocr(self, image: ImageBatch, **options: Unpack[CallOptions]) -> list[TextResult]: ...
    @overload
    async def ocr(self, image: ImageInput, **options: Unpack[CallOptions]) -> TextResult: ...
    async def ocr(self, image: Any, **options: Unpack[CallOptions]) -> Any:
        """Async :meth:`QwenVLM.ocr`."""
        return await self._call("ocr", image, {}, options)

    @overload
    async def ask(
        self, image: ImageBatch, question: str, **options: Unpack[CallOptions]
    ) -> list[TextResult]: ...
    @overload
    async def ask(self, image: ImageInput, question: str, **options: Unpack[CallOptions]) -> TextResult: ...
    async def ask(self, image: Any, question: str, **options: Unpack[CallOptions]) -> Any:
        """Async :meth:`QwenVLM.ask`."""
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
        """Async :meth:`QwenVLM.caption`."""
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
        """Async :meth:`QwenVLM.classify`."""
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
        """Async :meth:`QwenVLM.classify_multi`."""
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
        """Async :meth:`QwenVLM.detect`."""
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
        """Async :meth:`QwenVLM.point`."""
        return await self._call("point", image, {"classes": classes}, options)

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
        """Async :meth:`QwenVLM.extract`."""
        params = _schema_param(schema, output_structure)
        return await self._call("structured-answering", image, params, options)

    async def run(self, task: str, image: Any, **params: Any) -> Any:
        """Async :meth:`QwenVLM.run`."""
        options = {k: params.pop(k) for k in list(params) if k in CallOptions.__annotations__}
        return await self._call(task, image, params, options)  # type: ignore[arg-type]

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
