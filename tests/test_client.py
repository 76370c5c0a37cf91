"""QwenVLM / AsyncQwenVLM behaviour over the FakeBackend: shapes, order, errors, every task."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from PIL import Image
from pydantic import BaseModel

from qwen_vlm import (
    AsyncQwenVLM,
    AuthenticationError,
    BatchError,
    Classification,
    ConfigurationError,
    Detections,
    Extraction,
    GenerationRequest,
    GenerationResponse,
    InsufficientCreditsError,
    MultiLabelClassification,
    OutputParseError,
    Points,
    QwenVLM,
    RateLimitError,
    TextResult,
    Usage,
)
from qwen_vlm.testing import FakeBackend

IMG = Image.new("RGB", (640, 480), (120, 30, 200))

BLOCK_TASKS: dict[str, tuple[dict[str, Any], str, type]] = {
    "unconstrained": ({"prompt": "Say hi"}, "hi", TextResult),
    "ocr": ({}, "HELLO", TextResult),
    "visual-question-answering": ({"prompt": "What colour?"}, "Purple.", TextResult),
    "caption": ({}, "A purple square.", TextResult),
    "detailed-caption": ({}, "A purple square, evenly lit.", TextResult),
    "classification": ({"classes": ["red", "purple"]}, '{"label": "purple"}', Classification),
    "multi-label-classification": ({"classes": ["red", "purple"]}, '["purple"]', MultiLabelClassification),
    "object-detection": (
        {"classes": ["square"]},
        '[{"bbox_2d": [0, 0, 500, 500], "label": "square"}]',
        Detections,
    ),
    "structured-answering": (
        {"output_structure": {"colour": "main colour"}},
        '{"colour": "purple"}',
        Extraction,
    ),
}


@pytest.mark.parametrize("task", list(BLOCK_TASKS))
def test_run_accepts_every_block_task_type(task: str) -> None:
    params, answer, result_type = BLOCK_TASKS[task]
    fake = FakeBackend(answer)
    result = QwenVLM(backend=fake).run(task, IMG, **params)
    assert isinstance(result, result_type)
    assert result.ok, result.error
    assert result.text == answer
    assert result.model == "Qwen/Qwen3-VL-8B-Instruct"
    assert isinstance(result.usage, Usage)
    assert fake.requests[0].task == task


def test_every_method_single_and_batch() -> None:
    class Colour(BaseModel):
        colour: str

    answers = {
        "prompt": "x",
        "ocr": "TEXT",
        "ask": "yes",
        "caption": "cap",
        "classify": "purple",
        "classify_multi": "purple, red",
        "detect": '[{"bbox_2d": [0, 0, 500, 500], "label": "sq"}]',
        "point": '[{"point_2d": [500, 500], "label": "sq"}]',
        "extract": '{"colour": "purple"}',
    }
    calls = {
        "prompt": lambda v, im: v.prompt(im, "hi"),
        "ocr": lambda v, im: v.ocr(im),
        "ask": lambda v, im: v.ask(im, "q?"),
        "caption": lambda v, im: v.caption(im, detailed=True),
        "classify": lambda v, im: v.classify(im, ["red", "purple"]),
        "classify_multi": lambda v, im: v.classify_multi(im, ["red", "purple"]),
        "detect": lambda v, im: v.detect(im, ["sq"]),
        "point": lambda v, im: v.point(im, ["sq"]),
        "extract": lambda v, im: v.extract(im, Colour),
    }
    for name, call in calls.items():
        vlm = QwenVLM(backend=FakeBackend(answers[name]))
        one = call(vlm, IMG)
        assert one.ok, (name, one.error)
        many = call(vlm, [IMG, IMG, IMG])
        assert isinstance(many, list) and len(many) == 3 and all(r.ok for r in many), name
        assert call(vlm, []) == []
    vlm = QwenVLM(backend=FakeBackend(answers["extract"]))
    assert vlm.extract(IMG, Colour).data == Colour(colour="purple")
    det = QwenVLM(backend=FakeBackend(answers["detect"])).detect(IMG, ["sq"])
    assert det.xyxy == [(0.0, 0.0, 320.0, 240.0)] and det.image_size == (640, 480)
    pts = QwenVLM(backend=FakeBackend(answers["point"])).point(IMG, ["sq"])
    assert isinstance(pts, Points) and pts[0].xy == (320.0, 240.0)


def test_batch_order_is_kept_under_concurrency() -> None:
    def answer(request: GenerationRequest) -> str:
        time.sleep(0.001 * (7 - request.image.index % 7))  # finish out of order
        return f"image-{request.image.index}"

    fake = FakeBackend(answer, max_concurrency=8)
    results = QwenVLM(backend=fake).ask([IMG] * 50, "which?")
    assert [r.text for r in results] == [f"image-{i}" for i in range(50)]


def test_batching_chunks_by_max_batch_size() -> None:
    fake = FakeBackend("ok", max_batch_size=4)
    QwenVLM(backend=fake).caption([IMG] * 10)
    assert fake.calls == 3 and len(fake.requests) == 10


def test_one_failing_image_does_not_lose_the_others() -> None:
    fake = FakeBackend(["a", RateLimitError("slow down"), "not json at all", "c"])
    results = QwenVLM(backend=fake).classify([IMG] * 4, ["a", "c"])
    assert [r.label for r in results] == ["a", None, None, "c"]
    assert results[1].error is not None and "RateLimitError: slow down" in results[1].error
    assert results[2].error is not None and "none of the classes" in results[2].error
    assert results[2].text == "not json at all"


def test_strict_raises_the_per_image_errors() -> None:
    # A list: one BatchError after every image was tried, carrying every result.
    fake = FakeBackend(["[]", "garbage", "also garbage", "[]"])
    with pytest.raises(BatchError, match=r"2 of 4 images failed \(indices 1, 2\)") as info:
        QwenVLM(backend=fake).detect([IMG] * 4, strict=True)
    assert len(fake.requests) == 4 and info.value.failed == [1, 2]
    assert [r.ok for r in info.value.results] == [True, False, False, True]
    first = info.value.exceptions[0]
    assert isinstance(first, OutputParseError) and first.text == "garbage" and first.index == 1
    # A single image: the error itself.
    with pytest.raises(OutputParseError) as single:
        QwenVLM(backend=FakeBackend(["garbage"])).detect(IMG, strict=True)
    assert single.value.text == "garbage" and single.value.index is None
    with pytest.raises(RateLimitError):
        QwenVLM(backend=FakeBackend([RateLimitError("x")])).ocr(IMG, strict=True)


@pytest.mark.parametrize(
    "error", [AuthenticationError("bad key", 401), InsufficientCreditsError("no credits", 402)]
)
def test_whole_call_errors_raise_at_once_in_a_batch(error: Exception) -> None:
    fake = FakeBackend(["ok", error, "ok", "ok"])
    with pytest.raises(type(error)):
        QwenVLM(backend=fake).caption([IMG] * 4)


def test_backend_bug_is_contained() -> None:
    class Broken(FakeBackend):
        def generate(self, requests: Any) -> list[GenerationResponse]:
            raise KeyError("oops")

    results = QwenVLM(backend=Broken()).caption([IMG, IMG])
    assert all(r.error and "KeyError" in r.error for r in results)


def test_wrong_number_of_responses_is_an_error_not_a_crash() -> None:
    class Short(FakeBackend):
        def generate(self, requests: Any) -> list[GenerationResponse]:
            return []

    results = QwenVLM(backend=Short()).caption([IMG, IMG])
    assert all(r.error and "0 responses for 1" in r.error for r in results)


def test_garbage_never_looks_like_an_empty_success() -> None:
    vlm = QwenVLM(backend=FakeBackend(["[]", "I see nothing to box."]))
    empty, garbage = vlm.detect([IMG, IMG])
    assert empty.ok and len(empty) == 0
    assert not garbage.ok and len(garbage) == 0


def test_empty_text_answer_is_an_error() -> None:
    assert QwenVLM(backend=FakeBackend("  ")).ocr(IMG).error == "the model returned an empty answer"


def test_thinking_split_from_content_and_from_the_backend() -> None:
    vlm = QwenVLM(backend=FakeBackend("<think>hmm</think>A cat."))
    result = vlm.caption(IMG)
    assert (result.thinking, result.text) == ("hmm", "A cat.")
    fake = FakeBackend([GenerationResponse(text="A dog.", thinking="reasoned")])
    result = QwenVLM(backend=fake).caption(IMG)
    assert (result.thinking, result.text) == ("reasoned", "A dog.")


def test_call_options_reach_the_request() -> None:
    fake = FakeBackend("x", model="Qwen/Qwen3.5-2B")
    QwenVLM(backend=fake).ask(IMG, "q", max_tokens=77, temperature=0.5, enable_thinking=True)
    request = fake.requests[0]
    assert (request.max_tokens, request.temperature, request.enable_thinking) == (77, 0.5, True)
    assert request.prompt == "q"
    QwenVLM(backend=fake).ask(IMG, "q", enable_thinking=True)
    assert fake.requests[-1].max_tokens == 4096  # thinking raises the default budget
    QwenVLM(backend=fake).ask(IMG, "q")
    assert fake.requests[-1].max_tokens == 1024


def test_extract_sends_a_json_schema() -> None:
    fake = FakeBackend('{"total": "1"}')
    QwenVLM(backend=fake).extract(IMG, {"total": "the total"})
    schema = fake.requests[0].json_schema
    assert schema is not None and schema["required"] == ["total"]
    assert '"total": the total' in fake.requests[0].prompt


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda v: v.classify(IMG, []), "non-empty list"),
        (lambda v: v.classify(IMG, ["a", ""]), "non-empty string"),
        (lambda v: v.classify(IMG, [1, 2]), "non-empty string"),
        (lambda v: v.point(IMG, None), "needs classes"),
        (lambda v: v.ask(IMG, ""), "non-empty string"),
        (lambda v: v.prompt(IMG, None), "non-empty string"),
        (lambda v: v.extract(IMG, {}), "schema"),
        (lambda v: v.extract(IMG, "fields"), "schema"),
        (lambda v: v.caption(IMG, temperature=5), "temperature"),
        (lambda v: v.caption(IMG, max_tokens=0), "max_tokens"),
        (lambda v: v.run("segment", IMG), "unknown task"),
        (lambda v: v.run("classification", IMG, classes=["a"], colour="red"), "unknown parameter"),
        (lambda v: v.caption(IMG, enable_thinking=True), "no thinking mode"),
    ],
)
def test_bad_parameters_fail_before_sending(call: Any, message: str) -> None:
    fake = FakeBackend("x")
    with pytest.raises(ConfigurationError, match=message):
        call(QwenVLM(backend=fake))
    assert fake.requests == []


def test_thinking_only_model_cannot_switch_off() -> None:
    fake = FakeBackend("x", model="Qwen/Qwen3-VL-8B-Thinking")
    with pytest.raises(ConfigurationError, match="always thinks"):
        QwenVLM(backend=fake).caption(IMG, enable_thinking=False)


def test_text_only_model_is_a_configuration_error() -> None:
    fake = FakeBackend("x", model="qwen/qwen3-8b")
    with pytest.raises(ConfigurationError, match="text-only"):
        QwenVLM(backend=fake).caption(IMG)


def test_client_construction_errors() -> None:
    with pytest.raises(ConfigurationError, match="unknown backend"):
        QwenVLM("x", backend="tensorflow")
    with pytest.raises(ConfigurationError, match="do not apply"):
        QwenVLM("some-model", backend=FakeBackend())
    with pytest.raises(ConfigurationError, match="Backend object"):
        QwenVLM(backend=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="served by backend"):
        QwenVLM("qwen/qwen3.6-27b", backend="local")


def test_repr_and_context_manager() -> None:
    with QwenVLM(backend=FakeBackend("x")) as vlm:
        assert repr(vlm) == "QwenVLM(model='Qwen/Qwen3-VL-8B-Instruct', backend=FakeBackend)"
        assert vlm.info.family == "qwen3_vl"
        r = vlm.caption(IMG)
    assert repr(r) == "TextResult('x')"


def test_progress_bar_for_batches(capsys: pytest.CaptureFixture[str]) -> None:
    QwenVLM(backend=FakeBackend("x")).caption([IMG] * 3, progress=True)
    assert "3/3" in capsys.readouterr().err


def test_one_client_is_safe_to_share_between_threads() -> None:
    fake = FakeBackend(lambda r: f"{r.prompt}", max_concurrency=4)
    vlm = QwenVLM(backend=fake)
    out: dict[int, str] = {}

    def worker(i: int) -> None:
        out[i] = vlm.ask(IMG, f"q{i}").text

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: f"q{i}" for i in range(16)}


async def test_async_client_same_methods() -> None:
    fake = FakeBackend(lambda r: f"answer-{r.image.index}", max_concurrency=5)
    vlm = AsyncQwenVLM(backend=fake)
    results = await vlm.ask([IMG] * 20, "q")
    assert [r.text for r in results] == [f"answer-{i}" for i in range(20)]
    one = await vlm.caption(IMG)
    assert one.text == "answer-None"
    det = await AsyncQwenVLM(backend=FakeBackend('[{"bbox_2d": [0,0,1000,1000], "label": "x"}]')).detect(IMG)
    assert det.xyxy == [(0.0, 0.0, 640.0, 480.0)]
    for name in (
        "prompt",
        "ocr",
        "ask",
        "caption",
        "classify",
        "classify_multi",
        "detect",
        "point",
        "extract",
        "run",
    ):
        assert hasattr(vlm, name)
    run = await AsyncQwenVLM(backend=FakeBackend('{"label": "a"}')).run("classification", IMG, classes=["a"])
    assert run.label == "a"
    async with AsyncQwenVLM(backend=FakeBackend("x")) as client:
        assert (await client.ocr(IMG)).text == "x"


async def test_async_whole_call_error_and_per_image_errors() -> None:
    vlm = AsyncQwenVLM(backend=FakeBackend(["ok", RateLimitError("x"), "ok"]))
    results = await vlm.caption([IMG] * 3)
    assert [r.ok for r in results] == [True, False, True]
    with pytest.raises(AuthenticationError):
        await AsyncQwenVLM(backend=FakeBackend(["ok", AuthenticationError("k", 401)])).caption([IMG] * 2)


def test_sync_client_works_inside_a_running_event_loop() -> None:
    import asyncio

    async def inside() -> str:
        return QwenVLM(backend=FakeBackend("works")).caption(IMG).text  # as in a Jupyter cell

    assert asyncio.run(inside()) == "works"


def test_reasoning_without_answer_says_so() -> None:
    fake = FakeBackend([GenerationResponse(text="", thinking="let me think about every pixel")])
    result = QwenVLM(backend=fake).caption(IMG)
    assert (
        result.error is not None and "max_tokens" in result.error and "enable_thinking=False" in result.error
    )
    detections = QwenVLM(backend=FakeBackend("<think>counting cats")).detect(IMG)
    assert detections.error is not None and "reasoning but no answer" in detections.error


def test_draw_boxes_and_points() -> None:
    image = Image.new("RGB", (200, 100), (0, 0, 0))
    dets = QwenVLM(backend=FakeBackend('[{"bbox_2d": [100, 100, 900, 900], "label": "x"}]')).detect(image)
    drawn = dets.draw(image)
    assert drawn.size == image.size and drawn is not image
    assert drawn.getpixel((20, 50)) != (0, 0, 0)  # the box's left edge at x = 20
    assert image.getpixel((20, 50)) == (0, 0, 0)  # the input is untouched
    pts = QwenVLM(backend=FakeBackend('[{"point_2d": [500, 500], "label": "p"}]')).point(image, ["p"])
    assert pts.draw(image).getpixel((100, 50)) != (0, 0, 0)


def test_short_reprs() -> None:
    dets = QwenVLM(backend=FakeBackend('[{"bbox_2d": [0, 0, 500, 500], "label": "x"}]')).detect(IMG)
    assert repr(dets) == "Detections([Detection('x', xyxy=(0.0, 0.0, 320.0, 240.0))])"
    pts = QwenVLM(backend=FakeBackend('[{"point_2d": [500, 500], "label": "p"}]')).point(IMG, ["p"])
    assert repr(pts) == "Points([Point('p', xy=(320.0, 240.0))])"
    bad = QwenVLM(backend=FakeBackend("nope")).detect(IMG)
    assert repr(bad) == "Detections([], error='the answer contains no JSON')"
    assert (
        repr(QwenVLM(backend=FakeBackend('{"label": "a"}')).classify(IMG, ["a"]))
        == "Classification(label='a')"
    )


def test_ocr_regions_through_the_client() -> None:
    html = '```html\n<p data-bbox="0 0 322 119">Hello</p>\n```'
    fake = FakeBackend(html, model="Qwen/Qwen2.5-VL-7B-Instruct", input_size=(322, 238))
    result = QwenVLM(backend=fake).ocr(IMG)
    assert [(r.tag, r.text) for r in result.regions] == [("p", "Hello")]
    assert result.regions[0].xyxy == pytest.approx((0, 0, 640, 240))  # converted with the size it saw
