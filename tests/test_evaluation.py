"""qwen_vlm.evaluate: labelled datasets read and checked, metrics from pycocotools/scikit-learn/jiwer.

Answers are scripted with FakeBackend (one answer per image, picked by the image's width), so the
metrics are known in advance; the mixed case is checked against supervision's own mAP.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("pycocotools")
pytest.importorskip("sklearn")
pytest.importorskip("jiwer")

from qwen_vlm import DatasetError, Evaluation, GenerationResponse, QwenVLM, evaluate
from qwen_vlm.cli import main
from qwen_vlm.logprobs import TokenLogprobs
from qwen_vlm.testing import FakeBackend

CLASSES = ["cat", "dog"]
# Per image (widths 200, 210, 220, 230; height 100): the true boxes in pixels.
TRUTH = {
    200: [("cat", (10, 10, 60, 60)), ("dog", (100, 20, 180, 90))],
    210: [("cat", (20, 20, 80, 70))],
    220: [("dog", (5, 5, 50, 50)), ("dog", (120, 40, 200, 95))],
    230: [("cat", (50, 10, 150, 90))],
}


def make_coco(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    images, annotations = [], []
    for k, (width, boxes) in enumerate(TRUTH.items(), start=1):
        Image.new("RGB", (width, 100), (k * 40, 90, 200)).save(root / "images" / f"im{k}.png")
        images.append({"id": k, "file_name": f"im{k}.png", "width": width, "height": 100})
        for label, (x1, y1, x2, y2) in boxes:
            annotations.append(
                {"id": len(annotations) + 1, "image_id": k, "category_id": CLASSES.index(label) + 1,
                 "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
            )  # fmt: skip
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    path = root / "instances.json"
    path.write_text(json.dumps(data))
    return path


def answer(
    objects: list[tuple[str, tuple[float, float, float, float], float]], width: int
) -> GenerationResponse:
    """A Qwen3-VL answer (0-1000 grid) whose every object gets a known confidence (a log-probability per
    character of the object's text: confidence = exp(lp * (len(label) + 1)))."""
    parts, pieces, values = [], [], []
    for label, (x1, y1, x2, y2), lp in objects:
        grid = [
            round(x1 / width * 1000),
            round(y1 / 100 * 1000),
            round(x2 / width * 1000),
            round(y2 / 100 * 1000),
        ]
        parts.append((json.dumps({"bbox_2d": grid, "label": label}), lp))
    text = "[" + ", ".join(p for p, _ in parts) + "]"
    pieces.append("[")
    values.append(0.0)
    for k, (part, lp) in enumerate(parts):
        if k:
            pieces.append(", ")
            values.append(0.0)
        pieces.extend(part)
        values.extend([lp] * len(part))
    pieces.append("]")
    values.append(0.0)
    return GenerationResponse(text=text, logprobs=TokenLogprobs(tuple(pieces), tuple(values)))


def fake(by_width: dict[int, Any]) -> QwenVLM:
    def respond(request: Any) -> Any:
        return by_width[request.image.size[0]]

    return QwenVLM(backend=FakeBackend(respond))


def perfect() -> dict[int, Any]:
    return {w: answer([(label, box, -0.01) for label, box in boxes], w) for w, boxes in TRUTH.items()}


def test_perfect_answers_score_one(tmp_path: Path) -> None:
    result = evaluate(fake(perfect()), make_coco(tmp_path))
    assert isinstance(result, Evaluation)
    assert result.metrics["map50"] == pytest.approx(1.0) and result.metrics["map50_95"] > 0.9
    assert result.runs[0].per_class == pytest.approx(
        {"cat": result.runs[0].per_class["cat"], "dog": result.runs[0].per_class["dog"]}
    )
    assert result.runs[0].ranked is True and result.runs[0].failures == 0


def test_boxes_shifted_off_the_objects_score_zero(tmp_path: Path) -> None:
    def shifted(box: tuple[float, ...], width: int) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = box
        dx = width - x2 if x1 < width / 2 else -x1  # moved to the far side, clear of the object
        return (x1 + dx, y1, x2 + dx, y2)

    answers = {
        w: answer([(lb, shifted(b, w), -0.01) for lb, b in boxes if (b[2] - b[0]) * 2 < w], w)
        for w, boxes in TRUTH.items()
    }
    result = evaluate(fake(answers), make_coco(tmp_path))
    assert result.metrics["map50"] == 0.0 and result.metrics["map50_95"] == 0.0


def mixed() -> dict[int, Any]:
    return {
        200: answer(
            [
                ("cat", (12, 12, 62, 58), -0.02),
                ("dog", (10, 10, 60, 60), -0.30),
                ("dog", (102, 22, 178, 88), -0.05),
            ],
            200,
        ),
        210: answer([("cat", (30, 25, 90, 75), -0.10)], 210),
        220: answer([("dog", (6, 6, 48, 52), -0.04), ("cat", (120, 40, 200, 95), -0.20)], 220),
        230: answer([("cat", (0, 0, 40, 40), -0.50), ("cat", (55, 12, 150, 88), -0.03)], 230),
    }


def test_a_known_mix_equals_supervisions_map(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    sv = pytest.importorskip("supervision")
    from supervision.metrics import MeanAveragePrecision

    result = evaluate(fake(mixed()), make_coco(tmp_path))
    run = result.runs[0]
    predictions, targets = [], []
    for width, detections in zip(TRUTH, run.results, strict=True):
        predictions.append(sv.Detections(
            xyxy=detections.xyxy_array(), confidence=detections.confidence_array(),
            class_id=np.array([CLASSES.index(lb) for lb in detections.labels]),
        ))  # fmt: skip
        boxes = TRUTH[width]
        targets.append(sv.Detections(
            xyxy=np.array([b for _, b in boxes], dtype=float),
            class_id=np.array([CLASSES.index(lb) for lb, _ in boxes]),
        ))  # fmt: skip
    reference = MeanAveragePrecision().update(predictions, targets).compute()
    assert 0.0 < result.metrics["map50"] < 1.0
    assert result.metrics["map50"] == pytest.approx(reference.map50, abs=0.01)
    assert result.metrics["map50_95"] == pytest.approx(reference.map50_95, abs=0.01)
    # The confidences decide the ranking: the same boxes scored the other way round score lower.
    assert [round(c, 4) for c in run.results[0].confidences] == [
        round(math.exp(-0.02 * 4), 4),
        round(math.exp(-0.3 * 4), 4),
        round(math.exp(-0.05 * 4), 4),
    ]


def test_two_clients_give_two_rows_and_a_failed_image_is_a_miss(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    broken = dict(perfect())
    broken[210] = GenerationResponse(text="", error=None)  # an empty answer: that image fails to parse
    result = evaluate({"good": fake(perfect()), "one lost": fake(broken)}, make_coco(tmp_path))
    table = result.to_dataframe()
    assert list(table["client"]) == ["good", "one lost"] and len(table) == 2
    assert table["map50"][0] == pytest.approx(1.0) and table["map50"][1] < 1.0
    assert result["one lost"].failures == 1 and result["one lost"].images == 4
    per_image = result.to_dataframe(per="image")
    assert len(per_image) == 8 and per_image["ok"].sum() == 7
    assert "<table>" in result._repr_html_() and "<img" in result._repr_html_()
    assert len(result.to_dataframe(per="class")) == 4


def test_unranked_boxes_are_said_to_be(tmp_path: Path) -> None:
    plain = {w: GenerationResponse(text=r.text) for w, r in perfect().items()}
    run = evaluate(fake(plain), make_coco(tmp_path)).runs[0]
    assert run.ranked is False and run.metrics["map50"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------------- bad datasets
def counting() -> tuple[QwenVLM, FakeBackend]:
    backend = FakeBackend("[]")
    return QwenVLM(backend=backend), backend


def test_bad_coco_files_are_named_before_any_model_call(tmp_path: Path) -> None:
    vlm, backend = counting()
    path = make_coco(tmp_path)
    data = json.loads(path.read_text())
    cases = {
        "missing file": lambda d: d["images"].append({"id": 9, "file_name": "gone.png"}),
        "unknown image": lambda d: d["annotations"].append(
            {"id": 99, "image_id": 42, "category_id": 1, "bbox": [0, 0, 1, 1]}
        ),
        "empty categories": lambda d: d.update(categories=[]),
        "unknown category": lambda d: d["annotations"].append(
            {"id": 98, "image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1]}
        ),
    }
    expected = {
        "missing file": "gone.png",
        "unknown image": "image_id 42",
        "empty categories": "category list is empty",
        "unknown category": "category_id 7",
    }
    for name, change in cases.items():
        broken = json.loads(json.dumps(data))
        change(broken)
        target = tmp_path / f"{name.replace(' ', '_')}.json"
        target.write_text(json.dumps(broken))
        with pytest.raises(DatasetError, match=expected[name]) as caught:
            evaluate(vlm, target, images=tmp_path / "images")
        assert str(target) in str(caught.value)
    (tmp_path / "syntax.json").write_text('{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(DatasetError, match=r"syntax\.json:2: not valid JSON"):
        evaluate(vlm, tmp_path / "syntax.json")
    with pytest.raises(DatasetError, match="file not found"):
        evaluate(vlm, tmp_path / "nothing.json")
    assert backend.calls == 0


def make_yolo(root: Path, lines: dict[str, str]) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names:\n  - cat\n  - dog\n")
    for stem, text in lines.items():
        Image.new("RGB", (200, 100)).save(root / "images" / f"{stem}.jpg")
        (root / "labels" / f"{stem}.txt").write_text(text)
    return root


def test_yolo_folders_load_and_their_errors_name_file_and_line(tmp_path: Path) -> None:
    vlm, backend = counting()
    good = make_yolo(tmp_path / "good", {"a": "0 0.25 0.5 0.2 0.4\n1 0.75 0.5 0.2 0.2\n", "b": ""})
    result = evaluate(vlm, good)
    assert result.classes == ("cat", "dog") and result.runs[0].images == 2 and result.metrics["map50"] == 0.0
    bad = make_yolo(tmp_path / "bad", {"a": "0 0.5 0.5 0.1 0.1\n2 0.5 0.5 0.1 0.1\n"})
    with pytest.raises(DatasetError, match=r"a\.txt:2: class 2 is out of range"):
        evaluate(vlm, bad)
    orphan = make_yolo(tmp_path / "orphan", {"a": ""})
    (orphan / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match=r"ghost\.txt: labels for an image that is not"):
        evaluate(vlm, orphan)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "data.yaml").write_text("names: []\n")
    with pytest.raises(DatasetError, match="non-empty list"):
        evaluate(vlm, tmp_path / "empty")
    assert backend.calls == 2  # only the good dataset's two images were sent


def test_a_supervision_dataset_and_pairs(tmp_path: Path) -> None:
    sv = pytest.importorskip("supervision")
    path = make_coco(tmp_path)
    dataset = sv.DetectionDataset.from_coco(str(tmp_path / "images"), str(path))
    via_sv = evaluate(fake(perfect()), dataset)
    assert via_sv.metrics["map50"] == pytest.approx(1.0) and set(via_sv.classes) == {"cat", "dog"}
    pairs = [
        (str(tmp_path / "images" / f"im{k}.png"), boxes) for k, boxes in enumerate(TRUTH.values(), start=1)
    ]
    via_pairs = evaluate(fake(perfect()), pairs, classes=CLASSES)
    assert via_pairs.metrics["map50"] == pytest.approx(1.0)
    with pytest.raises(DatasetError, match="pair 0"):
        evaluate(fake(perfect()), [("x.png", [("cat", (5, 5, 1, 1))])])


# ----------------------------------------------------------------------------------- classification, OCR
def images_by_width(count: int) -> list[Image.Image]:
    return [Image.new("RGB", (100 + 10 * k, 80)) for k in range(count)]


def test_classification_accuracy_and_macro_f1_equal_scikit_learns(tmp_path: Path) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    truth = ["cat", "cat", "dog", "bird", "dog", "cat"]
    guess = ["cat", "dog", "dog", "bird", "cat", None]  # the last one fails
    images = images_by_width(len(truth))
    answers = {
        im.size[0]: (json.dumps({"label": g}) if g else "no idea")
        for im, g in zip(images, guess, strict=True)
    }
    result = evaluate(
        fake(answers), list(zip(images, truth, strict=True)), task="classify", classes=["cat", "dog", "bird"]
    )
    filled = [g or "none" for g in guess]
    assert result.metrics["accuracy"] == pytest.approx(accuracy_score(truth, filled)) == pytest.approx(3 / 6)
    assert result.metrics["macro_f1"] == pytest.approx(
        f1_score(truth, filled, labels=["cat", "dog", "bird"], average="macro")
    )
    assert result.runs[0].failures == 1


def test_class_folders_and_multi_label(tmp_path: Path) -> None:
    for k, cls in enumerate(["cat", "dog", "cat"]):
        (tmp_path / "set" / cls).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (100 + 10 * k, 80)).save(tmp_path / "set" / cls / f"{k}.png")
    answers = {100: '{"label": "cat"}', 110: '{"label": "cat"}', 120: '{"label": "cat"}'}
    single = evaluate(fake(answers), tmp_path / "set", task="classify")
    assert single.classes == ("cat", "dog") and single.metrics["accuracy"] == pytest.approx(2 / 3)
    images = images_by_width(3)
    truth = [{"cat", "dog"}, {"dog"}, set()]
    multi = {100: '["cat", "dog"]', 110: '["cat"]', 120: "[]"}
    result = evaluate(
        fake(multi), list(zip(images, truth, strict=True)), task="classify_multi", classes=["cat", "dog"]
    )
    assert result.runs[0].per_class == pytest.approx({"cat": 2 / 3, "dog": 2 / 3})
    assert result.metrics["accuracy"] == pytest.approx(2 / 3) and result.metrics["macro_f1"] == pytest.approx(
        2 / 3
    )


def test_ocr_character_error_rate() -> None:
    images = images_by_width(3)
    truth = ["hello world", "abc", "qwen"]
    said = {100: "hello word", 110: "abc", 120: ""}
    result = evaluate(fake(said), list(zip(images, truth, strict=True)), task="ocr")
    # 1 deletion + 0 + a failed (empty) answer: 4 deletions, over 11 + 3 + 4 characters.
    assert result.metrics["cer"] == pytest.approx(5 / 18)
    assert [row["cer"] for row in result.runs[0].per_image] == pytest.approx([1 / 11, 0.0, 1.0])


def test_tasks_that_cannot_be_evaluated_are_refused() -> None:
    from qwen_vlm import ConfigurationError

    with pytest.raises(ConfigurationError, match="evaluate scores"):
        evaluate(fake({}), [], task="caption")


def test_the_cli_evaluates_a_coco_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_coco(tmp_path)
    import qwen_vlm.evaluation.command as command

    monkeypatch.setattr(command, "_client", lambda args, model: fake(perfect()))
    assert main(["evaluate", str(path), "--task", "detect", "--model", "a", "--model", "b", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["client"] for r in rows] == ["a", "b"] and rows[0]["map50"] == pytest.approx(1.0)
    assert main(["evaluate", str(tmp_path / "missing.json"), "--task", "detect"]) == 2
    assert "missing.json: file not found" in capsys.readouterr().err
