"""The qwen-vlm command, against a local chat-completions server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
