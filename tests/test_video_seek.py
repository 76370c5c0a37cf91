"""Sampling a video file by seeking: the right frames, on MP4 and WebM/MKV, and without an index.

Every frame of the test videos writes its own index in eight black-or-white blocks (one bit each), so
the frame a reader returns can be checked, not just counted.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")

from qwen_vlm import Video  # noqa: E402
from qwen_vlm import video_files as video_module  # noqa: E402
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


class _Served:
    """A loopback HTTP server for one file: byte ranges answered (or not), bytes served counted.

    The file is a real video followed by a ``free`` box of ``padding`` zero bytes (a 200 MB-class file
    whose bytes beyond the video are made on the fly).
    """

    def __init__(self, video: bytes, padding: int, ranges: bool = True) -> None:
        import http.server
        import struct
        import threading

        header = struct.pack(">I4s", 8, b"free") if padding == 0 else b""
        if padding:
            header = struct.pack(">I4s", 1, b"free") + struct.pack(">Q", padding + 16)
        self.head = video + header
        self.size = len(self.head) + padding
        self.served = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                start, end = 0, owner.size - 1
                wanted = self.headers.get("Range")
                if ranges and wanted and wanted.startswith("bytes="):
                    first, _, last = wanted[6:].partition("-")
                    start, end = int(first), min(int(last) if last else owner.size - 1, owner.size - 1)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{owner.size}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(end - start + 1))
                self.end_headers()
                body = owner.head[start : end + 1]
                body += bytes(max(0, end + 1 - max(start, len(owner.head))))
                owner.served += len(body)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/big.mp4"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_large_remote_file_is_sampled_reading_a_small_part(tmp_path: Path) -> None:
    video = write(tmp_path / "clip.mp4", "libx264").read_bytes()
    served = _Served(video, padding=200 * 1024 * 1024)
    try:
        clip = read_video(Video(served.url, fps=1.0, max_frames=8))
        assert [index_of(frame) for frame in clip.frames] == list(clip.indices)
        assert served.size > 200 * 1024 * 1024 and served.served < 5 * 1024 * 1024  # well under its size
    finally:
        served.close()


def test_a_server_without_byte_ranges_gets_a_whole_download(tmp_path: Path) -> None:
    video = write(tmp_path / "clip.mp4", "libx264", frames=60).read_bytes()
    served = _Served(video, padding=0, ranges=False)
    try:
        clip = read_video(Video(served.url, fps=2.0, max_frames=8))
        assert [index_of(frame) for frame in clip.frames] == list(clip.indices)
    finally:
        served.close()
