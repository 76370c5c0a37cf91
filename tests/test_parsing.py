"""Table tests for the pure parsing helpers and task parsers."""

from __future__ import annotations

import pytest

from qwen_vlm import parse
from qwen_vlm.geometry import PixelBudget, box_to_pixels, smart_resize
from qwen_vlm.models import FAMILIES
from qwen_vlm.parsing import NoJSONError, find_fences, find_mentions, normalize_label, parse_json
from qwen_vlm.tasks.classification import match_class, match_classes
from qwen_vlm.thinking import split_thinking


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"a": 1}]', [{"a": 1}]),
        ('```json\n[{"a": 1}]\n```', [{"a": 1}]),
        ('Here you go:\n```json\n{"a": 1}\n```\nHope it helps!', {"a": 1}),
        ("[{'a': 'b'}]", [{"a": "b"}]),
        ('[{"a": 1},]', [{"a": 1}]),
        ('{"a": 1}\n{"a": 2}', [{"a": 1}, {"a": 2}]),  # JSON Lines
        ('[{"a": 1}, {"a": 2}, {"a": ', [{"a": 1}, {"a": 2}]),  # cut inside the last element
        ('[{"a": 1}, {"a": 2}', [{"a": 1}, {"a": 2}]),  # cut after a complete element
        ('[{"b": [1, 2]}, {"b": [3, 4', [{"b": [1, 2]}]),
        ("```json\n[]\n```", []),
        ("[]", []),
        ('prose {"k": "v"} more prose', {"k": "v"}),
        ('<tool_call>\n{"name": "x"}\n</tool_call>', {"name": "x"}),
        ('```\n{"a": "it\'s"}\n```', {"a": "it's"}),
    ],
)
def test_parse_json(text: str, expected: object) -> None:
    assert parse_json(text) == expected


@pytest.mark.parametrize("text", ["", "no json here", "```json\nnot valid json\n```", "C. window", "Dog."])
def test_parse_json_garbage(text: str) -> None:
    with pytest.raises(NoJSONError):
        parse_json(text)


def test_find_fences_unclosed_and_indented() -> None:
    fences = find_fences("lead\n```html\n<p>x</p>\n```\nthen\n```json\n[1, 2")
    assert [(f.lang, f.closed) for f in fences] == [("html", True), ("json", False)]
    assert fences[0].body.strip() == "<p>x</p>"
    indented = find_fences("```json\n    [1]\n    ```")
    assert indented[0].closed and indented[0].body.strip() == "[1]"


@pytest.mark.parametrize(
    ("text", "started", "thinking", "answer"),
    [
        ("<think>a</think>b", False, "a", "b"),
        ("a</think>b", True, "a", "b"),
        ("a</think>b", False, "a", "b"),
        ("only thinking", True, "only thinking", ""),
        ("just an answer", False, None, "just an answer"),
        ("<think>\ncut off", False, "cut off", ""),
        ("<think>\n\n</think>\n\nanswer", False, "", "answer"),
        ("x<|im_end|></think>y<|endoftext|>", True, "x", "y"),
    ],
)
def test_split_thinking(text: str, started: bool, thinking: str | None, answer: str) -> None:
    assert split_thinking(text, thinking_started=started) == (thinking, answer)


@pytest.mark.parametrize(
    ("label", "norm"),
    [("TV-Stand.", "tvstand"), ("  Dog ", "dog"), ("红翅黑鹂", "红翅黑鹂"), ("a_b c", "abc")],
)
def test_normalize_label(label: str, norm: str) -> None:
    assert normalize_label(label) == norm


def test_find_mentions_prefers_longer_labels_and_whole_words() -> None:
    assert find_mentions("A TV stand next to a window", ["stand", "tv stand", "window"]) == [
        "tv stand",
        "window",
    ]
    assert find_mentions("a crown", ["crow"]) == []


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ('{"label": "dog"}', "dog"),
        ('```json\n{"label": "Dog"}\n```', "dog"),
        ("Dog.", "dog"),
        ("  CAT  ", "cat"),
        ("C. window", "window"),
        ("The image shows a cat sitting on a sofa.", "cat"),
        ("**Answer: D. D.**", "D"),
        ('"tv stand"', "tv stand"),
        ("TV-stand", "tv stand"),
    ],
)
def test_match_class(text: str, label: str) -> None:
    classes = ["cat", "dog", "window", "tv stand", "A", "B", "C", "D"]
    found, error = match_class(text, classes)
    assert (found, error) == (label, None)


@pytest.mark.parametrize(
    "text", ["", "I cannot tell.", "It could be a cat or a dog.", '{"label": "horse"}', "```json\nnope\n```"]
)
def test_match_class_failure_sets_error(text: str) -> None:
    found, error = match_class(text, ["cat", "dog"])
    assert found is None and error


@pytest.mark.parametrize(
    ("text", "labels", "ok"),
    [
        ('["dog", "Cat"]', ("cat", "dog"), True),
        ("[]", (), True),
        ("none", (), True),
        ("None of them.", (), True),
        ("cat, bird", ("cat", "bird"), True),
        ("There is a dog and a bird here.", ("dog", "bird"), True),
        ('```json\n["horse", "dog"]\n```', ("dog",), True),
        ("I see a horse.", (), False),
        ("", (), False),
    ],
)
def test_match_classes(text: str, labels: tuple[str, ...], ok: bool) -> None:
    found, error = match_classes(text, ["cat", "dog", "bird"])
    assert found == labels
    assert (error is None) is ok


@pytest.mark.parametrize(
    ("w", "h", "factor", "expected"),
    [
        (640, 480, 28, (644, 476)),
        (1280, 720, 28, (1288, 728)),
        (100, 100, 28, (112, 112)),
        (4000, 3000, 28, (4004, 2996)),
        (6000, 4000, 28, (4368, 2912)),
        (640, 480, 32, (640, 480)),
        (20, 20, 28, (56, 56)),
    ],
)
def test_smart_resize_known_values(w: int, h: int, factor: int, expected: tuple[int, int]) -> None:
    assert smart_resize(
        w, h, factor=factor, min_pixels=3136, max_pixels=12845056 if factor == 28 else 16777216
    ) == (expected)


def test_smart_resize_matches_qwen_vl_utils() -> None:
    vision_process = pytest.importorskip("qwen_vl_utils.vision_process")
    for w, h in [(640, 480), (1280, 720), (33, 999), (4032, 3024), (5000, 200), (28, 28), (7, 300)]:
        for factor, lo, hi in [
            (28, 3136, 12845056),
            (32, 65536, 16777216),
            (28, 256 * 28 * 28, 1280 * 28 * 28),
        ]:
            rh, rw = vision_process.smart_resize(h, w, factor, min_pixels=lo, max_pixels=hi)
            assert smart_resize(w, h, factor=factor, min_pixels=lo, max_pixels=hi) == (rw, rh)


def test_smart_resize_rejects_extreme_aspect() -> None:
    with pytest.raises(ValueError):
        smart_resize(10000, 10, factor=28, min_pixels=3136, max_pixels=12845056)


def test_a_pixel_budget_fits_sizes_as_smart_resize_does() -> None:
    budget = PixelBudget(32, 65_536, 600_000)
    assert budget.fit(640, 480) == (640, 480)  # within bounds, multiples of 32: kept
    expected = smart_resize(1600, 1248, factor=32, min_pixels=65_536, max_pixels=600_000)
    assert budget.fit(1600, 1248) == expected and expected[0] * expected[1] <= 600_000
    assert budget.fit(10000, 10) == (10000, 10)  # refused by the model: unchanged, sending says why


def test_box_conversion_per_family() -> None:
    assert box_to_pixels((100, 200, 500, 1000), "relative_1000", (640, 480)) == (64.0, 96.0, 320.0, 480.0)
    assert box_to_pixels((0, 0, 322, 238), "absolute", (640, 480), (644, 476)) == pytest.approx(
        (0, 0, 320, 240)
    )
    assert box_to_pixels((10, 10, 5, 20), "relative_1000", (640, 480)) is None  # x2 < x1
    assert box_to_pixels((1100, 0, 1200, 10), "relative_1000", (640, 480)) is None  # outside after clamp
    assert box_to_pixels((float("nan"), 0, 1, 1), "relative_1000", (640, 480)) is None


def test_qwen25_default_input_size_and_explicit_input_size() -> None:
    text = '[{"bbox_2d": [0, 0, 322, 238], "label": "cat"}]'
    default = parse("detect", text, "Qwen/Qwen2.5-VL-7B-Instruct", (640, 480))
    assert default[0].xyxy == pytest.approx((0, 0, 320, 240))
    explicit = parse("detect", text, "Qwen/Qwen2.5-VL-7B-Instruct", (640, 480), input_size=(322, 238))
    assert explicit[0].xyxy == pytest.approx((0, 0, 640, 480))


def test_points_parse_and_convert() -> None:
    text = (
        '```json\n[{"point_2d": [500, 500], "label": "cat"}, {"point_2d": [1050, -5], "label": "dog"}, '
        '{"x": 1}, {"point_2d": [1300, 10], "label": "far"}]\n```'
    )
    points = parse("point", text, "qwen/qwen3-vl-8b-instruct", (640, 480), classes=["cat", "dog"])
    assert points.error is None
    # Slightly outside the 0-1000 frame: clamped; far outside (30%): dropped and counted, like {"x": 1}.
    assert [(p.label, p.xy) for p in points] == [("cat", (320.0, 240.0)), ("dog", (640.0, 0.0))]
    assert points.dropped == 2
    assert points[0].raw_point == (500.0, 500.0)
    garbage = parse("point", "no idea", "qwen/qwen3-vl-8b-instruct", (640, 480), classes=["cat"])
    assert len(garbage) == 0 and garbage.error


def test_detection_shapes() -> None:
    model = "Qwen/Qwen3-VL-8B-Instruct"
    keyed = parse("detect", '{"cat": {"bbox_2d": [0, 0, 500, 500]}}', model, (1000, 1000))
    assert [(d.label, d.xyxy) for d in keyed] == [("cat", (0.0, 0.0, 500.0, 500.0))]
    nested = parse("detect", '[{"bbox_2d": [[0, 0], [500, 500]], "class_name": "dog"}]', model, (1000, 1000))
    assert [(d.label, d.xyxy) for d in nested] == [("dog", (0.0, 0.0, 500.0, 500.0))]
    strings = parse("detect", '[{"bbox_2d": ["1", "2", "30", "40"], "label": "x"}]', model, (1000, 1000))
    assert strings[0].xyxy == (1.0, 2.0, 30.0, 40.0)
    wrapped = parse(
        "detect", '{"detections": [{"bbox_2d": [1, 2, 30, 40], "label": "x"}]}', model, (1000, 1000)
    )
    assert len(wrapped) == 1
    no_boxes = parse("detect", '[{"label": "x"}]', model, (1000, 1000))
    assert len(no_boxes) == 0 and no_boxes.error
    number = parse("detect", "42", model, (1000, 1000))
    assert number.error


def test_ocr_text_spotting_regions() -> None:
    text = '```json\n[{"bbox_2d": [0, 0, 500, 100], "text_content": "Hello"}]\n```'
    result = parse("ocr", text, "Qwen/Qwen3-VL-8B-Instruct", (200, 100))
    assert [(r.text, r.xyxy) for r in result.regions] == [("Hello", (0.0, 0.0, 100.0, 10.0))]


def test_extract_with_schemas() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Receipt(pydantic.BaseModel):
        total: float
        company: str

    ok = parse("extract", 'Sure:\n```json\n{"total": "8.75", "company": "ACME"}\n```', schema=Receipt)
    assert isinstance(ok.data, Receipt) and ok.data.total == 8.75
    bad = parse("extract", '{"total": "lots"}', schema=Receipt)
    assert bad.data is None and bad.error and "Receipt" in bad.error
    fields = parse("extract", '[{"company": "ACME"}]', schema={"company": "name", "total": "amount"})
    assert fields.data == {"company": "ACME", "total": None}
    not_object = parse("extract", "[1, 2]", schema={"company": "name"})
    assert not_object.data is None and not_object.error


def test_parse_requires_image_size_for_grounding_and_known_task() -> None:
    from qwen_vlm import ConfigurationError

    with pytest.raises(ConfigurationError, match="image_size"):
        parse("object-detection", "[]", "Qwen/Qwen3-VL-8B-Instruct")
    with pytest.raises(ConfigurationError, match="unknown task"):
        parse("segmentation", "[]")
    with pytest.raises(ConfigurationError, match="family"):
        parse("caption", "x", model="some/unknown-model")
    assert FAMILIES["qwen2_5_vl"].coordinates == "absolute"
