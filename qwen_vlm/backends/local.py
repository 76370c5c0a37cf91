"""The local backend: Qwen-VL checkpoints on this machine with Hugging Face transformers (5.x).

One loading path for every family: ``AutoModelForImageTextToText`` + ``AutoProcessor``. Images are
preprocessed by the checkpoint's own processor (the model card's recipe), and the processor's whole output
goes to ``generate`` (it carries ``mm_token_type_ids`` and ``image_grid_thw``). The resized size the
processor produced (``image_grid_thw`` x patch size) is reported with every answer, so Qwen2.5-VL's
absolute coordinates convert exactly. Batches use left padding; a lock makes one client safe to share.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import prompts
from ..errors import (
    BackendError,
    ConfigurationError,
    MissingDependencyError,
    ModelNotFoundError,
    OutOfMemoryError,
    QwenVLMError,
)
from ..models import FAMILIES, REGISTRY, Family, ModelInfo, family_from_model_type, resolve_model
from ..options import (
    check_bool,
    check_callable_or_mapping,
    check_choice,
    check_int,
    check_mapping,
    check_path_or_str,
    check_str,
)
from ..results import Usage
from ..thinking import ThinkingSplitter, split_thinking
from . import scoring
from .base import GenerationRequest, GenerationResponse, StreamChunk, stream_chunks
from .grammar import GrammarEngine, GrammarProcessor, RowGrammar
from .prefix_cache import PrefixCache, PrefixEntry, cache_bytes, image_key

__all__ = ["LocalBackend", "pick_device"]

_IMAGE_END = "<|vision_end|>"

logger = logging.getLogger("qwen_vlm")

#: A function of the tokenizer returning extra ``generate`` keyword arguments (e.g. a logits processor).
GenerateKwargs = dict[str, Any] | Callable[[Any], dict[str, Any]]


def _require(package: str, purpose: str, extra: str = "local") -> Any:
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingDependencyError(package, extra, purpose) from None


def pick_device(torch: Any) -> str:
    """The best available device: CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _config_family(model: str, revision: str | None, local_files_only: bool | None) -> Family | None:
    """Read ``model_type`` from a local directory's config.json, or through the hub cache.

    ``model`` has been through :func:`_checkpoint_id`: a path-like id is an existing folder by now.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise ConfigurationError(
                f"{model!r} is a directory without config.json; is it a model checkpoint?"
            )
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"{str(config)!r} is not a readable JSON file ({type(exc).__name__}: {exc}); "
                "is the checkpoint complete?"
            ) from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{str(config)!r} does not hold a JSON object; is it a model config?")
        model_type = str(data.get("model_type", ""))
        family = family_from_model_type(model_type)
        if family is None:
            raise ConfigurationError(
                f"{model!r} is a {model_type!r} checkpoint, not a Qwen-VL one (qwen2_vl, qwen2_5_vl, "
                "qwen3_vl, qwen3_vl_moe, qwen3_5, qwen3_5_moe)"
            )
        return family
    if model in REGISTRY:
        return None
    transformers = _require("transformers", "The local backend")
    try:
        config = transformers.AutoConfig.from_pretrained(
            model, revision=revision, trust_remote_code=False, local_files_only=bool(local_files_only)
        )
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(_fetch_failed(model, exc)) from None
    return family_from_model_type(getattr(config, "model_type", ""))


def _hub_host() -> tuple[str, int]:
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face Hub (or ``HF_ENDPOINT``) opens within ``timeout``."""
    import socket

    try:
        socket.create_connection(_hub_host(), timeout=timeout).close()
        return True
    except OSError:
        return False


def _in_cache(model: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(model, "config.json", revision=revision)
    return isinstance(found, str)


def _fetch_failed(model: str, exc: BaseException) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True")
    reason = (
        "the Hugging Face Hub is switched off (HF_HUB_OFFLINE=1)" if offline else "it could not be fetched"
    )
    return (
        f"cannot load model {model!r}: {reason} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
        "Check the repo id and your network, or download the checkpoint elsewhere and pass its local "
        "directory: QwenVLM('/path/to/checkpoint')"
    )


def _looks_like_path(model: str) -> bool:
    return (
        model.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or model in (".", "..")
        or os.path.isabs(model)
        or "\\" in model
        or model.count("/") > 1
    )


def _checkpoint_id(model: str) -> str:
    """A repo id unchanged, or a local folder with ``~`` expanded.

    Raises:
        ModelNotFoundError: For a path-like id (``/x``, ``./x``, ``~/x``...) whose folder does not exist.
    """
    path = Path(model).expanduser()
    try:
        exists = path.exists()
    except (OSError, ValueError):
        exists = False
    if exists or _looks_like_path(model):
        if not exists:
            raise ModelNotFoundError(
                f"no checkpoint folder at {model!r} ({path}): it does not exist. Pass the folder that holds "
                "config.json and the weights, or a Hugging Face repo id such as 'Qwen/Qwen3-VL-2B-Instruct'"
            )
        if not path.is_dir():
            raise ModelNotFoundError(
                f"{model!r} is a file, not a checkpoint folder; pass the folder that holds config.json"
            )
        return str(path)
    return model


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
            tasks; see :mod:`qwen_vlm.backends.prefix_cache`); ``0`` switches reuse off.
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
        model = _checkpoint_id(check_path_or_str("model", model, optional=False) or "")
        known = REGISTRY.get(model)
        if known is not None and "local" not in known.backends:
            resolve_model(model, "local")  # raises with the valid choices, before any import
        check_choice("family", family, tuple(FAMILIES))
        check_int("batch_size", batch_size, optional=False)
        check_str("device", device)
        if device_map is not None and not isinstance(device_map, str):
            check_mapping("device_map", device_map)
        check_str("dtype", dtype, optional=False)
        check_str("attn_implementation", attn_implementation)
        check_str("revision", revision)
        check_bool("lazy", lazy, optional=False)
        check_int("min_pixels", min_pixels)
        check_int("max_pixels", max_pixels)
        adapter = check_path_or_str("adapter", adapter)
        check_bool("local_files_only", local_files_only)
        check_callable_or_mapping("generate_kwargs", generate_kwargs)
        check_int("prefix_cache_mb", prefix_cache_mb, optional=False, minimum=0)
        if device is not None and device_map is not None:
            raise ConfigurationError("pass either device= or device_map=, not both")
        if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
            raise ConfigurationError(f"min_pixels ({min_pixels}) is above max_pixels ({max_pixels})")
        self._torch = _require("torch", "The local backend")
        _require("torchvision", "The Qwen-VL processors")
        self._transformers = _require("transformers", "The local backend")
        if adapter is not None:
            _require("peft", "LoRA adapters (adapter=)", extra="peft")
        if local_files_only is None:
            local_files_only = os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True")
        if not local_files_only and not Path(model).expanduser().is_dir() and not _hub_reachable():
            # Fail in seconds with a clear message instead of minutes of download retries.
            if not _in_cache(model, revision):
                host, _ = _hub_host()
                raise ModelNotFoundError(
                    f"cannot download model {model!r}: the Hugging Face Hub ({host}) is not reachable from "
                    "this machine and the model is not in the local cache. Connect to the internet, set "
                    "HF_ENDPOINT to a mirror, or download the checkpoint elsewhere and pass its local "
                    "directory: QwenVLM('/path/to/checkpoint')"
                )
            local_files_only = True
        config_family = _config_family(model, revision, local_files_only)
        self.info: ModelInfo = resolve_model(model, "local", family=family, config_family=config_family)
        self.max_batch_size = batch_size
        self._model_id = model
        self._device = device or (None if device_map is not None else pick_device(self._torch))
        self._device_map = device_map
        self._dtype = dtype
        self._attn = attn_implementation
        self._revision = revision
        self._adapter = adapter
        self._local_only = local_files_only
        self._min_pixels = min_pixels
        self._max_pixels = max_pixels
        self._generate_kwargs = generate_kwargs
        self._check_device()
        self._torch_dtype()  # an unknown dtype fails now, not at the first call of a lazy client
        self._lock = threading.RLock()
        self._model: Any = None
        self._processor: Any = None
        self._engine: GrammarEngine | None = None
        self._warned_grammar = False
        self.prefix_cache = PrefixCache(prefix_cache_mb * 1024 * 1024)
        self._rope_module: Any = None
        self._cache_name: str | None = None
        if not lazy:
            self.load()

    def __repr__(self) -> str:
        state = "loaded" if self._model is not None else "not loaded"
        return (
            f"LocalBackend(model={self._model_id!r}, family={self.info.family!r}, "
            f"device={self._device!r}, {state})"
        )

    # ------------------------------------------------------------------ loading
    def _check_device(self) -> None:
        if self._device is None:
            return
        torch = self._torch
        try:
            kind = torch.device(self._device).type
        except (RuntimeError, TypeError):
            raise ConfigurationError(
                f"unknown device {self._device!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'"
            ) from None
        if kind == "cuda" and not torch.cuda.is_available():
            raise ConfigurationError(f"device {self._device!r} was asked for, but CUDA is not available here")
        if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigurationError(
                f"device {self._device!r} was asked for, but Apple MPS is not available here"
            )

    def _torch_dtype(self) -> Any:
        if self._dtype == "auto":
            # Checkpoints are bfloat16; CPUs run float32 much faster and exactly.
            return self._torch.float32 if self._device == "cpu" else "auto"
        value = getattr(self._torch, str(self._dtype), None)
        if not isinstance(value, self._torch.dtype):
            raise ConfigurationError(
                f"unknown dtype {self._dtype!r}; use 'auto', 'bfloat16', 'float16' or 'float32'"
            )
        return value

    def load(self) -> None:
        """Load the processor and the weights (done at construction unless ``lazy=True``)."""
        with self._lock:
            if self._model is not None:
                return
            tf = self._transformers
            common: dict[str, Any] = {"revision": self._revision, "local_files_only": self._local_only}
            kwargs: dict[str, Any] = {
                **common,
                "dtype": self._torch_dtype(),
                "trust_remote_code": False,
                "use_safetensors": True,
            }
            if self._attn is not None:
                kwargs["attn_implementation"] = self._attn
            if self._device_map is not None:
                kwargs["device_map"] = self._device_map
            try:
                processor = tf.AutoProcessor.from_pretrained(
                    self._model_id, trust_remote_code=False, **common
                )
                model = tf.AutoModelForImageTextToText.from_pretrained(self._model_id, **kwargs)
            except OSError as exc:
                raise ModelNotFoundError(_fetch_failed(self._model_id, exc)) from None
            except self._torch.OutOfMemoryError as exc:
                raise OutOfMemoryError(
                    f"out of memory loading {self._model_id!r}: {exc}", batch_size=0
                ) from None
            if self._adapter is not None:
                from peft import PeftModel

                try:
                    model = PeftModel.from_pretrained(model, self._adapter, revision=self._revision)
                except (OSError, ValueError) as exc:
                    raise ModelNotFoundError(_fetch_failed(self._adapter, exc)) from None
            if self._device_map is None and self._device is not None:
                model = model.to(self._device)
            model.eval()
            processor.tokenizer.padding_side = "left"
            self._processor = processor
            self._model = model

    @property
    def processor(self) -> Any:
        """The checkpoint's processor (loads the model if needed)."""
        self.load()
        return self._processor

    @property
    def model(self) -> Any:
        """The transformers model (loads it if needed)."""
        self.load()
        return self._model

    # ------------------------------------------------------------------ generation
    def _image_kwargs(self) -> dict[str, Any]:
        if self._min_pixels is None and self._max_pixels is None:
            return {}
        size = dict(self._processor.image_processor.size)
        if self._min_pixels is not None:
            size["shortest_edge"] = self._min_pixels
        if self._max_pixels is not None:
            size["longest_edge"] = self._max_pixels
        return {"size": size}

    def _inputs(
        self, requests: Sequence[GenerationRequest], images: list[list[Any]], enable_thinking: bool | None
    ) -> tuple[Any, list[str]]:
        processor = self._processor
        texts = [
            self._template(r.prompt, enable_thinking, len(group))
            for r, group in zip(requests, images, strict=True)
        ]
        flat = [image for group in images for image in group]
        inputs = processor(text=texts, images=flat, padding=True, return_tensors="pt", **self._image_kwargs())
        return inputs, texts

    def _generate(
        self,
        requests: Sequence[GenerationRequest],
        images: list[list[Any]],
        streaming: dict[str, Any] | None = None,
        on_prompts: Callable[[list[str]], None] | None = None,
    ) -> list[GenerationResponse]:
        """Generate for requests whose images (``images[i]``: one, or a group's) are already read."""
        torch = self._torch
        first = requests[0]
        reuse = len(requests) == 1 and (self.prefix_cache.max_bytes > 0 or bool(first.classes))
        prefix = self._prefix_entry(first, images[0]) if reuse and first.video is None else None
        if first.video is not None:
            inputs, texts = self._video_inputs(first)
            grids = inputs["video_grid_thw"].tolist()
        elif prefix is None:
            inputs, texts = self._inputs(requests, images, first.enable_thinking)
            inputs = inputs.to(self._model.device)
            grids = inputs["image_grid_thw"].tolist()
        else:
            inputs, texts = self._from_prefix(prefix[0], prefix[2]), [prefix[1]]
            grids = prefix[0].image_grid_thw.tolist()
        if on_prompts is not None:
            on_prompts(texts)
        extra = self._generate_kwargs
        if callable(extra):
            extra = extra(self._processor.tokenizer)
        temperature = first.temperature
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": float(temperature)}
            if temperature
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        max_new = max(r.max_tokens for r in requests)
        patch = int(getattr(self._processor.image_processor, "patch_size", 14))
        seen = [(int(w) * patch, int(h) * patch) for _, h, w in grids]
        starts = [sum(len(group) for group in images[:i]) for i in range(len(images))]
        per_request = [tuple(seen[s : s + len(group)]) for s, group in zip(starts, images, strict=True)]
        sizes = [(max(w for w, _ in g), max(h for _, h in g)) for g in per_request]  # the largest, for bounds
        grammar = self._grammar(requests, texts, sizes)
        extra = dict(extra or {})
        if grammar is not None:
            processors = self._transformers.LogitsProcessorList(extra.pop("logits_processor", None) or [])
            processors.append(grammar)
            extra["logits_processor"] = processors
        with torch.inference_mode():
            output = self._model.generate(
                **inputs, max_new_tokens=max_new, **sampling, **extra, **(streaming or {})
            )
        closed_early = grammar.closed_early() if grammar is not None else [False] * len(requests)
        prompt_len = inputs["input_ids"].shape[1]
        generated = output[:, prompt_len:]
        tokenizer = self._processor.tokenizer
        stop_ids = set(self._stop_ids())
        mask = inputs["attention_mask"]
        responses = []
        for i, request in enumerate(requests):
            tokens = generated[i].tolist()[: request.max_tokens]
            end = next((k for k, t in enumerate(tokens) if t in stop_ids), None)
            finish = "stop" if end is not None and not closed_early[i] else "length"
            kept = tokens if end is None else tokens[:end]
            raw = tokenizer.decode(kept, skip_special_tokens=False)
            started = texts[i].rstrip().endswith("<think>")
            thinking, answer = split_thinking(raw, thinking_started=started)
            prompt_tokens = int(mask[i].sum())
            completion_tokens = len(kept) + (1 if end is not None else 0)
            responses.append(
                GenerationResponse(
                    text=answer,
                    thinking=thinking,
                    input_size=per_request[i][0],
                    input_sizes=per_request[i] if len(per_request[i]) > 1 else None,
                    time_offset=self._time_offset(request),
                    usage=Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens),
                    finish_reason=finish,
                    scores=self._scores(request, prefix[0]) if prefix is not None else None,
                )
            )
        return responses

    # ------------------------------------------------------------------ video
    def _video_inputs(self, request: GenerationRequest) -> tuple[Any, list[str]]:
        """The processor's inputs for a video: its sampled frames with their indices and frame rate.

        Those make the model's time encoding right: Qwen2.5-VL's time positions, Qwen3's frame timestamps.
        """
        import numpy as np

        clip = request.video
        assert clip is not None
        text = self._template(request.prompt, request.enable_thinking, video=True)
        frames = np.stack([np.asarray(frame) for frame in clip.frames])
        width, height = clip.size
        metadata = self._transformers.video_utils.VideoMetadata(
            total_num_frames=clip.total_frames,
            fps=clip.fps,
            frames_indices=list(clip.indices),
            duration=clip.duration,
            width=width,
            height=height,
        )
        options: dict[str, Any] = {"do_sample_frames": False, "video_metadata": [metadata]}
        if clip.max_pixels is not None:  # Video(max_pixels=...): the per-frame budget
            size = dict(self._processor.video_processor.size)
            size["longest_edge"] = clip.max_pixels
            size["shortest_edge"] = min(int(size.get("shortest_edge") or clip.max_pixels), clip.max_pixels)
            options["size"] = {k: v for k, v in size.items() if v is not None}
        if hasattr(self._processor.video_processor, "cap_pixels_per_frame"):
            options["cap_pixels_per_frame"] = True  # the reference (qwen-vl-utils) per-frame pixel cap
        inputs = self._processor(text=[text], videos=[frames], return_tensors="pt", **options)
        return inputs.to(self._model.device), [text]

    def sample_video(self, total: int, rate: float, video: Any) -> list[int]:
        """Which frames of a video file to keep: the checkpoint's own sampler at ``video.fps``.

        The same choice as transformers' recipe (``load_video`` with the processor's ``sample_frames``).
        """
        self.load()
        metadata = self._transformers.video_utils.VideoMetadata(total_num_frames=total, fps=rate)
        indices = self._processor.video_processor.sample_frames(metadata, fps=video.fps)
        return [int(k) for k in indices]

    def _time_offset(self, request: GenerationRequest) -> float:
        """Seconds to add to a video answer's times: Qwen2-VL and Qwen2.5-VL count from the first frame."""
        if request.video is None or self.info.family not in ("qwen2_vl", "qwen2_5_vl"):
            return 0.0
        return float(request.video.timestamps[0])

    # ------------------------------------------------------------------ prefix reuse
    def _template(
        self, prompt: str, enable_thinking: bool | None, images: int = 1, video: bool = False
    ) -> str:
        parts: list[dict[str, Any]] = (
            [{"type": "video"}] if video else [{"type": "image"} for _ in range(images)]
        )
        conversation = [{"role": "user", "content": [*parts, {"type": "text", "text": prompt}]}]
        options: dict[str, Any] = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
        text: str = self._processor.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True, **options
        )
        return text

    def _prefix_entry(
        self, request: GenerationRequest, images: list[Any]
    ) -> tuple[PrefixEntry, str, str] | None:
        """The images' prefix state (cached, or built and kept if reuse is on), prompt and text after it.

        The prefix ends after the last image. ``None`` when the template does not put the images first.
        """
        text = self._template(request.prompt, request.enable_thinking, len(images))
        if text.count(_IMAGE_END) != len(images):
            return None
        head, suffix = text.rsplit(_IMAGE_END, 1)
        key = "|".join(image_key(image, f"{self._image_kwargs()}|{head}") for image in images)
        entry = self.prefix_cache.get(key) if self.prefix_cache.max_bytes > 0 else None
        if entry is None:
            entry = self._prefill(text, images)
            if entry is not None and self.prefix_cache.max_bytes > 0:
                self.prefix_cache.put(key, entry)
        return None if entry is None else (entry, text, suffix)

    def _from_prefix(self, entry: PrefixEntry, suffix: str) -> dict[str, Any]:
        """``generate`` inputs that continue a copy of ``entry``'s cache with ``suffix``."""
        torch = self._torch
        tail = self._tokens(suffix)
        input_ids = torch.cat([entry.input_ids, torch.tensor([tail], device=entry.input_ids.device)], dim=1)
        # This image's rotary offset: transformers keeps the last call's on the model and would use it
        # for a cached prefix, which is wrong whenever another image ran in between.
        self._rope().rope_deltas = entry.rope_delta
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            self._cache_kwarg(): copy.deepcopy(entry.cache),
        }

    def _tokens(self, text: str) -> list[int]:
        return [int(t) for t in self._processor.tokenizer.encode(text, add_special_tokens=False)]

    def _prefill(self, text: str, images: list[Any]) -> PrefixEntry | None:
        """Run the vision encoder and the model over the prompt up to the last image's end; keep the cache."""
        tf, torch = self._transformers, self._torch
        inputs = self._processor(
            text=[text], images=list(images), return_tensors="pt", **self._image_kwargs()
        ).to(self._model.device)
        ids = inputs["input_ids"][0].tolist()
        end_id = self._processor.tokenizer.convert_tokens_to_ids(_IMAGE_END)
        if ids.count(end_id) != len(images) or "mm_token_type_ids" not in inputs:
            return None
        cut = len(ids) - ids[::-1].index(end_id)
        prefix = {
            k: (v[:, :cut] if k in ("input_ids", "attention_mask", "mm_token_type_ids") else v)
            for k, v in inputs.items()
        }
        _, rope_delta = self._rope().get_rope_index(
            prefix["input_ids"],
            image_grid_thw=inputs["image_grid_thw"],
            attention_mask=prefix["attention_mask"],
            mm_token_type_ids=prefix["mm_token_type_ids"],
        )
        cache = tf.DynamicCache(config=self._model.config)
        with torch.inference_mode():
            self._model(**prefix, **{self._cache_kwarg(): cache}, use_cache=True)
        return PrefixEntry(
            input_ids=prefix["input_ids"],
            image_grid_thw=inputs["image_grid_thw"],
            rope_delta=rope_delta,
            cache=cache,
            nbytes=cache_bytes(cache),
        )

    def _scores(self, request: GenerationRequest, entry: PrefixEntry) -> dict[str, float] | None:
        """Class scores for a classification request (see :mod:`qwen_vlm.backends.scoring`)."""
        classes = request.classes
        if not classes:
            return None
        thinking = False if self.info.thinking == "hybrid" else None

        count = 1 + len(request.more_images)

        def after_image(prompt: str) -> list[int]:
            text = self._template(prompt, thinking, count)
            if text.rstrip().endswith("<think>"):  # always-thinking: scored as answering at once
                text = text.rstrip() + "\n\n</think>\n\n"
            return self._tokens(text.rsplit(_IMAGE_END, 1)[1])

        rows: list[tuple[list[int], int]] = []
        if request.task == "classification":
            tail = after_image(request.prompt)
            end = self._stop_ids()[:1]
            for label in classes:
                answer = self._tokens(scoring.single_label_answer(label)) + end
                rows.append((tail + answer, len(answer)))
        else:
            for label in classes:
                tail = after_image(prompts.presence_prompt(label))
                for word in scoring.multi_label_answers():
                    answer = self._tokens(word)
                    rows.append((tail + answer, len(answer)))
        logprobs = scoring.sequence_logprobs(
            self._torch,
            self._rope(),
            self._model.get_output_embeddings(),
            entry.cache,
            int(entry.input_ids.shape[1]),
            entry.rope_delta,
            rows,
            int(self._processor.tokenizer.pad_token_id or 0),
            self._cache_kwarg(),
        )
        if request.task == "classification":
            return dict(zip(classes, scoring.normalise(logprobs), strict=True))
        width = len(scoring.multi_label_answers())
        return {
            label: scoring.presence(logprobs[k * width : (k + 1) * width]) for k, label in enumerate(classes)
        }

    def _cache_kwarg(self) -> str:
        """``"cache"`` (transformers >= 5.24) or ``"past_key_values"`` (older, deprecated since)."""
        if self._cache_name is None:
            import inspect

            parameters = inspect.signature(self._rope().forward).parameters
            self._cache_name = "cache" if "cache" in parameters else "past_key_values"
        return self._cache_name

    def _rope(self) -> Any:
        """The submodule that computes multimodal rotary positions (found once; LoRA wraps the model)."""
        if self._rope_module is None:
            self._rope_module = next(
                m for m in self._model.modules() if hasattr(m, "get_rope_index") and hasattr(m, "rope_deltas")
            )
        return self._rope_module

    def clear_prefix_cache(self) -> None:
        """Forget every image's cached prefix (they are also dropped, oldest first, when memory runs out)."""
        self.prefix_cache.clear()

    # ------------------------------------------------------------------ grammar
    def _grammar(
        self, requests: Sequence[GenerationRequest], texts: list[str], sizes: list[tuple[int, int]]
    ) -> GrammarProcessor | None:
        """The logits processor constraining the rows that have a constraint (``None`` if none has)."""
        if all(r.constraint is None for r in requests):
            return None
        engine = self._grammar_engine()
        if engine is None:
            return None
        rows: list[RowGrammar | None] = []
        for request, text, size in zip(requests, texts, sizes, strict=True):
            if request.constraint is None:
                rows.append(None)
                continue
            grammar, reserve = engine.compiled(request.constraint, size)
            thinking = text.rstrip().endswith("<think>")
            limits = None
            if request.constraint.kind == "detect":
                limits = size if request.constraint.coordinates == "absolute" else (1000, 1000)
            rows.append(RowGrammar(grammar, reserve, request.max_tokens, thinking, limits))
        return GrammarProcessor(engine, rows)

    def _check_grammars(self, requests: Sequence[GenerationRequest]) -> None:
        """Compile each user schema once up front, so a schema xgrammar refuses fails the call at once."""
        schemas = {id(r.constraint): r.constraint for r in requests if r.constraint is not None}
        extracts = [c for c in schemas.values() if c.kind == "extract"]
        engine = self._grammar_engine() if extracts else None
        if engine is None:
            return
        for constraint in extracts:
            try:
                engine.compiled(constraint, None)
            except ConfigurationError as exc:
                exc.whole_call = True
                raise

    def _grammar_engine(self) -> GrammarEngine | None:
        if self._engine is None:
            try:
                import xgrammar  # noqa: F401
            except ImportError:
                if not self._warned_grammar:
                    self._warned_grammar = True
                    logger.warning(
                        "xgrammar is not installed, so structured tasks are generated without a grammar "
                        "(pip install 'qwen-vlm[local]', or pass constrained=False to silence this)"
                    )
                return None
            vocab = int(self._model.config.get_text_config().vocab_size)
            self._engine = GrammarEngine(self._processor.tokenizer, vocab, self._stop_ids())
        return self._engine

    def _stop_ids(self) -> list[int]:
        eos = self._model.generation_config.eos_token_id
        ids = list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
        pad = self._processor.tokenizer.pad_token_id
        return [*ids, pad] if pad is not None else ids

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Run a batch; requests that differ in sampling or thinking run in separate sub-batches.

        Raises:
            ConfigurationError: If an ``extract`` schema cannot be compiled into a grammar (before any
                generation).
        """
        self.load()
        self._check_grammars(requests)
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
            alone = i if request.classes or request.video is not None else None
            groups.setdefault((request.temperature or None, request.enable_thinking, alone), []).append(i)
        with self._lock:
            for indices in groups.values():
                batch = [requests[i] for i in indices]
                try:
                    out = self._generate(batch, [pixels[i] for i in indices])
                except self._torch.OutOfMemoryError as exc:
                    if self._device and str(self._device).startswith("cuda"):
                        self._torch.cuda.empty_cache()
                    error = OutOfMemoryError(
                        f"out of memory generating for a batch of {len(batch)} image(s) on {self._device}: "
                        f"{str(exc).splitlines()[0]}; lower batch_size= or max_pixels=",
                        batch_size=len(batch),
                    )
                    out = [GenerationResponse(text="", error=error) for _ in batch]
                except QwenVLMError:
                    raise
                for i, response in zip(indices, out, strict=True):
                    responses[i] = response
        return [r for r in responses if r is not None]

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        """Stream one request: generation runs on a worker thread; closing the iterator stops it at once.

        Raises:
            ImageError: If the image cannot be read.
        """
        self.load()
        return _LocalStream(self, request, [ref.pil() for ref in request.images])

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Async :meth:`generate` (runs in a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.generate, requests)

    def close(self) -> None:
        """Drop the model and free device memory."""
        with self._lock:
            self._model = None
            self._processor = None
            self._engine = None
            self._rope_module = None
            self._cache_name = None
            self.prefix_cache.clear()
            if self._device and str(self._device).startswith("cuda"):
                self._torch.cuda.empty_cache()


class _LocalStream:
    """One streamed local generation: a worker thread runs ``generate`` with a text streamer.

    ``close()`` (also on ``break`` through :class:`~qwen_vlm.streaming.Stream`) sets a stopping criterion
    that ends generation at the next token and waits for the worker, so the backend's lock is free when
    it returns.
    """

    def __init__(self, backend: LocalBackend, request: GenerationRequest, image: Any) -> None:
        tf = backend._transformers
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
                return backend._torch.full(
                    (input_ids.shape[0],), stop.is_set(), dtype=backend._torch.bool, device=input_ids.device
                )

        streaming = {
            "streamer": QueueStreamer(
                backend._processor.tokenizer, skip_prompt=True, skip_special_tokens=False
            ),
            "stopping_criteria": tf.StoppingCriteriaList([StopWhenClosed()]),
        }
        self._thread = threading.Thread(
            target=self._run, args=(backend, request, image, streaming), name="qwen-vlm-stream", daemon=True
        )
        self._thread.start()

    def _run(self, backend: LocalBackend, request: GenerationRequest, image: Any, streaming: Any) -> None:
        def on_prompts(texts: list[str]) -> None:
            self._queue.put(("started", texts[0].rstrip().endswith("<think>")))

        try:
            with backend._lock:
                if backend._model is None:
                    raise BackendError("the model was closed")
                response = backend._generate([request], [image], streaming, on_prompts)[0]
            self._queue.put(("done", response))
        except backend._torch.OutOfMemoryError as exc:
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
