"""Video input: :class:`Video` (a file, an http(s) URL, or frames with timestamps) and its sampled clip.

Files and URLs are decoded with PyAV (the ``video`` extra: FFmpeg's own decoders in a self-contained
wheel, the reader qwen-vl-utils and supervision also use; torchvision's reader is deprecated and decord
has no wheels for current Pythons). Frames are sampled evenly at ``fps`` (at most ``max_frames``, an even
number so Qwen's two-frame temporal patches are whole), and every sampled frame keeps its **time in the
original video**, which is what answers are reported in.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from .errors import ConfigurationError, ImageError
from .images import load_image
from .options import check_int, check_number
from .video_files import VideoError, count_frames, decode_frames, open_video

__all__ = [
    "VIDEO_EXTENSIONS",
    "Video",
    "VideoClip",
    "VideoError",
    "is_video_path",
    "read_video",
    "video_duration",
]

#: File name endings treated as videos (by the command line, and by ``Video`` for error messages).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpeg", ".mpg", ".gif")


def is_video_path(value: object) -> bool:
    """Whether ``value`` is a path or URL whose name ends like a video file."""
    if not isinstance(value, (str, os.PathLike)):
        return False
    name = str(value).lower().split("?", 1)[0]
    return name.endswith(VIDEO_EXTENSIONS)


class Video:
    """A video asked about as one input.

    Args:
        source: A file path, an http(s) URL, or a list of frames (anything accepted as an image).
        fps: Frames sampled per second of video (default 2, as in Qwen's recipes).
        max_frames: Most frames sampled (default 64); a long video is sampled more sparsely.
        timestamps: For a list of frames: each frame's time in seconds (default: ``k / fps``).
        max_pixels: Pixel budget per frame for the model's processor (default: the processor's).
        start: Seconds into the video where sampling starts (default 0): a part of a long video.
        end: Seconds into the video where sampling ends (default: the end). Answers keep the times of the
            whole video.

    Raises:
        ConfigurationError: For options out of range or timestamps that do not fit the frames.

    Example:
        >>> from qwen_vlm import Video
        >>> clip = Video("street.mp4", fps=1, max_frames=32)        # doctest: +SKIP
        >>> vlm.locate_events(clip, ["a truck arrives"])            # doctest: +SKIP
    """

    __slots__ = ("_clip", "end", "fps", "max_frames", "max_pixels", "source", "start", "timestamps")

    def __init__(
        self,
        source: str | os.PathLike[str] | Sequence[Any],
        *,
        fps: float = 2.0,
        max_frames: int = 64,
        timestamps: Sequence[float] | None = None,
        max_pixels: int | None = None,
        start: float = 0.0,
        end: float | None = None,
    ) -> None:
        check_number("fps", fps, exclusive_minimum=True, maximum=60.0)
        check_number("start", start, minimum=0.0, optional=False)
        check_number("end", end, exclusive_minimum=True)
        if end is not None and end <= start:
            raise ConfigurationError(f"Video(end={end}) must be after start={start}")
        check_int("max_frames", max_frames, optional=False, minimum=2)
        check_int("max_pixels", max_pixels)
        if isinstance(source, (str, os.PathLike)):
            if timestamps is not None:
                raise ConfigurationError("timestamps= is for a list of frames; a video file has its own")
        elif isinstance(source, (list, tuple)):
            if not source:
                raise ConfigurationError("Video() needs at least one frame")
            if timestamps is not None:
                times = list(timestamps)
                if len(times) != len(source):
                    raise ConfigurationError(
                        f"{len(times)} timestamps for {len(source)} frames; give one time (seconds) per frame"
                    )
                ok = all(
                    isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
                    for t in times
                )
                if not ok or any(t < 0 for t in times) or any(b <= a for a, b in itertools.pairwise(times)):
                    raise ConfigurationError("timestamps must be increasing, finite seconds >= 0")
        else:
            raise ConfigurationError(
                f"Video() takes a file path, an http(s) URL or a list of frames, got {type(source).__name__}"
            )
        self.source = source
        self.fps = float(fps)
        self.max_frames = max_frames
        self.timestamps = None if timestamps is None else tuple(float(t) for t in timestamps)
        self.max_pixels = max_pixels
        self.start = float(start)
        self.end = None if end is None else float(end)
        self._clip: VideoClip | None = None  # the sampled frames, once read (kept for drawing)

    def __repr__(self) -> str:
        what = (
            f"{len(self.source)} frames" if isinstance(self.source, (list, tuple)) else repr(str(self.source))
        )
        span = f", start={self.start:g}" if self.start else ""
        span += f", end={self.end:g}" if self.end is not None else ""
        return f"Video({what}, fps={self.fps:g}, max_frames={self.max_frames}{span})"

    def part(self, start: float, end: float | None) -> Video:
        """The same video sampled only from ``start`` to ``end`` seconds (same fps and budgets)."""
        return Video(
            self.source,
            fps=self.fps,
            max_frames=self.max_frames,
            timestamps=self.timestamps,
            max_pixels=self.max_pixels,
            start=start,
            end=end,
        )


@dataclass(frozen=True)
class VideoClip:
    """A video's sampled frames, ready to send.

    Attributes:
        frames: The sampled frames (RGB).
        timestamps: Each frame's time in the original video, in seconds.
        fps: Frame rate the indices count in (the file's own; 1000 for a list of frames with timestamps).
        indices: Each frame's index in the original video at ``fps``.
        total_frames: Frames in the original video at ``fps``.
        duration: Length of the original video in seconds.
        source: The file path or http(s) URL it was read from (``None`` for a list of frames).
        sample_fps: The frame rate asked for (``Video.fps``), for servers that sample the file themselves.
        max_pixels: The pixel budget per frame asked for (``Video.max_pixels``), if any.
        start: Where sampling started, in seconds (``Video.start``).
        end: Where sampling ended, in seconds (``Video.end``; ``None``: the end of the video).
    """

    frames: tuple[Image.Image, ...]
    timestamps: tuple[float, ...]
    fps: float
    indices: tuple[int, ...]
    total_frames: int
    duration: float
    source: str | None = None
    sample_fps: float | None = None
    max_pixels: int | None = None
    start: float = 0.0
    end: float | None = None

    @property
    def partial(self) -> bool:
        """Whether only a part of the video was sampled (``start``/``end``): a server must get frames."""
        return self.start > 0 or (self.end is not None and self.end < self.duration)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        return self.frames[0].size


def _even(count: int, limit: int) -> int:
    count = max(2, min(count, limit))
    return count if count % 2 == 0 else (count + 1 if count + 1 <= limit else count - 1)


def _whole_patches(keep: list[int]) -> list[int]:
    """``keep`` with its last frame repeated when the count is odd (Qwen's temporal patches are 2 frames)."""
    return [*keep, keep[-1]] if len(keep) % 2 == 1 else keep


def _even_indices(total: int, count: int) -> list[int]:
    if count >= total:
        return list(range(total))
    return [min(total - 1, round(k * (total - 1) / (count - 1))) for k in range(count)]


#: Chooses which frames of a file to keep: ``(total frames, frame rate, video) -> frame indices``. The
#: local backend passes its checkpoint's own sampler, so its inputs equal the transformers recipe's.
Sampler = Any


def read_video(video: Video, index: int | None = None, sampler: Sampler = None) -> VideoClip:
    """Decode and sample ``video``.

    Args:
        video: The video.
        index: Its position in a batch (for error messages).
        sampler: For a file: the frame chooser (default: evenly at ``video.fps``, at most ``max_frames``).

    Raises:
        VideoError: If it cannot be read (with the reason).
        MissingDependencyError: If a file or URL is given and PyAV is not installed.
    """
    if isinstance(video.source, (list, tuple)):
        return _from_frames(video, index)
    return _from_file(video, index, sampler)


def _from_frames(video: Video, index: int | None) -> VideoClip:
    frames = []
    for k, frame in enumerate(video.source):  # type: ignore[arg-type]
        try:
            frames.append(load_image(frame, index))
        except ImageError as exc:
            count = len(video.source)  # type: ignore[arg-type]
            raise VideoError(f"frame {k + 1} of {count}: {getattr(exc, 'reason', exc)}", index) from None
    if len({f.size for f in frames}) != 1:
        raise VideoError("every frame of a Video must have the same size", index)
    times = (
        list(video.timestamps)
        if video.timestamps is not None
        else [k / video.fps for k in range(len(frames))]
    )
    inside = [k for k, t in enumerate(times) if video.start <= t and (video.end is None or t <= video.end)]
    if not inside:
        raise VideoError(f"no frame between {video.start:g} s and {video.end} s", index)
    first = inside[0]
    keep = [first + k for k in _even_indices(len(inside), _even(len(inside), video.max_frames))]
    keep = _whole_patches(keep)
    rate = 1000.0  # indices in milliseconds: index / fps is each frame's own time
    indices = [round(times[k] * rate) for k in keep]
    return VideoClip(
        frames=tuple(frames[k] for k in keep),
        timestamps=tuple(times[k] for k in keep),
        fps=rate,
        indices=tuple(indices),
        total_frames=indices[-1] + 1,
        duration=times[-1] + (times[-1] - times[-2] if len(times) > 1 else 1.0 / video.fps),
        max_pixels=video.max_pixels,
        start=video.start,
        end=video.end,
    )


def _from_file(video: Video, index: int | None, sampler: Sampler = None) -> VideoClip:
    av, opened, source, shown = open_video(video.source, index)
    try:
        total, rate = count_frames(av, opened, shown, index)
        duration = total / rate
        first, last = _span(video, total, rate, shown, index)
        count = last - first + 1
        if sampler is not None:
            keep = sorted({first + int(k) for k in sampler(count, rate, video) if 0 <= int(k) < count})
            if len(keep) > video.max_frames:
                keep = [keep[k] for k in _even_indices(len(keep), _even(len(keep), video.max_frames))]
        else:
            wanted = _even(math.floor(count / rate * video.fps) or 2, video.max_frames)
            keep = [first + k for k in _even_indices(count, wanted)]
        if not keep:
            raise VideoError(f"no frame of {shown!r} was chosen", index)
        frames = decode_frames(av, opened, keep, rate)
    except VideoError:
        raise
    except Exception as exc:  # PyAV raises its own error types (InvalidDataError...)
        raise VideoError(f"cannot read video {shown!r}: {type(exc).__name__}: {exc}", index) from None
    keep = [k for k in keep if k in frames]
    if len(keep) < 1:
        raise VideoError(f"video {shown!r} has no frames", index)
    keep = _whole_patches(keep)
    return VideoClip(
        frames=tuple(frames[k] for k in keep),
        timestamps=tuple(k / rate for k in keep),
        fps=rate,
        indices=tuple(keep),
        total_frames=total,
        duration=duration,
        source=source,
        sample_fps=video.fps,
        max_pixels=video.max_pixels,
        start=video.start,
        end=video.end,
    )


def _span(video: Video, total: int, rate: float, shown: str, index: int | None) -> tuple[int, int]:
    """The first and last frame indices between ``video.start`` and ``video.end``."""
    first = min(total - 1, math.ceil(video.start * rate - 1e-9))
    last = total - 1 if video.end is None else min(total - 1, math.floor(video.end * rate + 1e-9))
    if video.start >= total / rate or last < first:
        raise VideoError(
            f"{shown!r} is {total / rate:.1f} s long: nothing between {video.start:g} s and {video.end} s",
            index,
        )
    return first, last


def video_duration(video: Video, index: int | None = None) -> float:
    """A video's length in seconds, from its container's metadata (no frame is decoded).

    Raises:
        VideoError: If it cannot be read.
    """
    if isinstance(video.source, (list, tuple)):
        times = video.timestamps or tuple(k / video.fps for k in range(len(video.source)))
        step = times[-1] - times[-2] if len(times) > 1 else 1.0 / video.fps
        return times[-1] + step
    av, opened, _, shown = open_video(video.source, index)
    try:
        total, rate = count_frames(av, opened, shown, index)
    except VideoError:
        raise
    except Exception as exc:  # PyAV raises its own error types (InvalidDataError...)
        raise VideoError(f"cannot read video {shown!r}: {type(exc).__name__}: {exc}", index) from None
    return total / rate
