"""How much of a video a model takes in one request: :class:`VideoBudget`, per family (pure).

The numbers are Qwen's own recipes (``qwen-vl-utils``' ``vision_process.py`` and the transformers video
processors): frames are sampled at ``fps`` (2 by default), at least 4 and at most 768 of them, in pairs
(Qwen's temporal patches are two frames); each frame is resized to between 128 and 768 visual tokens'
worth of pixels, and a whole video to at most ``total_pixels``, so the more frames are sent, the smaller
each one gets. A frame pair of ``w x h`` pixels costs ``(w / factor) * (h / factor)`` tokens, ``factor``
being 28 for Qwen2/2.5-VL and 32 for Qwen3-VL and later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigurationError
from .geometry import smart_resize
from .models import Family, ModelInfo, infer_family

__all__ = ["VideoBudget", "video_budget"]


@dataclass(frozen=True)
class VideoBudget:
    """One family's video limits, as Qwen's recipes set them.

    Attributes:
        family: The model family.
        fps: Default frames sampled per second.
        min_frames: Fewest frames a video is sampled to.
        max_frames: Most frames one request takes (``FPS_MAX_FRAMES``); a longer video needs ``window=``.
        frame_min_pixels: Smallest frame, in pixels (128 visual tokens).
        frame_max_pixels: Largest frame, in pixels (768 visual tokens).
        total_pixels: Most pixels of all frames together; past it each frame is made smaller.
        factor: Pixels per visual token side (patch size x merge size).
        context_tokens: The model's context length, in tokens.
    """

    family: Family
    fps: float
    min_frames: int
    max_frames: int
    frame_min_pixels: int
    frame_max_pixels: int
    total_pixels: int
    factor: int
    context_tokens: int

    def frame_pixels(self, frames: int, max_pixels: int | None = None) -> int:
        """The pixel budget of each of ``frames`` frames (qwen-vl-utils' rule), capped by ``max_pixels``."""
        shared = self.total_pixels / max(frames, 1) * 2  # two frames make one temporal patch
        budget = max(min(self.frame_max_pixels, shared), int(self.frame_min_pixels * 1.05))
        return int(budget if max_pixels is None else min(budget, max_pixels))

    def frame_size(
        self, size: tuple[int, int], frames: int, max_pixels: int | None = None
    ) -> tuple[int, int]:
        """``(width, height)`` each frame of a ``size`` video is sent at when ``frames`` are sent."""
        width, height = size
        ceiling = max(self.frame_pixels(frames, max_pixels), self.factor * self.factor)
        return smart_resize(
            width,
            height,
            factor=self.factor,
            min_pixels=min(self.frame_min_pixels, ceiling),
            max_pixels=ceiling,
        )

    def tokens(self, size: tuple[int, int], frames: int, max_pixels: int | None = None) -> int:
        """Visual tokens of ``frames`` frames of a ``size`` video (two frames per temporal patch)."""
        width, height = self.frame_size(size, frames, max_pixels)
        return math.ceil(frames / 2) * (width // self.factor) * (height // self.factor)

    def check(self, frames: int, max_pixels: int | None = None, *, what: str = "a video") -> None:
        """Refuse a video request the model cannot take.

        Args:
            frames: Frames to send (or the most that may be sampled).
            max_pixels: The per-frame pixel budget asked for, if any.
            what: How the error names the video.

        Raises:
            ConfigurationError: More frames than the family takes in one request, a per-frame budget
                under one visual token, or frames whose fewest tokens cannot fit the model's context.
        """
        if frames > self.max_frames:
            raise ConfigurationError(
                f"{what}: {frames} frames, but {self.family} takes at most {self.max_frames} in one request "
                "(Qwen's FPS_MAX_FRAMES); lower max_frames or pass window= to ask about a long video in parts"
            )
        token = self.factor * self.factor
        if max_pixels is not None and max_pixels < token:
            raise ConfigurationError(
                f"{what}: max_pixels={max_pixels} is less than one visual token ({self.factor}x{self.factor})"
            )
        least = math.ceil(frames / 2) * max(
            1, min(self.frame_min_pixels, max_pixels or self.frame_min_pixels) // token
        )
        if least > self.context_tokens:
            raise ConfigurationError(
                f"{what}: {frames} frames need at least {least} visual tokens, more than the model's context "
                f"of {self.context_tokens}; sample fewer frames or pass window="
            )


def _recipe(family: Family, factor: int, total_pixels: int, context_tokens: int) -> VideoBudget:
    return VideoBudget(
        family,
        fps=2.0,
        min_frames=4,
        max_frames=768,
        frame_min_pixels=128 * factor * factor,
        frame_max_pixels=768 * factor * factor,
        total_pixels=total_pixels,
        factor=factor,
        context_tokens=context_tokens,
    )


#: qwen-vl-utils' defaults: 0.0.8 for Qwen2-VL (``VIDEO_TOTAL_PIXELS = 24576 * 28 * 28``), 0.0.10+ for
#: Qwen2.5-VL (``128000 * 28 * 28 * 0.9``) and 0.0.14 for Qwen3-VL (``MODEL_SEQ_LEN * 32 * 32 * 0.9``,
#: ``MODEL_SEQ_LEN = 128000``); the context lengths are the models' own (32K, 128K, 256K).
_BUDGETS: dict[str, VideoBudget] = {
    "qwen2_vl": _recipe("qwen2_vl", 28, 24576 * 28 * 28, 32768),
    "qwen2_5_vl": _recipe("qwen2_5_vl", 28, int(128000 * 28 * 28 * 0.9), 128000),
    **{
        family: _recipe(family, 32, int(128000 * 32 * 32 * 0.9), 262144)
        for family in ("qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe")
    },
}


def video_budget(model: ModelInfo | Family | str) -> VideoBudget:
    """The video limits of a model (a :class:`~qwen_vlm.models.ModelInfo`, a family or a model id).

    Example:
        >>> from qwen_vlm import video_budget
        >>> video_budget("Qwen/Qwen2.5-VL-7B-Instruct").max_frames
        768

    Raises:
        ConfigurationError: A family or id the SDK does not know.
    """
    if isinstance(model, ModelInfo):
        return _BUDGETS[model.family]
    if model in _BUDGETS:
        return _BUDGETS[model]
    family = infer_family(model)
    if family is None:
        raise ConfigurationError(
            f"unknown model or family {model!r}; pass a family ({', '.join(_BUDGETS)}) or a Qwen-VL model id"
        )
    return _BUDGETS[family]
