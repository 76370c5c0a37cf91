"""Results to datasets: written with supervision's writers, read back by supervision to the same boxes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("supervision")

import numpy as np
import supervision as sv

from qwen_vlm import ConfigurationError, GenerationResponse, QwenVLM, export, to_detection_dataset
from qwen_vlm.logprobs import TokenLogprobs
from qwen_vlm.testing import FakeBackend

ANSWERS = {
    200: '[{"bbox_2d": [100, 100, 500, 500], "label": "cat"}, '
    '{"bbox_2d": [600, 200, 900, 800], "label": "dog"}]',
    210: '[{"bbox_2d": [50, 50, 400, 900], "label": "dog"}]',
    220: "[]",
    230: "not json",  # this image fails: listed in the report
}


def detections(tmp_path: Path, scored: bool = False) -> tuple[list[Any], list[Any]]:
    paths: list[Any] = []
    for k, width in enumerate(ANSWERS):
        path = tmp_path / "in" / f"photo{k}.jpg"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (width, 100), (k * 50, 80, 120)).save(path)
        paths.append(path)
    paths.append(Image.new("RGB", (200, 100), (1, 2, 3)))  # an in-memory image: written by the export

    def respond(request: Any) -> Any:
        text = ANSWERS[request.image.size[0]]
        if not scored:
            return text
        return GenerationResponse(text=text, logprobs=TokenLogprobs(tuple(text), tuple(-0.1 for _ in text)))

    vlm = QwenVLM(backend=FakeBackend(respond))
    return vlm.detect(paths, ["cat", "dog"], progress=False), paths


def boxes_of(dataset: Any) -> dict[str, tuple[list[list[float]], list[str]]]:
    out = {}
    for path, _image, found in dataset:
        names = [dataset.classes[int(c)] for c in found.class_id]
        out[Path(path).stem.split("_", 1)[-1]] = (found.xyxy.tolist(), names)
    return out


def expected(results: list[Any]) -> dict[str, tuple[list[list[float]], list[str]]]:
    out = {}
    for k, result in enumerate(results):
        if result.ok:
            name = f"photo{k}" if k < 4 else "image"
            out[name] = ([list(d.xyxy) for d in result], [d.label for d in result])
    return out


@pytest.mark.parametrize("format", ["coco", "yolo", "voc"])
def test_an_export_loads_back_with_supervision_to_the_same_boxes(tmp_path: Path, format: str) -> None:
    results, _ = detections(tmp_path)
    report = export(results, tmp_path / format, format=format)
    assert report.exported == 4 and report.classes == ("cat", "dog")
    assert [f["index"] for f in report.failed] == [3] and "failed" in report.failed[0]["error"]
    assert json.loads((tmp_path / format / "report.json").read_text())["failed"][0]["index"] == 3
    out = tmp_path / format
    if format == "coco":
        back = sv.DetectionDataset.from_coco(str(out / "images"), str(out / "annotations.json"))
    elif format == "yolo":
        back = sv.DetectionDataset.from_yolo(str(out / "images"), str(out / "labels"), str(out / "data.yaml"))
    else:
        back = sv.DetectionDataset.from_pascal_voc(str(out / "images"), str(out / "annotations"))
    assert list(back.classes)[:2] == ["cat", "dog"] or set(back.classes) <= {"cat", "dog"}
    found, wanted = boxes_of(back), expected(results)
    assert set(found) == set(wanted)
    for name, (xyxy, labels) in wanted.items():
        assert found[name][1] == labels, name
        assert np.allclose(found[name][0], xyxy, atol=1.0) if xyxy else found[name][0] == [], name


def test_coco_keeps_the_confidences(tmp_path: Path) -> None:
    results, _ = detections(tmp_path, scored=True)
    export(results, tmp_path / "coco", format="coco")
    data = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    scores = [a["score"] for a in data["annotations"]]
    assert len(scores) == sum(len(r) for r in results if r.ok) == 5 and all(0 < s <= 1 for s in scores)
    first = [d.confidence for d in results[0]]
    assert scores[:2] == pytest.approx(first)


def test_to_detection_dataset_and_min_confidence(tmp_path: Path) -> None:
    results, _ = detections(tmp_path, scored=True)
    dataset = to_detection_dataset(results)
    assert len(dataset) == 4 and list(dataset.classes) == ["cat", "dog"]
    top = max(c for r in results if r.ok for c in r.confidences)
    strict = to_detection_dataset(results, min_confidence=top)
    assert sum(len(d) for _, _, d in strict) == sum(
        1 for r in results if r.ok for c in r.confidences if c == top
    )


def test_classifications_export_as_folders_and_csv(tmp_path: Path) -> None:
    images = [tmp_path / f"c{k}.png" for k in range(3)]
    for k, path in enumerate(images):
        Image.new("RGB", (100 + k, 50)).save(path)
    answers = {100: '{"label": "cat"}', 101: '{"label": "dog"}', 102: "no idea"}
    vlm = QwenVLM(backend=FakeBackend(lambda r: answers[r.image.size[0]]))
    results = vlm.classify(images, ["cat", "dog"], progress=False)
    report = export(results, tmp_path / "folders", format="folders")
    assert report.exported == 2 and [f["index"] for f in report.failed] == [2]
    assert (tmp_path / "folders" / "cat" / "c0.png").is_file() and (
        tmp_path / "folders" / "dog" / "c1.png"
    ).is_file()
    export(results, tmp_path / "csv", format="csv")
    with open(tmp_path / "csv" / "labels.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(Path(r["image"]).name, r["label"]) for r in rows] == [("c0.png", "cat"), ("c1.png", "dog")]
    with pytest.raises(ConfigurationError, match="not classifications"):
        export(detections(tmp_path)[0], tmp_path / "x", format="csv")
    with pytest.raises(ConfigurationError, match="not detections"):
        export(results, tmp_path / "y", format="coco")
    with pytest.raises(ConfigurationError, match="format must be"):
        export(results, tmp_path / "z", format="tfrecord")  # type: ignore[arg-type]
