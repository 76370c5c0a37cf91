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
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import ConfigurationError, ImageError, MissingDependencyError
from .images import download_url, load_image
from .options import check_int, check_number
from .remote_file import open_ranged

__all__ = ["VIDEO_EXTENSIONS", "Video", "VideoClip", "VideoError", "is_video_path", "read_video"]

#: File name endings treated as videos (by the command line, and by ``Video`` for error messages).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpeg", ".mpg", ".gif")


class VideoError(ImageError):
    """A video could not be read (missing file, not a video, no frames, PyAV cannot decode it)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message, index)
        where = f"video {index}" if index is not None else "video"
        self.args = (f"{where}: {message}",)


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

    Raises:
        ConfigurationError: For options out of range or timestamps that do not fit the frames.

    Example:
        >>> from qwen_vlm import Video
        >>> clip = Video("street.mp4", fps=1, max_frames=32)        # doctest: +SKIP
        >>> vlm.locate_events(clip, ["a truck arrives"])            # doctest: +SKIP
    """

    __slots__ = ("_clip", "fps", "max_frames", "max_pixels", "source", "timestamps")

    def __init__(
        self,
        source: str | os.PathLike[str] | Sequence[Any],
        *,
        fps: float = 2.0,
        max_frames: int = 64,
        timestamps: Sequence[float] | None = None,
        max_pixels: int | None = None,
    ) -> None:
        check_number("fps", fps, exclusive_minimum=True, maximum=60.0)
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
        self._clip: VideoClip | None = None  # the sampled frames, once read (kept for drawing)

    def __repr__(self) -> str:
        what = (
            f"{len(self.source)} frames" if isinstance(self.source, (list, tuple)) else repr(str(self.source))
        )
        return f"Video({what}, fps={self.fps:g}, max_frames={self.max_frames})"


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
    keep = _whole_patches(_even_indices(len(frames), _even(len(frames), video.max_frames)))
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
    )


def _from_file(video: Video, index: int | None, sampler: Sampler = None) -> VideoClip:
    try:
        import av
    except ImportError:
        raise MissingDependencyError("av", "video", "Reading video files (Video)") from None
    source = str(video.source)
    shown = source if len(source) <= 120 else source[:117] + "..."
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in ("http", "https"):
        try:
            opened: Any = open_ranged(source, index)  # only what the reader reads is fetched
            if opened is None:  # a server without byte ranges: the file whole, within the usual cap
                import io

                opened = io.BytesIO(download_url(source, index))
        except VideoError:
            raise
        except ImageError as exc:
            raise VideoError(getattr(exc, "reason", str(exc)), index) from None
    elif scheme:
        raise VideoError(
            f"unsupported URL scheme {scheme!r} in {shown!r}; pass an http(s) URL or a file", index
        )
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise VideoError(f"video file {shown!r} not found", index)
        if not path.is_file():
            raise VideoError(f"{shown!r} is not a file (a directory?); pass the path of a video file", index)
        opened = str(path)
    try:
        total, rate = _count_frames(av, opened, shown, index)
        duration = total / rate
        if sampler is not None:
            keep = sorted({int(k) for k in sampler(total, rate, video) if 0 <= int(k) < total})
            if len(keep) > video.max_frames:
                keep = [keep[k] for k in _even_indices(len(keep), _even(len(keep), video.max_frames))]
        else:
            keep = _even_indices(total, _even(math.floor(duration * video.fps) or 2, video.max_frames))
        if not keep:
            raise VideoError(f"no frame of {shown!r} was chosen", index)
        frames = _decode(av, opened, keep, rate)
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
    )


def _rewound(opened: Any) -> Any:
    if hasattr(opened, "seek"):
        opened.seek(0)
    return opened


def _decode(av: Any, opened: Any, keep: list[int], rate: float) -> dict[int, Image.Image]:
    """The frames ``keep`` names: each reached by a seek, or, where seeking fails, in one sequential pass."""
    try:
        frames = _seek_frames(av, _rewound(opened), keep, rate)
    except Exception:  # a container or stream without an index: read it through once
        frames = {}
    missing = [k for k in keep if k not in frames]
    if missing:
        frames.update(_sequential_frames(av, _rewound(opened), missing))
    return frames


#: Containers whose index makes a seek land where it should (PyAV's format names).
_INDEXED = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm"})


def _seek_frames(av: Any, opened: Any, keep: list[int], rate: float) -> dict[int, Image.Image]:
    """Each wanted frame by a seek to the keyframe before it, decoding only up to it.

    The frame kept for index ``k`` is the one a player shows at ``k / rate``: the last frame whose time is
    not after it. Frames a short way apart (under two seconds) are reached by decoding on, not seeking.
    The cost grows with the frames sampled, not with the video's length.
    """
    frames: dict[int, Image.Image] = {}
    with av.open(opened) as container:
        if not set(str(container.format.name).split(",")) & _INDEXED:
            return frames  # no index to seek by: read through once
        stream = container.streams.video[0]
        base = float(stream.time_base)
        start = int(stream.start_time or 0)
        decoder: Any = None
        position = -1  # index of the last frame decoded
        previous: Any = None
        for k in keep:
            if decoder is None or k <= position or k - position > 2 * rate:
                container.seek(start + int(k / rate / base), stream=stream, backward=True, any_frame=False)
                decoder, previous, position = container.decode(stream), None, -1
            for frame in decoder:
                if frame.pts is None:
                    continue
                at = round((frame.pts - start) * base * rate)
                if at >= k:
                    shown = frame if at == k or previous is None else previous
                    frames[k] = shown.to_image().convert("RGB")
                    position, previous = at, frame
                    break
                position, previous = at, frame
    return frames


def _sequential_frames(av: Any, opened: Any, keep: list[int]) -> dict[int, Image.Image]:
    """The frames ``keep`` names, decoding from the start up to the last one (streams without an index)."""
    wanted, last = set(keep), max(keep)
    frames: dict[int, Image.Image] = {}
    with av.open(opened) as container:
        for k, frame in enumerate(container.decode(container.streams.video[0])):
            if k in wanted:  # only the sampled frames become images: memory stays bounded
                frames[k] = frame.to_image().convert("RGB")
            if k >= last:
                break
    return frames


def _count_frames(av: Any, opened: Any, shown: str, index: int | None) -> tuple[int, float]:
    """Frames in the first video stream and its frame rate, from the container's metadata.

    The frame count comes from the stream header, else from its duration (or the container's) times the
    frame rate; only a file that states neither is decoded once to count.
    """
    with av.open(opened) as container:
        if not container.streams.video:
            raise VideoError(f"{shown!r} has no video stream", index)
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        total = int(stream.frames or 0)
        if total <= 0 and stream.duration and stream.time_base:
            total = round(float(stream.duration * stream.time_base) * rate)
        if total <= 0 and container.duration:
            total = round(container.duration / 1_000_000 * rate)
        if total <= 0:
            total = sum(1 for _ in container.decode(stream))
    if total <= 0:
        raise VideoError(f"video {shown!r} has no frames", index)
    return total, rate
