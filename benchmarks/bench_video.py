"""Sampling 32 frames from a long video costs what the frames cost, not what the video's length costs.

Writes synthetic 640x360 H.264 MP4 videos (10 fps, a keyframe every 2 s) of 1 and 30 minutes, then, each
in a fresh process, samples 32 frames with ``read_video`` (seeking) and decodes the same 32 frames in one
sequential pass (how the reader worked before), printing seconds and peak memory (max RSS).

Run: python benchmarks/bench_video.py [--quick]   (--quick: 1 and 5 minutes)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from qwen_vlm import Video
from qwen_vlm import video as v
path, mode = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if mode == "seek":
    clip = v.read_video(Video(path, fps=32 / float(sys.argv[3]), max_frames=32))
    count = len(clip.frames)
else:
    import av
    keep = v._even_indices(int(sys.argv[4]), 32)
    from qwen_vlm import video_files
    count = len(video_files._sequential_frames(av, path, keep))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "frames": count, "rss_mb": peak}))
"""


def write(path: Path, minutes: float) -> None:
    import av
    import numpy as np

    frames = int(minutes * 60 * 10)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.gop_size = 20
        stream.options = {"preset": "ultrafast"}
        picture = np.zeros((360, 640, 3), np.uint8)
        for k in range(frames):
            picture[:, :, 0] = k % 256
            picture[:180, :, 1] = (k // 256) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def measure(path: Path, mode: str, seconds: float, frames: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode, str(seconds), str(frames)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    lengths = (1, 5) if "--quick" in sys.argv else (1, 30)
    with tempfile.TemporaryDirectory() as folder:
        rows = []
        for minutes in lengths:
            path = Path(folder) / f"{minutes}min.mp4"
            start = time.perf_counter()
            write(path, minutes)
            made = time.perf_counter() - start
            total = minutes * 60 * 10
            seek = measure(path, "seek", minutes * 60, total)
            sequential = measure(path, "sequential", minutes * 60, total)
            rows.append((minutes, seek, sequential))
            size = path.stat().st_size / 1e6
            print(
                f"{minutes:3d} min ({size:6.1f} MB, written in {made:5.1f} s): 32 frames by seeking "
                f"{seek['seconds']:6.2f} s ({seek['rss_mb']:.0f} MB peak), by one sequential pass "
                f"{sequential['seconds']:6.2f} s ({sequential['rss_mb']:.0f} MB peak)"
            )
        (short, s_seek, s_seq), (long, l_seek, l_seq) = rows
        print(
            f"{long} min / {short} min: seeking {l_seek['seconds'] / s_seek['seconds']:.2f}x "
            f"(goal: at most 2x), sequential {l_seq['seconds'] / s_seq['seconds']:.1f}x"
        )


if __name__ == "__main__":
    main()
