"""Any task over a Ray Data dataset: a local Ray instance (2 CPUs), 200 images, no row lost or duplicated."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

if os.environ.get("CI"):  # CI installs the ray extra: there these tests always run
    import ray
ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from qwen_vlm import ConfigurationError  # noqa: E402
from qwen_vlm.integrations.ray import QwenVLMPredictor, run  # noqa: E402

N = 200


def read_back(dataset: Any, folder: Path) -> list[dict[str, Any]]:
    """Write the results to Parquet and read them back (the values must survive the round trip)."""
    dataset.write_parquet(str(folder))
    table = pq.read_table(str(folder))
    return sorted(table.to_pylist(), key=lambda row: row["id"])


def size_of(k: int) -> tuple[int, int]:
    return 64 + k % 37, 48 + k % 23


def test_200_images_on_a_tiny_checkpoint(local_ray: None, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from qwen_vlm.tiny import build_tiny_checkpoint, scripted

    os.environ["HF_HUB_OFFLINE"] = "1"
    checkpoint = build_tiny_checkpoint(tmp_path / "tiny", "qwen3_vl")
    missing = {13, 77, 150}
    rows = []
    for k in range(N):
        path = tmp_path / f"img{k}.png"
        if k not in missing:
            Image.new("RGB", size_of(k), (k % 256, 40, 90)).save(path)
        rows.append({"id": k, "path": str(path)})
    dataset = ray.data.from_items(rows)
    answer = '[{"bbox_2d": [250, 250, 750, 750], "label": "cat"}]'
    out = run(
        dataset, "detect", str(checkpoint), classes=["cat"], image_column="path", batch_size=8,
        concurrency=2, max_tokens=40,
        client_options={"device": "cpu", "generate_kwargs": scripted(answer), "batch_size": 8},
    )  # fmt: skip
    results = read_back(out, tmp_path / "parquet")
    assert [r["id"] for r in results] == list(range(N))  # none lost, none duplicated
    for row in results:
        k = row["id"]
        assert row["path"] == str(tmp_path / f"img{k}.png")  # the input columns are kept
        if k in missing:
            assert row["error_type"] == "ImageError" and "file not found" in row["error"]
            assert row["boxes"] == [] and row["confidences"] == []
            continue
        w, h = size_of(k)
        assert row["error"] is None and row["labels"] == ["cat"]
        assert row["boxes"] == [pytest.approx([w / 4, h / 4, 3 * w / 4, 3 * h / 4])]  # this image's own size
        assert len(row["confidences"]) == 1 and 0.0 <= row["confidences"][0] <= 1.0  # from the tokens' scores
        assert row["finish_reason"] in ("stop", "length") and row["prompt_tokens"] > 0


def color_of(k: int) -> tuple[int, int, int]:
    return (k % 10) * 25, (k // 10 % 10) * 25, (k // 100) * 60


def test_200_images_through_a_server_with_faults(local_ray: None, tmp_path: Path) -> None:
    pytest.importorskip("openai")
    import base64
    import io
    import random
    import threading

    import numpy as np
    from chat_server import Reply, chat_server, completion

    rng = random.Random(5)
    lock = threading.Lock()
    rejected = {k for k in range(N) if k % 25 == 7}

    def nearest(pixel: tuple[int, ...]) -> int:
        return min(range(N), key=lambda k: sum((a - b) ** 2 for a, b in zip(color_of(k), pixel, strict=True)))

    def script(n: int, body: dict[str, Any]) -> Reply:
        url = body["messages"][0]["content"][0]["image_url"]["url"]
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
        k = nearest(image.getpixel((image.width // 2, image.height // 2)))
        with lock:
            transient = rng.random() < 0.15
        if transient:
            return Reply(503, {"error": {"message": "busy"}})  # retried by the client
        if k in rejected:
            return Reply(400, {"error": {"message": f"image {k} rejected"}})
        return Reply(body=completion(f"id={k}"))

    items = [{"id": k, "image": np.full((40, 40, 3), color_of(k), dtype=np.uint8)} for k in range(N)]
    with chat_server() as server:
        server.script = script
        out = run(
            ray.data.from_items(items), "ask", "Qwen/Qwen3-VL-8B-Instruct", question="which id?",
            batch_size=16, concurrency=2,
            client_options={"backend": "openai", "base_url": server.url, "max_concurrent_requests": 8,
                            "max_retries": 8, "retry_base_delay": 0.01, "retry_max_delay": 0.05},
        )  # fmt: skip
        results = read_back(out, tmp_path / "parquet")
        transient = sum(1 for r in server.requests if r) - N
    assert [r["id"] for r in results] == list(range(N))
    assert "image" not in results[0]  # the array column is not carried by default
    for row in results:
        if row["id"] in rejected:
            assert row["error_type"] == "BadRequestError" and f"image {row['id']} rejected" in row["error"]
        else:
            assert row["error"] is None and row["text"] == f"id={row['id']}"
    assert transient > 10  # faults really were injected (and recovered from)


def test_predictor_checks_its_column_and_parameters() -> None:
    from qwen_vlm.testing import FakeBackend

    predictor = QwenVLMPredictor("classify", params={"classes": ["a", "b"]}, backend=FakeBackend("a"))
    table = predictor({"id": [1], "image": [Image.new("RGB", (8, 8))]})
    assert table.column("label").to_pylist() == ["a"] and table.column("id").to_pylist() == [1]
    with pytest.raises(ConfigurationError, match="no column 'image'"):
        predictor({"photo": []})
    with pytest.raises(ConfigurationError, match="classify needs classes"):
        run(object(), "classify")  # checked before the dataset is touched or any actor starts
    with pytest.raises(ConfigurationError, match="max_objects applies to detect and point"):
        run(object(), "classify", classes=["a"], max_objects=3)


def test_class_scores_reach_a_typed_column(local_ray: None, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from qwen_vlm.tiny import build_tiny_checkpoint

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    checkpoint = build_tiny_checkpoint(tmp_path / "ckpt", "qwen3_vl")
    rows = [{"id": k, "image": str(tmp_path / f"{k}.png")} for k in range(4)]
    for k in range(4):
        Image.new("RGB", size_of(k), (k * 60, 90, 30)).save(tmp_path / f"{k}.png")
    out = run(
        ray.data.from_items(rows), "classify", str(checkpoint), classes=["red", "green"], batch_size=4,
        constrained=True, client_options={"device": "cpu"},
    )  # fmt: skip
    results = read_back(out, tmp_path / "parquet")
    assert [r["id"] for r in results] == [0, 1, 2, 3]
    for row in results:
        scores = dict(row["scores"])  # Arrow map<string, double> comes back as (key, value) pairs
        assert set(scores) == {"red", "green"} and sum(scores.values()) == pytest.approx(1.0)
        assert row["label"] in ("red", "green")


def test_each_actor_opens_the_result_store(local_ray: None, tmp_path: Path) -> None:
    """With client_options={"cache": ...}, a dataset run again is answered from the store by every actor."""
    pytest.importorskip("openai")
    import numpy as np
    from chat_server import Reply, chat_server, completion

    count = 40
    items = [{"id": k, "image": np.full((32, 32, 3), color_of(k), dtype=np.uint8)} for k in range(count)]
    store = str(tmp_path / "ray.db")
    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion(f"answer {n}"))

        def once(folder: str) -> list[dict[str, Any]]:
            out = run(
                ray.data.from_items(items), "caption", "Qwen/Qwen3-VL-8B-Instruct",
                batch_size=8, concurrency=2,
                client_options={"backend": "openai", "base_url": server.url, "cache": store},
            )  # fmt: skip
            return read_back(out, tmp_path / folder)

        first = once("first")
        sent = len(server.requests)
        second = once("second")
        assert len(server.requests) == sent == count  # the second run sent nothing
    assert [r["text"] for r in second] == [r["text"] for r in first]


def test_a_custom_task_by_object_and_by_name(local_ray: None, tmp_path: Path) -> None:
    """A task defined in a test file reaches every actor (resolved in the driver, sent as an object)."""
    pytest.importorskip("openai")
    import sys

    import numpy as np
    from chat_server import Reply, chat_server, completion
    from test_custom_tasks import TallyTask

    from qwen_vlm import register_task

    # The test modules are not importable in Ray's workers: send them by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules["test_custom_tasks"])

    class NamedTally(TallyTask):
        name = "tally-ray"

    register_task(NamedTally(), replace=True)
    count = 12
    items = [{"id": k, "image": np.full((32, 32, 3), color_of(k), dtype=np.uint8)} for k in range(count)]
    every: list[dict[str, Any]] = []
    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion("garbage" if n == 5 else '{"count": 6}'))
        for task, folder in ((TallyTask(), "object"), ("tally-ray", "name")):
            out = run(
                ray.data.from_items(items), task, "Qwen/Qwen3-VL-8B-Instruct", thing="cats",
                batch_size=4, concurrency=2, client_options={"backend": "openai", "base_url": server.url},
            )  # fmt: skip
            rows = read_back(out, tmp_path / folder)
            assert [r["id"] for r in rows] == list(range(count))
            every += rows
    good = [json.loads(r["result"]) for r in every if r["error"] is None]
    failed = [r for r in every if r["error"] is not None]
    assert good == [{"count": 6, "thing": "cats"}] * (2 * count - 1)  # the custom result's own fields
    assert len(failed) == 1 and failed[0]["text"] == "garbage" and failed[0]["result"] is None
    with pytest.raises(ConfigurationError, match="tally needs thing="):
        run(ray.data.from_items(items), TallyTask(), "Qwen/Qwen3-VL-8B-Instruct")
