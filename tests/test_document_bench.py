"""evaluate(..., task="document") on a small olmOCR-bench folder made here, scored by olmOCR's own tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from chat_server import Reply, chat_server, completion
from documents_kit import answer, build_pdf

from qwen_vlm import DatasetError, QwenVLM, evaluate

pytest.importorskip("olmocr.bench.tests")
pytest.importorskip("pypdfium2")
pytest.importorskip("openai")

Q3 = "Qwen/Qwen3-VL-8B-Instruct"
TESTS = [
    {"type": "present", "text": "The first paragraph says what was done."},
    {"type": "present", "text": "The second page holds the results.", "page": 2},
    {"type": "absent", "text": "Journal of Tests"},
    {"type": "order", "before": "A Study of Boxes", "after": "The first paragraph says what was done."},
    {"type": "order", "before": "Results", "after": "The second page holds the results.", "page": 2},
    {"type": "table", "cell": "alpha", "right": "1", "up": "Name"},
    {"type": "math", "math": "E = mc^2"},
]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    (root / "pdfs").mkdir()
    build_pdf(root / "pdfs" / "paper.pdf")
    lines = [
        json.dumps({"pdf": "paper.pdf", "page": 1, "id": f"t{k}", **test}) for k, test in enumerate(TESTS)
    ]
    (root / "basic.jsonl").write_text("\n".join(lines) + "\n")
    return root


def swapped(body: dict[str, Any]) -> str:
    """The right page text, with each heading moved after the paragraph that follows it."""
    blocks = answer("markdown", body, True).split("\n\n")
    blocks[0], blocks[1] = blocks[1], blocks[0]
    return "\n\n".join(blocks)


def test_correct_answers_pass_and_a_swapped_order_fails_only_the_order_tests(bench: Path) -> None:
    with chat_server() as right, chat_server() as wrong:
        right.script = lambda n, body: Reply(body=completion(answer("markdown", body, True)))
        wrong.script = lambda n, body: Reply(body=completion(swapped(body)))
        clients = {
            "right": QwenVLM(Q3, backend="openai", base_url=right.url),
            "swapped": QwenVLM(Q3, backend="openai", base_url=wrong.url),
        }
        report = evaluate(clients, bench, task="document", format="markdown")
    good, bad = report.runs
    assert good.metrics["pass_rate"] == 1.0 and good.metrics["overall"] == 1.0
    assert set(good.metrics) == {"overall", "pass_rate", "present", "absent", "order", "table", "baseline"}
    failed = [row for row in bad.per_image if not row["passed"]]
    assert failed and {row["type"] for row in failed} == {"order"}
    assert len(failed) == sum(1 for t in TESTS if t["type"] == "order")
    assert bad.metrics["order"] == 0.0 and bad.metrics["present"] == 1.0
    assert good.images == 2 and good.seconds > 0 and "1 math tests skipped" in report.dataset
    assert {row["file"] for row in good.per_image} == {"basic.jsonl", "baseline"}  # one baseline per PDF
    assert report.to_dataframe().shape[0] == 2


def test_a_folder_that_is_not_a_bench_is_refused(bench: Path, tmp_path: Path) -> None:
    vlm = QwenVLM(Q3, backend="openai", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(DatasetError, match="olmOCR-bench folder"):
        evaluate(vlm, tmp_path, task="document")
    broken = tmp_path / "broken"
    shutil.copytree(bench, broken)
    (broken / "more.jsonl").write_text(
        json.dumps({"pdf": "gone.pdf", "page": 1, "id": "x", "type": "present", "text": "a"})
    )
    with pytest.raises(DatasetError, match=r"gone\.pdf is not in"):
        evaluate(vlm, broken, task="document")
