"""The local backend: Qwen-VL checkpoints on this machine with Hugging Face transformers (5.x).

This module holds the backend's life cycle (options, loading, closing) and dispatch (batches by sampling
and thinking, streaming, out-of-memory handling); a lock makes one client safe to share. The work is
done by :mod:`.loading`, :mod:`.generation`, :mod:`.reuse`, :mod:`.scoring`, :mod:`.constrained`,
:mod:`.video_inputs` and :mod:`.streaming`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ...errors import ConfigurationError, OutOfMemoryError, QwenVLMError
from ...images import MAX_IMAGE_PIXELS
from ...models import FAMILIES, REGISTRY, Family, ModelInfo, resolve_model
from ...options import (
    check_bool,
    check_callable_or_mapping,
    check_choice,
    check_int,
    check_mapping,
    check_path_or_str,
    check_str,
)
from ..base import GenerationRequest, GenerationResponse, StreamChunk
from ..capabilities import Capabilities
from . import loading
from .constrained import Grammars
from .generation import GenerateKwargs, generate_batch
from .prefix_cache import PrefixCache
from .runtime import Runtime
from .streaming import LocalStream
from .video_inputs import sample_frames

__all__ = ["LocalBackend"]


class LocalBackend:
    """Qwen-VL with transformers on CPU, CUDA or Apple MPS.

    Args:
        model: A Hugging Face repo id or a local checkpoint directory (a fine-tune loads like any other).
        family: Override the family read from the checkpoint's config.
        device: ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``... (default: CUDA, then MPS, then CPU).
        device_map: Passed to ``from_pretrained`` (e.g. ``"auto"`` to shard over GPUs); excludes ``device``.
        dtype: ``"auto"`` (the checkpoint's dtype; float32 on CPU), or ``"bfloat16"``, ``"float16"``...
        attn_implementation: ``"sdpa"``, ``"flash_attention_2"``, ``"eager"``...
        revision: A branch, tag or commit to pin.
        lazy: Defer loading the weights to the first call (default: load now).
        min_pixels: Override the processor's lower pixel bound (opt-in).
        max_pixels: Override the processor's upper pixel bound (opt-in).
        batch_size: Images per ``generate`` call for a list of images (default 4).
        adapter: Path or repo id of a LoRA adapter (peft) applied on top of ``model``.
        local_files_only: Never reach the hub (default: only when ``HF_HUB_OFFLINE`` is set).
        generate_kwargs: Extra ``generate`` arguments, or a function of the tokenizer returning them.
        prefix_cache_mb: Memory for reusing an image's prompt prefix across calls (one image, many
            tasks; see :mod:`qwen_vlm.backends.local.prefix_cache`); ``0`` switches reuse off.
    """

    max_concurrency = 1
    accepts_image_groups = True

    def __init__(
        self,
        model: str,
        *,
        family: Family | None = None,
        device: str | None = None,
        device_map: str | dict[str, Any] | None = None,
        dtype: str = "auto",
        attn_implementation: str | None = None,
        revision: str | None = None,
        lazy: bool = False,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        batch_size: int = 4,
        adapter: str | None = None,
        local_files_only: bool | None = None,
        generate_kwargs: GenerateKwargs | None = None,
        prefix_cache_mb: int = 512,
    ) -> None:
        options = dict(locals())
        del options["self"]
        model, adapter = _check_options(options)
        self._torch = loading.require("torch", "The local backend")
        loading.require("torchvision", "The Qwen-VL processors")
        self._transformers = loading.require("transformers", "The local backend")
        if adapter is not None:
            loading.require("peft", "LoRA adapters (adapter=)", extra="peft")
        local_files_only = loading.offline(model, revision, local_files_only)
        config_family = loading.config_family(model, revision, local_files_only)
        self.info: ModelInfo = resolve_model(model, "local", family=family, config_family=config_family)
        self.max_batch_size = batch_size
        self._model_id = model
        self._device = device or (None if device_map is not None else loading.pick_device(self._torch))
        self._load_options: dict[str, Any] = {
            "revision": revision,
            "local_only": local_files_only,
            "attn": attn_implementation,
            "device": self._device,
            "device_map": device_map,
            "adapter": adapter,
        }
        self._dtype = dtype
        self._pixels = (min_pixels, max_pixels)
        self._generate_kwargs = generate_kwargs
        loading.check_device(self._torch, self._device)
        loading.torch_dtype(
            self._torch, dtype, self._device
        )  # an unknown dtype fails now, not when lazy loads
        self._lock = threading.RLock()
        self._runtime: Runtime | None = None
        self._grammars = Grammars()
        self.prefix_cache = PrefixCache(prefix_cache_mb * 1024 * 1024)
        if not lazy:
            self.load()

    def __repr__(self) -> str:
        state = "loaded" if self._runtime is not None else "not loaded"
        return (
            f"LocalBackend(model={self._model_id!r}, family={self.info.family!r}, "
            f"device={self._device!r}, {state})"
        )

    def store_identity(self) -> dict[str, Any]:
        """What decides this backend's answers, for result-store keys: checkpoint, adapter, dtype, pixels."""
        options = self._load_options
        return {
            "checkpoint": self._model_id,
            "revision": options["revision"],
            "adapter": options["adapter"],
            "dtype": self._dtype,
            "pixels": list(self._pixels),
            "generate_kwargs": _describe(self._generate_kwargs),
        }

    @property
    def capabilities(self) -> Capabilities:
        """What this backend can do: groups, streams, confidences, the checkpoint's own frame sampler.

        Its pixel budget is the processor's, known once the model is loaded (``None`` before).
        """
        runtime = self._runtime
        return Capabilities(
            image_groups=True,
            confidences=True,
            stream=self.stream,
            sample_video=self.sample_video,
            store_identity=self.store_identity(),
            input_size=self.input_size,
            pixel_budget=runtime.pixel_budget() if runtime is not None else None,
        )

    def input_size(self, ref: Any) -> tuple[int, int]:
        """The size the processor resizes this image to (loads the model if needed)."""
        width, height = ref.size
        return self._loaded().seen_size(width, height)

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        """Load the processor and the weights (done at construction unless ``lazy=True``)."""
        with self._lock:
            if self._runtime is not None:
                return
            dtype = loading.torch_dtype(self._torch, self._dtype, self._device)
            model, processor = loading.load(
                self._torch, self._transformers, self._model_id, dtype=dtype, **self._load_options
            )
            self._runtime = Runtime(
                self._torch, self._transformers, model, processor, self.info, *self._pixels
            )

    def _loaded(self) -> Runtime:
        self.load()
        assert self._runtime is not None
        return self._runtime

    @property
    def processor(self) -> Any:
        """The checkpoint's processor (loads the model if needed)."""
        return self._loaded().processor

    @property
    def model(self) -> Any:
        """The transformers model (loads it if needed)."""
        return self._loaded().model

    def sample_video(self, total: int, rate: float, video: Any) -> list[int]:
        """Which frames of a video file to keep: the checkpoint's own sampler at ``video.fps``."""
        return sample_frames(self._loaded(), total, rate, video.fps)

    def clear_prefix_cache(self) -> None:
        """Forget every image's cached prefix (they are also dropped, oldest first, when memory runs out)."""
        self.prefix_cache.clear()

    # ------------------------------------------------------------------ generation
    def _run(
        self, rt: Runtime, requests: Sequence[GenerationRequest], images: list[list[Any]]
    ) -> list[GenerationResponse]:
        """One sub-batch; out of memory marks its requests failed (the next batch may fit)."""
        try:
            return generate_batch(
                rt,
                requests,
                images,
                cache=self.prefix_cache,
                grammars=self._grammars,
                extra=self._generate_kwargs,
            )
        except self._torch.OutOfMemoryError as exc:
            if self._device and str(self._device).startswith("cuda"):
                self._torch.cuda.empty_cache()
            error = OutOfMemoryError(
                f"out of memory generating for a batch of {len(requests)} image(s) on {self._device}: "
                f"{str(exc).splitlines()[0]}; lower batch_size= or max_pixels=",
                batch_size=len(requests),
            )
            return [GenerationResponse(text="", error=error) for _ in requests]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Run a batch; requests that differ in sampling or thinking run in separate sub-batches.

        Raises:
            ConfigurationError: If an ``extract`` schema cannot be compiled into a grammar (before any
                generation).
        """
        rt = self._loaded()
        self._grammars.check(rt, requests)
        responses: list[GenerationResponse | None] = [None] * len(requests)
        pixels: dict[int, Any] = {}
        groups: dict[tuple[Any, Any, Any], list[int]] = {}
        for i, request in enumerate(requests):
            try:
                pixels[i] = [ref.pil() for ref in request.images]  # unreadable now: fails alone
            except QwenVLMError as exc:
                if exc.whole_call:
                    raise
                responses[i] = GenerationResponse(text="", error=exc)
                continue
            # A classification is generated alone (its scores read the same cached image prefix), a video too.
            alone = i if request.scoring is not None or request.video is not None else None
            groups.setdefault((request.temperature or None, request.enable_thinking, alone), []).append(i)
        with self._lock:
            for indices in groups.values():
                out = self._run(rt, [requests[i] for i in indices], [pixels[i] for i in indices])
                for i, response in zip(indices, out, strict=True):
                    responses[i] = response
        return [r for r in responses if r is not None]

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        """Stream one request: generation runs on a worker thread; closing the iterator stops it at once.

        Raises:
            ImageError: If the image cannot be read.
        """
        rt = self._loaded()
        images = [ref.pil() for ref in request.images]

        def run(streaming: dict[str, Any], on_prompts: Any) -> GenerationResponse:
            return generate_batch(
                rt,
                [request],
                [images],
                cache=self.prefix_cache,
                grammars=self._grammars,
                extra=self._generate_kwargs,
                streaming=streaming,
                on_prompts=on_prompts,
            )[0]

        return LocalStream(rt, self._lock, run, lambda: self._runtime is not None)

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Async :meth:`generate` (runs in a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.generate, requests)

    def close(self) -> None:
        """Drop the model and free device memory."""
        with self._lock:
            self._runtime = None
            self._grammars = Grammars()
            self.prefix_cache.clear()
            if self._device and str(self._device).startswith("cuda"):
                self._torch.cuda.empty_cache()


def _describe(value: Any) -> Any:
    """A stable description of ``generate_kwargs`` (no memory addresses): names and plain values."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    cells = [c.cell_contents for c in getattr(value, "__closure__", None) or ()]
    plain = [c for c in cells if isinstance(c, (str, int, float, bool))]
    return {"type": getattr(value, "__qualname__", type(value).__qualname__), "values": plain}


def _check_options(options: dict[str, Any]) -> tuple[str, str | None]:
    """Every constructor option checked, before anything heavy is imported; the model id and adapter.

    Raises:
        ConfigurationError: For a malformed or contradictory option.
        ModelNotFoundError: For a path-like model id whose folder does not exist.
    """
    model = loading.checkpoint_id(check_path_or_str("model", options["model"], optional=False) or "")
    known = REGISTRY.get(model)
    if known is not None and "local" not in known.backends:
        resolve_model(model, "local")  # raises with the valid choices, before any import
    check_choice("family", options["family"], tuple(FAMILIES))
    check_int("batch_size", options["batch_size"], optional=False)
    for name in ("device", "attn_implementation", "revision"):
        check_str(name, options[name])
    if options["device_map"] is not None and not isinstance(options["device_map"], str):
        check_mapping("device_map", options["device_map"])
    check_str("dtype", options["dtype"], optional=False)
    check_bool("lazy", options["lazy"], optional=False)
    for name in ("min_pixels", "max_pixels"):  # past the input guard: gigabytes an image, no model takes it
        check_int(name, options[name], maximum=MAX_IMAGE_PIXELS)
    adapter = check_path_or_str("adapter", options["adapter"])
    check_bool("local_files_only", options["local_files_only"])
    check_callable_or_mapping("generate_kwargs", options["generate_kwargs"])
    check_int("prefix_cache_mb", options["prefix_cache_mb"], optional=False, minimum=0)
    if options["device"] is not None and options["device_map"] is not None:
        raise ConfigurationError("pass either device= or device_map=, not both")
    low, high = options["min_pixels"], options["max_pixels"]
    if low is not None and high is not None and low > high:
        raise ConfigurationError(f"min_pixels ({low}) is above max_pixels ({high})")
    return model, adapter
