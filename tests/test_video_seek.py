"""Sampling a video file by seeking: the right frames, on MP4 and WebM/MKV, and without an index.

Every frame of the test videos writes its own index in eight black-or-white blocks (one bit each), so
the frame a reader returns can be checked, not just counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")

from qwen_vlm import Video  # noqa: E402
from qwen_vlm import video as video_module  # noqa: E402
from qwen_vlm.video import VideoError, read_video  # noqa: E402

FRAMES, RATE, GOP = 240, 10, 12


def write(path: Path, codec: str, frames: int = FRAMES) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 128, 32, "yuv420p"
        stream.gop_size = GOP
        for k in range(frames):
            picture = np.zeros((32, 128, 3), np.uint8)
            for bit in range(8):
                if k >> bit & 1:
                    picture[:, bit * 16 : (bit + 1) * 16] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def index_of(frame: Image.Image) -> int:
    """The index a test frame writes in its blocks."""
    pixels = np.asarray(frame.convert("L"))
    return sum(1 << bit for bit in range(8) if pixels[:, bit * 16 + 4 : bit * 16 + 12].mean() > 128)


@pytest.fixture(scope="module", params=[("mp4", "libx264"), ("mkv", "libx264"), ("webm", "libvpx-vp9")])
def indexed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    suffix, codec = request.param
    return write(tmp_path_factory.mktemp("seek") / f"indexed.{suffix}", codec)


@pytest.mark.parametrize(("fps", "max_frames"), [(0.5, 64), (2.0, 16), (10.0, 64), (1.0, 8)])
def test_the_frames_are_the_ones_asked_for(indexed: Path, fps: float, max_frames: int) -> None:
    clip = read_video(Video(indexed, fps=fps, max_frames=max_frames))
    assert clip.total_frames == FRAMES and clip.fps == RATE and clip.duration == FRAMES / RATE
    assert [index_of(frame) for frame in clip.frames] == [k % 256 for k in clip.indices]
    assert clip.timestamps == pytest.approx([k / RATE for k in clip.indices])


def test_seeking_serves_every_frame_without_a_sequential_pass(indexed: Path, monkeypatch: Any) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("decoded from the start")

    monkeypatch.setattr(video_module, "_sequential_frames", refuse)
    clip = read_video(Video(indexed, fps=1.0, max_frames=12))
    assert [index_of(frame) for frame in clip.frames] == list(clip.indices)


def test_a_stream_without_an_index_is_read_through_once(tmp_path: Path) -> None:
    raw = write(tmp_path / "plain.mpg", "mpeg2video")  # an MPEG program stream: no index to seek by
    clip = read_video(Video(raw, fps=1.0, max_frames=8))
    assert [index_of(frame) for frame in clip.frames] == list(clip.indices)


def test_the_seeking_path_failing_falls_back(tmp_path: Path, monkeypatch: Any) -> None:
    path = write(tmp_path / "clip.mp4", "libx264", frames=60)

    def broken(*args: Any) -> Any:
        raise OSError("seek failed")

    monkeypatch.setattr(video_module, "_seek_frames", broken)
    clip = read_video(Video(path, fps=2.0, max_frames=8))
    assert [index_of(frame) for frame in clip.frames] == list(clip.indices)


def test_a_truncated_file_is_a_video_error_naming_it(tmp_path: Path) -> None:
    whole = write(tmp_path / "whole.mp4", "libx264", frames=60).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        read_video(Video(cut, fps=2.0))
