"""The docs say what the code does: prompts verbatim, every registered model listed."""

from __future__ import annotations

from pathlib import Path

from qwen_vlm import prompts
from qwen_vlm.models import REGISTRY

DOCS = Path(__file__).parent.parent / "docs"


def test_prompts_doc_matches_the_code() -> None:
    text = (DOCS / "prompts.md").read_text()
    assert prompts.PROMPT_VERSION in text
    expected = [
        prompts.ocr_prompt(),
        prompts.caption_prompt(False),
        prompts.caption_prompt(True),
        prompts.classify_prompt(["cat", "dog"]),
        prompts.classify_multi_prompt(["cat", "dog"]),
        prompts.presence_prompt("cat"),
        prompts.group_detect_prompt(["cat", "dog"], 2),
        prompts.group_point_prompt(["cat", "dog"], 2),
        prompts.group_ocr_prompt(2),
        prompts.locate_events_prompt(["a truck arrives", "the door opens"]),
        prompts.video_frames_note([0.0, 0.5, 1.0, 1.5]),
        prompts.detect_prompt(["cat", "dog"]),
        prompts.detect_prompt(None),
        prompts.point_prompt(["cat", "dog"]),
        prompts.extract_prompt({"company": "the company name", "total": "the amount paid"}, None),
        prompts.extract_prompt(None, None),
        *(prompts.document_prompt(name) for name in prompts.DOCUMENT_PROMPTS),
    ]
    for prompt in expected:
        assert f"```text\n{prompt}\n```" in text


def test_models_doc_lists_every_registered_model() -> None:
    text = (DOCS / "models.md").read_text()
    missing = [model for model in REGISTRY if f"`{model}`" not in text]
    assert missing == []


def test_every_task_page_shows_its_prompt_exactly() -> None:
    pages = {
        "caption": [prompts.caption_prompt(False), prompts.caption_prompt(True)],
        "ocr": [prompts.ocr_prompt()],
        "classify": [prompts.classify_prompt(["cat", "dog"])],
        "classify_multi": [prompts.classify_multi_prompt(["cat", "dog"]), prompts.presence_prompt("cat")],
        "detect": [prompts.detect_prompt(["cat", "dog"]), prompts.detect_prompt(None)],
        "point": [prompts.point_prompt(["cat", "dog"])],
        "extract": [
            prompts.extract_prompt({"company": "the company name", "total": "the amount paid"}, None)
        ],
        "locate_events": [prompts.locate_events_prompt(["a truck arrives", "the door opens"])],
        "ask": [],
        "prompt": [],
    }
    for method, expected in pages.items():
        text = (DOCS / "tasks" / f"{method}.md").read_text()
        assert f"vlm.{method}(" in text
        for prompt in expected:
            assert f"```text\n{prompt}\n```" in text, method


def test_the_docs_site_lists_every_page() -> None:
    config = (DOCS.parent / "mkdocs.yml").read_text()
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert [p for p in pages if p not in config] == []
