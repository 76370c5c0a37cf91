"""The qwen-vlm command, against a local chat-completions server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("openai")

from chat_server import Reply, chat_server, completion

from qwen_vlm.cli import main

SAMPLE = str(Path(__file__).parent.parent / "examples" / "sample.jpg")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    with chat_server() as server:
        common = ["--backend", "openai", "--base-url", server.url, "--model", "Qwen/Qwen3-VL-8B-Instruct"]
        server.script = lambda n, body: Reply(body=completion("A red house."))
        code, out, _ = run(capsys, "caption", SAMPLE, *common)
        assert code == 0 and out.splitlines() == [f"== {SAMPLE}", "A red house."]
        server.script = lambda n, body: Reply(
            body=completion('[{"bbox_2d": [0, 0, 500, 500], "label": "house"}]')
        )
        code, out, _ = run(capsys, "detect", SAMPLE, "--classes", "house,sun", "--json", *common)
        record = json.loads(out)
        assert code == 0 and record["detections"][0]["xyxy"] == [0.0, 0.0, 400.0, 266.5]
        assert record["task_result"] == "Detections"
        assert "house" in server.requests[-1]["messages"][0]["content"][1]["text"]
        schema = server.requests[-1]["response_format"]["json_schema"]["schema"]  # a vLLM-style URL
        assert schema["items"]["properties"]["label"] == {"enum": ["house", "sun"]}
        code, out, _ = run(capsys, "detect", SAMPLE, "--classes", "house", "--no-constrained", *common)
        assert code == 0 and "response_format" not in server.requests[-1]
        server.script = lambda n, body: Reply(body=completion("no json"))
        code, out, _ = run(capsys, "extract", SAMPLE, "--schema", '{"text": "the sign"}', *common)
        assert code == 1 and "error: the answer contains no JSON" in out


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    remote = [
        "--backend",
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "Qwen/Qwen3-VL-8B-Instruct",
    ]
    code, _, err = run(capsys, "caption", "missing.jpg", *remote)
    assert code == 2 and "image: file not found: 'missing.jpg'" in err
    code, _, err = run(capsys, "classify", SAMPLE, *remote)
    assert code == 2 and "needs classes" in err
    code, _, err = run(capsys, "extract", SAMPLE, "--schema", "{oops", *remote)
    assert code == 2 and "--schema is not valid JSON" in err


# ----------------------------------------------------------------------------- the real entry points
def shell(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    merged = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=merged)


def qwen_vlm_command() -> str:
    found = shutil.which("qwen-vlm") or str(Path(sys.executable).parent / "qwen-vlm")
    assert Path(found).exists(), "the qwen-vlm console script is installed with the package"
    return found


def test_help_through_both_entry_points() -> None:
    for command in ([qwen_vlm_command(), "--help"], [sys.executable, "-m", "qwen_vlm", "--help"]):
        run_ = shell(*command)
        assert run_.returncode == 0 and "usage: qwen-vlm" in run_.stdout
        for flag in ("--device", "--dtype", "--api-key", "--base-url", "--max-tokens", "--enable-thinking",
                     "--json", "--output"):  # fmt: skip
            assert flag in run_.stdout


def test_a_missing_image_is_reported_before_any_model_loads(tmp_path: Path) -> None:
    start = time.monotonic()
    run_ = shell(sys.executable, "-m", "qwen_vlm", "detect", SAMPLE, str(tmp_path / "gone.jpg"),
                 "--model", "Qwen/Qwen3-VL-2B-Instruct")  # fmt: skip
    assert run_.returncode == 2
    missing = tmp_path / "gone.jpg"
    expected = f"qwen-vlm: image 1: file not found: '{missing}'; check the path (relative to {Path.cwd()})"
    assert run_.stderr.strip() == expected
    assert time.monotonic() - start < 10  # no model was loaded (and no hub was asked)
    assert "torch" not in run_.stderr


def test_shell_hints_use_flags_not_python() -> None:
    run_ = shell(sys.executable, "-m", "qwen_vlm", "caption", SAMPLE, "--model", "Qwen/Qwen3-VL-2B-Instruct")
    assert run_.returncode == 1 and "--model /path/to/checkpoint" in run_.stderr
    assert "QwenVLM(" not in run_.stderr and len(run_.stderr.strip().splitlines()) == 1


def test_one_task_on_the_loopback_server_with_drawings(tmp_path: Path) -> None:
    with chat_server() as server:
        server.script = lambda n, body: Reply(
            body=completion('[{"bbox_2d": [100, 100, 600, 600], "label": "house"}]')
        )
        remote = ["--backend", "openai", "--base-url", server.url, "--api-key", "sk-cli-test"]
        run_ = shell(qwen_vlm_command(), "detect", SAMPLE, "--classes", "house", *remote,
                     "--model", "Qwen/Qwen3-VL-8B-Instruct", "--max-tokens", "64",
                     "--output", str(tmp_path / "drawn"))  # fmt: skip
    assert run_.returncode == 0, run_.stderr
    assert run_.stdout.splitlines()[1].startswith("house\t")
    drawn = list((tmp_path / "drawn").glob("*.png"))
    assert len(drawn) == 1 and Image.open(drawn[0]).size == Image.open(SAMPLE).size
    assert server.requests[0]["max_tokens"] == 64
    assert server.headers[0]["authorization"] == "Bearer sk-cli-test"


def test_one_task_on_a_tiny_local_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from qwen_vlm.tiny import build_tiny_checkpoint

    checkpoint = build_tiny_checkpoint(tmp_path / "tiny", "qwen3_vl")
    run_ = shell(sys.executable, "-m", "qwen_vlm", "caption", SAMPLE, "--model", str(checkpoint),
                 "--device", "cpu", "--dtype", "float32", "--max-tokens", "4", "--json")  # fmt: skip
    assert run_.returncode in (0, 1), run_.stderr  # random weights may answer nothing useful
    record = json.loads(run_.stdout)
    assert record["task_result"] == "TextResult" and record["image"] == SAMPLE
    assert record["usage"]["completion_tokens"] <= 5 and record["finish_reason"] in ("stop", "length")


def test_videos_and_groups_from_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    import numpy as np

    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), k * 10, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with chat_server() as server:
        common = ["--backend", "openai", "--base-url", server.url, "--model", "Qwen/Qwen3-VL-8B-Instruct"]
        server.script = lambda n, body: Reply(
            body=completion('[{"event": "light", "start": 0.5, "end": 1.5}]')
        )
        code, out, _ = run(capsys, "locate-events", str(clip), "--events", "light", "--fps", "2", *common)
        assert code == 0 and out.splitlines() == [f"== {clip}", "light\t0.5-1.5 s"]
        parts = server.requests[-1]["messages"][0]["content"]
        assert [p["type"] for p in parts] == ["video_url", "text"]  # a vLLM-style URL: the file itself
        server.script = lambda n, body: Reply(body=completion("the same"))
        code, out, _ = run(capsys, "ask", SAMPLE, SAMPLE, "--together", "--question", "same?", *common)
        assert code == 0 and out.splitlines() == [f"== {SAMPLE} + {SAMPLE}", "the same"]
        assert sum(p["type"] == "image_url" for p in server.requests[-1]["messages"][0]["content"]) == 2
    code, _, err = run(capsys, "caption", str(tmp_path / "gone.mp4"))
    assert code == 2 and "not found" in err


def test_a_folder_detected_exported_and_resumed_from_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("supervision")
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(3):
        Image.new("RGB", (120 + k, 80), (k * 60, 20, 90)).save(folder / f"p{k}.png")
    (folder / "notes.txt").write_text("not an image: skipped")
    with chat_server() as server:
        server.script = lambda n, body: Reply(
            body=completion('[{"bbox_2d": [100, 100, 600, 700], "label": "cat"}]')
        )
        common = ["--backend", "openai", "--base-url", server.url, "--model", "Qwen/Qwen3-VL-8B-Instruct"]
        args = [
            "detect",
            str(folder),
            "--classes",
            "cat,dog",
            "--export",
            "coco",
            "--output",
            str(tmp_path / "out"),
        ]
        code, out, _ = run(capsys, *args, "--cache", str(tmp_path / "run.db"), *common)
        assert code == 0 and "exported 3 images as coco" in out and len(server.requests) == 3
        data = json.loads((tmp_path / "out" / "annotations.json").read_text())
        assert len(data["images"]) == 3 and len(data["annotations"]) == 3
        assert [c["name"] for c in data["categories"]] == ["cat", "dog"]
        code, out, _ = run(capsys, *args, "--cache", str(tmp_path / "run.db"), *common)
        assert code == 0 and len(server.requests) == 3  # the second run comes from the cache
        code, _, err = run(capsys, "detect", str(folder), "--export", "coco", *common)
        assert code == 2 and "--export needs --output" in err
