"""Videos on the local backend: the checkpoint's own frame sampler, and the processor's video inputs."""

from __future__ import annotations

from typing import Any

from ..base import GenerationRequest
from .runtime import Runtime

__all__ = ["sample_frames", "time_offset", "video_inputs"]


def video_inputs(rt: Runtime, request: GenerationRequest) -> tuple[Any, list[str]]:
    """The processor's inputs for a video: its sampled frames with their indices and frame rate.

    Those make the model's time encoding right: Qwen2.5-VL's time positions, Qwen3's frame timestamps.
    """
    import numpy as np

    clip = request.video
    assert clip is not None
    text = rt.template(request.prompt, request.enable_thinking, video=True, system=request.system)
    frames = np.stack([np.asarray(frame) for frame in clip.frames])
    width, height = clip.size
    metadata = rt.transformers.video_utils.VideoMetadata(
        total_num_frames=clip.total_frames,
        fps=clip.fps,
        frames_indices=list(clip.indices),
        duration=clip.duration,
        width=width,
        height=height,
    )
    options: dict[str, Any] = {"do_sample_frames": False, "video_metadata": [metadata]}
    video_processor = rt.processor.video_processor
    if clip.max_pixels is not None:  # Video(max_pixels=...): the per-frame budget
        size = dict(video_processor.size)
        size["longest_edge"] = clip.max_pixels
        size["shortest_edge"] = min(int(size.get("shortest_edge") or clip.max_pixels), clip.max_pixels)
        options["size"] = {k: v for k, v in size.items() if v is not None}
    if hasattr(video_processor, "cap_pixels_per_frame"):
        options["cap_pixels_per_frame"] = True  # the reference (qwen-vl-utils) per-frame pixel cap
    inputs = rt.processor(text=[text], videos=[frames], return_tensors="pt", **options)
    return inputs.to(rt.model.device), [text]


def sample_frames(rt: Runtime, total: int, rate: float, fps: float) -> list[int]:
    """Which frames of a video file to keep: the checkpoint's own sampler at ``fps``.

    The same choice as transformers' recipe (``load_video`` with the processor's ``sample_frames``).
    """
    metadata = rt.transformers.video_utils.VideoMetadata(total_num_frames=total, fps=rate)
    indices = rt.processor.video_processor.sample_frames(metadata, fps=fps)
    return [int(k) for k in indices]


def time_offset(rt: Runtime, request: GenerationRequest) -> float:
    """Seconds to add to a video answer's times: Qwen2-VL and Qwen2.5-VL count from the first frame."""
    if request.video is None or rt.info.family not in ("qwen2_vl", "qwen2_5_vl"):
        return 0.0
    return float(request.video.timestamps[0])
