"""The loop label -> export -> fine-tune -> evaluate, on tiny random-weight checkpoints (CPU).

* Exported answers read back through the SDK's own parser give the labels (boxes within 1 px), for
  every family, several image sizes and pixel bounds.
* Exported files load with ``datasets`` and pass through the target model's chat template.
* A LoRA fine-tune (TRL + PEFT) memorises a handful of images: the base scores ~0, the tuned >= 0.9.
* Only the answer's tokens carry loss; the loss falls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

import qwen_vlm
from qwen_vlm import ConfigurationError, DatasetError, QwenVLM, evaluate, export
from qwen_vlm.results import Classification, Detection, Detections, Point, Points
from qwen_vlm.training.targets import PixelBounds

MODELS = [
    "Qwen/Qwen2-VL-7B-Instruct",  # 0-1000
    "Qwen/Qwen2.5-VL-7B-Instruct",  # absolute pixels of the resized input
    "Qwen/Qwen3-VL-8B-Instruct",  # 0-1000
    "Qwen/Qwen3.5-9B",  # 0-1000
]
SIZES = [(640, 480), (1001, 333), (97, 1500), (3000, 2000)]
BOUNDS = [(None, None), (256 * 28 * 28, 1280 * 28 * 28), (64 * 64, 32 * 32 * 256)]


def boxes_for(size: tuple[int, int]) -> list[tuple[str, tuple[float, float, float, float]]]:
    w, h = size
    return [
        ("cat", (0.1 * w, 0.2 * h, 0.55 * w, 0.9 * h)),
        ("dog", (0.6 * w + 0.37, 0.05 * h, w - 1.0, 0.4 * h)),
    ]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("bounds", BOUNDS)
def test_exported_boxes_and_points_read_back_through_the_sdk(
    model: str, bounds: tuple[int | None, int | None], tmp_path: Path
) -> None:
    results, point_results = [], []
    for size in SIZES:
        image = Image.new("RGB", size, "white")
        boxes = boxes_for(size)
        results.append(Detections(detections=tuple(Detection(lab, box) for lab, box in boxes), source=image))
        points = tuple(Point(lab, ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)) for lab, b in boxes)
        point_results.append(Points(points=points, source=image))
    low, high = bounds
    for task, made, out in (("detect", results, tmp_path / "d"), ("point", point_results, tmp_path / "p")):
        report = export(made, out, format="sft", model=model, task=task, min_pixels=low, max_pixels=high)
        assert report.exported == len(SIZES) and report.format == "sft"
        written = json.loads((out / "report.json").read_text())
        info = qwen_vlm.models.resolve_model(model, "openai")
        assert written["family"] == info.family and written["coordinates"] == info.spec.coordinates
        spans = PixelBounds(written["min_pixels"], written["max_pixels"], written["factor"])
        if low:
            assert (written["min_pixels"], written["max_pixels"]) == (low, high)
        for line in (out / "train.jsonl").read_text().splitlines():
            record = json.loads(line)
            size = Image.open(out / record["images"][0]).size
            answer = record["messages"][1]["content"][0]["text"]
            prompt = record["messages"][0]["content"][1]["text"]
            assert prompt == qwen_vlm.prompts.detect_prompt(["cat", "dog"]) or task == "point"
            seen = spans.resized(size) if info.spec.coordinates == "absolute" else None
            parsed = qwen_vlm.parse(task, answer, model, size, seen, classes=["cat", "dog"])
            assert parsed.ok, parsed.error
            expected = boxes_for(size)
            # Integer coordinates: within 1 px wherever a model unit is at most 2 px of the image, and
            # within half a unit (the format's own resolution) where the image is larger than that.
            units = seen or (1000, 1000)
            tx = max(1.0, 0.5 * size[0] / units[0]) + 1e-9
            ty = max(1.0, 0.5 * size[1] / units[1]) + 1e-9
            for (label, box), found in zip(expected, parsed, strict=True):
                assert found.label == label
                if task == "detect":
                    gaps = [abs(a - b) for a, b in zip(found.xyxy, box, strict=True)]
                    assert gaps[0] <= tx and gaps[2] <= tx and gaps[1] <= ty and gaps[3] <= ty, (found, box)
                else:
                    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                    assert abs(found.xy[0] - x) <= tx and abs(found.xy[1] - y) <= ty, (found, box)


def squares(count: int = 4) -> list[tuple[Image.Image, list[tuple[str, tuple[int, int, int, int]]]]]:
    """Labelled images: a white square on a coloured ground, somewhere else in each."""
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    pairs = []
    for k in range(count):
        image = Image.new("RGB", (128, 96), colours[k])
        box = (10 + 20 * k, 10 + 10 * k, 60 + 15 * k, 50 + 10 * k)
        ImageDraw.Draw(image).rectangle(box, fill=(255, 255, 255))
        pairs.append((image, [("box", box)]))
    return pairs


@pytest.fixture(scope="module")
def tiny(checkpoints: dict[str, Path]) -> dict[str, Path]:
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    pytest.importorskip("datasets")
    return checkpoints


@pytest.mark.parametrize("shape", ["messages", "sharegpt", "swift", "maestro"])
def test_exported_files_load_and_pass_the_chat_template(
    tiny: dict[str, Path], shape: str, tmp_path: Path
) -> None:
    import datasets
    from transformers import AutoProcessor

    model = str(tiny["qwen2_5_vl"])
    export(squares(), tmp_path, format="sft", model=model, task="detect", shape=shape, validation=0.25)
    files = (
        ["train/annotations.jsonl", "valid/annotations.jsonl"]
        if shape == "maestro"
        else ["train.jsonl", "validation.jsonl"]
    )
    loaded = datasets.load_dataset(
        "json", data_files={"train": str(tmp_path / files[0]), "validation": str(tmp_path / files[1])}
    )
    assert loaded["train"].num_rows == 3 and loaded["validation"].num_rows == 1
    if shape == "maestro":
        row = loaded["train"][0]
        assert (tmp_path / "train" / row["image"]).is_file() and row["suffix"].startswith('[{"bbox_2d"')
        return
    processor = AutoProcessor.from_pretrained(model)
    for row in loaded["train"]:
        messages = row["messages"]
        if shape == "messages":
            messages = [{**m, "content": [p for p in m["content"] if p.get("type")]} for m in messages]
            text = processor.apply_chat_template(messages, tokenize=False)
            assert "<|image_pad|>" in text and "bbox_2d" in text
        else:
            assert messages[0]["content"].startswith("<image>") and (tmp_path / row["images"][0]).is_file()
            processor.apply_chat_template(messages, tokenize=False)


def test_only_the_answer_carries_loss(tiny: dict[str, Path], tmp_path: Path) -> None:
    from transformers import AutoProcessor

    from qwen_vlm.training.collate import IGNORE, SFTCollator

    model = str(tiny["qwen3_vl"])
    export(squares(2), tmp_path, format="sft", model=model, task="detect")
    records = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    processor = AutoProcessor.from_pretrained(model)
    batch = SFTCollator(processor, tmp_path, {})(records)
    for row, record in enumerate(records):
        labels, ids = batch["labels"][row].tolist(), batch["input_ids"][row].tolist()
        kept = [k for k, label in enumerate(labels) if label != IGNORE]
        answer = record["messages"][1]["content"][0]["text"] + processor.tokenizer.eos_token
        assert processor.tokenizer.decode([ids[k] for k in kept]) == answer  # the answer, and nothing else
        assert kept == list(range(kept[0], kept[-1] + 1))  # in one run, after the whole prompt
        image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        assert all(ids[k] != image_pad for k in kept) and kept[0] > ids.index(image_pad)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_a_lora_fine_tune_memorises_the_boxes(tiny: dict[str, Path], family: str, tmp_path: Path) -> None:
    model = str(tiny[family])
    pairs = squares()
    export(pairs, tmp_path / "data", format="sft", model=model, task="detect")
    tuned = qwen_vlm.finetune(
        tmp_path / "data", model=model, output_dir=tmp_path / "adapter", epochs=60, learning_rate=1e-2,
        gradient_accumulation=1, rank=16, alpha=32, modules_to_save=["lm_head"],
    )  # fmt: skip
    assert tuned.adapter is not None and (tuned.adapter / "adapter_config.json").is_file()
    first, last = tuned.losses[0][1], tuned.losses[-1][1]
    assert last < first / 10, tuned.losses  # the loss on the answers falls
    base = QwenVLM(model, min_pixels=tuned.min_pixels, max_pixels=tuned.max_pixels)
    report = evaluate({"base": base, "tuned": tuned.client()}, pairs, task="detect", max_tokens=60)
    before, after = (run.metrics["map50"] for run in report.runs)
    print(f"{family}: mAP@50 base {before:.3f}, tuned {after:.3f}; {tuned.seconds:.1f} s of training")
    assert before <= 0.1 and after >= 0.9


def test_a_classifier_fine_tune_learns_the_classes(tiny: dict[str, Path], tmp_path: Path) -> None:
    model = str(tiny["qwen2_5_vl"])
    names = ["red", "green", "blue", "yellow"]
    pairs = [(image, names[k]) for k, (image, _) in enumerate(squares())]
    results = [Classification(label=label, source=image) for image, label in pairs]
    export(results, tmp_path / "data", format="sft", model=model, task="classify", classes=names)
    tuned = qwen_vlm.finetune(
        tmp_path / "data", model=model, output_dir=tmp_path / "adapter", epochs=60, learning_rate=1e-2,
        gradient_accumulation=1, rank=16, alpha=32, modules_to_save=["lm_head"], merge=True,
    )  # fmt: skip
    assert tuned.merged is not None and (tuned.merged / "config.json").is_file()
    base = QwenVLM(model, min_pixels=tuned.min_pixels, max_pixels=tuned.max_pixels)
    report = evaluate([base, tuned.client()], pairs, task="classify", constrained=False, max_tokens=20)
    before, after = (run.metrics["accuracy"] for run in report.runs)
    print(f"classify: accuracy base {before:.2f}, tuned {after:.2f}")
    assert after >= 0.9 and before < after


def test_bad_training_input_is_refused_before_training(tiny: dict[str, Path], tmp_path: Path) -> None:
    model = str(tiny["qwen2_5_vl"])
    with pytest.raises(DatasetError, match="empty"):
        export([], tmp_path / "empty", format="sft", model=model, task="detect")
    with pytest.raises(ConfigurationError, match="cannot be made into training data"):
        export(squares(), tmp_path / "g", format="sft", model=model, task="ground")
    with pytest.raises(ConfigurationError, match="needs model="):
        export(squares(), tmp_path / "m", format="sft", task="detect")
    with pytest.raises(ConfigurationError, match="family"):
        export(squares(), tmp_path / "u", format="sft", model="some/llava", task="detect")
    export(squares(2), tmp_path / "data", format="sft", model=model, task="detect")
    with pytest.raises(ConfigurationError, match="qwen2_5_vl coordinates"):
        qwen_vlm.finetune(tmp_path / "data", model=str(tiny["qwen3_vl"]), output_dir=tmp_path / "out")
    Path(tmp_path / "data" / "images" / "000000.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="record 1: its image cannot be read"):
        qwen_vlm.finetune(tmp_path / "data", model=model, output_dir=tmp_path / "out")
    with pytest.raises(DatasetError, match="not found"):
        qwen_vlm.finetune(tmp_path / "nothing", model=model, output_dir=tmp_path / "out")
    with pytest.raises(ConfigurationError, match="rank"):
        qwen_vlm.finetune(tmp_path / "data", model=model, output_dir=tmp_path / "out", rank=0)


def test_export_from_a_labelled_dataset(tmp_path: Path) -> None:
    """Pairs as evaluate reads them; classes from the dataset; the report says what was skipped."""
    pairs: list[Any] = [(image, boxes) for image, boxes in squares(3)]
    pairs.append((tmp_path / "missing.png", [("box", (1, 1, 5, 5))]))
    report = export(pairs, tmp_path / "out", format="sft", model="Qwen/Qwen3-VL-8B-Instruct", task="detect")
    assert report.exported == 3 and len(report.failed) == 1 and "missing.png" in json.dumps(report.failed)


def test_the_command_line_fine_tunes(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qwen_vlm.cli import main

    model = str(tiny["qwen3_vl"])
    export(squares(2), tmp_path / "data", format="sft", model=model, task="detect")
    code = main(["finetune", str(tmp_path / "data"), "--model", model, "--output", str(tmp_path / "out"),
                 "--epochs", "2", "--gradient-accumulation", "1", "--json"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["adapter"] == str(tmp_path / "out") and summary["records"] == 2
    assert main(["finetune", str(tmp_path / "none"), "--model", model, "--output", str(tmp_path / "o")]) == 2
