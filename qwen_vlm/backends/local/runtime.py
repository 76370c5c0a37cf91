"""A loaded checkpoint: the model, its processor, and the helpers every generation path shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...geometry import PixelBudget, smart_resize
from ...models import ModelInfo

__all__ = ["IMAGE_END", "Runtime"]

#: The token that ends an image (or a group's last image) in the prompt.
IMAGE_END = "<|vision_end|>"


@dataclass
class Runtime:
    """The model and processor of one loaded checkpoint, with torch and transformers.

    Attributes:
        torch: The ``torch`` module.
        transformers: The ``transformers`` module.
        model: The loaded model (``AutoModelForImageTextToText``, or a peft model over it).
        processor: Its processor (left padding).
        info: The model's registry facts.
        min_pixels: Override of the processor's lower pixel bound, or ``None``.
        max_pixels: Override of its upper pixel bound, or ``None``.
    """

    torch: Any
    transformers: Any
    model: Any
    processor: Any
    info: ModelInfo
    min_pixels: int | None = None
    max_pixels: int | None = None
    _rope_module: Any = field(default=None, init=False, repr=False)
    _cache_name: str | None = field(default=None, init=False, repr=False)

    @property
    def tokenizer(self) -> Any:
        """The processor's tokenizer."""
        return self.processor.tokenizer

    def image_kwargs(self) -> dict[str, Any]:
        """Processor options for images: the pixel bounds, when overridden."""
        if self.min_pixels is None and self.max_pixels is None:
            return {}
        size = dict(self.processor.image_processor.size)
        if self.min_pixels is not None:
            size["shortest_edge"] = self.min_pixels
        if self.max_pixels is not None:
            size["longest_edge"] = self.max_pixels
        return {"size": size}

    def seen_size(self, width: int, height: int) -> tuple[int, int]:
        """The ``(width, height)`` the processor resizes an image of this size to (its pixel bounds)."""
        budget = self.pixel_budget()
        return smart_resize(
            width, height, factor=budget.factor, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels
        )

    def pixel_budget(self) -> PixelBudget:
        """The processor's bounds (with this client's ``min_pixels``/``max_pixels``) and its factor."""
        processor = self.processor.image_processor
        size = {**dict(processor.size), **self.image_kwargs().get("size", {})}
        factor = self.patch_size() * int(getattr(processor, "merge_size", 2))
        return PixelBudget(factor, int(size["shortest_edge"]), int(size["longest_edge"]))

    def patch_size(self) -> int:
        """Pixels per patch side of the image processor."""
        return int(getattr(self.processor.image_processor, "patch_size", 14))

    def template(
        self,
        prompt: str,
        enable_thinking: bool | None,
        images: int = 1,
        video: bool = False,
        system: str | None = None,
    ) -> str:
        """The chat-templated prompt: a system message if any, the images or video, the text, the reply."""
        parts: list[dict[str, Any]] = (
            [{"type": "video"}] if video else [{"type": "image"} for _ in range(images)]
        )
        conversation: list[dict[str, Any]] = (
            [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
        )
        conversation.append({"role": "user", "content": [*parts, {"type": "text", "text": prompt}]})
        options: dict[str, Any] = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
        text: str = self.processor.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True, **options
        )
        return text

    def tokens(self, text: str) -> list[int]:
        """Token ids of ``text``, without special tokens added."""
        return [int(t) for t in self.tokenizer.encode(text, add_special_tokens=False)]

    def stop_ids(self) -> list[int]:
        """Ids that end an answer: the generation config's end-of-sequence ids and the pad id."""
        eos = self.model.generation_config.eos_token_id
        ids = list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
        pad = self.tokenizer.pad_token_id
        return [*ids, pad] if pad is not None else ids

    def rope(self) -> Any:
        """The submodule that computes multimodal rotary positions (found once; LoRA wraps the model)."""
        if self._rope_module is None:
            self._rope_module = next(
                m for m in self.model.modules() if hasattr(m, "get_rope_index") and hasattr(m, "rope_deltas")
            )
        return self._rope_module

    def cache_kwarg(self) -> str:
        """``"cache"`` (transformers >= 5.24) or ``"past_key_values"`` (older, deprecated since)."""
        if self._cache_name is None:
            import inspect

            parameters = inspect.signature(self.rope().forward).parameters
            self._cache_name = "cache" if "cache" in parameters else "past_key_values"
        return self._cache_name
