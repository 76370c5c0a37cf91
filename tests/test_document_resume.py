"""A long document job killed at random moments and run again: each page stored as it settled, so the
job ends with the same Document as a clean run, and pages lost in flight are all that is sent twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from chat_server import Reply, chat_server, completion
from documents_kit import answer, build_pdf

from qwen_vlm import QwenVLM

pytest.importorskip("pypdfium2")
pytest.importorskip("fpdf")
pytest.importorskip("openai")

Q3 = "Qwen/Qwen3-VL-8B-Instruct"
CONCURRENT = 4
JOB = f"""
import json, sys
from qwen_vlm import QwenVLM
model, url, store = sys.argv[1:4]
vlm = QwenVLM(model, backend="openai", base_url=url, cache=store, max_concurrent_requests={CONCURRENT})
document = vlm.parse_document(sys.argv[4], format="markdown", progress=False)
open(sys.argv[5], "w").write(json.dumps(document.to_dict()))
"""


def test_a_killed_job_resumes_where_it_stopped(tmp_path: Path) -> None:
    pdf = build_pdf(tmp_path / "thirty.pdf", count=30)
    random.seed(7)
    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion(answer("markdown", body, True)), delay=0.08)
        clean = QwenVLM(Q3, backend="openai", base_url=server.url, max_concurrent_requests=CONCURRENT)
        expected = clean.parse_document(pdf, format="markdown").to_dict()
        assert len(server.requests) == 30
        server.requests.clear()
        store, out = tmp_path / "pages.db", tmp_path / "document.json"
        command = [sys.executable, "-c", JOB, Q3, server.url, str(store), str(pdf), str(out)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
        kills = 0
        while kills < 3:
            before = len(server.requests)
            job = subprocess.Popen(command, env=env)
            deadline = time.monotonic() + 60
            while len(server.requests) < before + 2 and job.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(random.uniform(0.0, 0.4))  # a random moment into the job
            if job.poll() is not None:
                break  # it finished first: nothing left to kill
            job.send_signal(signal.SIGKILL)
            job.wait()
            kills += 1
        assert kills == 3, "the job finished before it could be killed three times"
        finished = subprocess.run(command, env=env, timeout=120)
        assert finished.returncode == 0
        resumed: dict[str, Any] = json.loads(out.read_text())
    assert resumed == json.loads(json.dumps(expected))
    assert len(resumed["pages"]) == 30 and all(page["error"] is None for page in resumed["pages"])
    sent = len(server.requests)
    print(f"page requests over 3 kills and the final run: {sent} (bound {30 + 3 * CONCURRENT})")
    assert 30 <= sent <= 30 + 3 * CONCURRENT
