"""Video files and URLs opened and decoded with PyAV: the frames asked for, by seeking where possible.

The cost of reading grows with the frames asked for, not with the video's length: in containers with an
index (MP4/MOV, MKV/WebM) each frame is reached by a seek to the keyframe before it; other containers are
read through once. A URL is read through HTTP range requests (:mod:`qwen_vlm.remote_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from .errors import ImageError, MissingDependencyError
from .images import download_url
from .remote_file import open_ranged

__all__ = ["VideoError", "count_frames", "decode_frames", "open_video"]


class VideoError(ImageError):
    """A video could not be read (missing file, not a video, no frames, PyAV cannot decode it)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message, index)
        where = f"video {index}" if index is not None else "video"
        self.args = (f"{where}: {message}",)


def open_video(source_path: Any, index: int | None) -> tuple[Any, Any, str, str]:
    """PyAV, the file or ranged URL reader to open, the source and its name for messages.

    Raises:
        VideoError: A missing file, a directory, an unsupported URL scheme or an unreachable URL.
        MissingDependencyError: PyAV is not installed.
    """
    try:
        import av
    except ImportError:
        raise MissingDependencyError("av", "video", "Reading video files (Video)") from None
    source = str(source_path)
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
    return av, opened, source, shown


def _rewound(opened: Any) -> Any:
    if hasattr(opened, "seek"):
        opened.seek(0)
    return opened


def decode_frames(av: Any, opened: Any, keep: list[int], rate: float) -> dict[int, Image.Image]:
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


def count_frames(av: Any, opened: Any, shown: str, index: int | None) -> tuple[int, float]:
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
