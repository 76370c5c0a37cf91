"""The durable result store: hits send nothing, keys cover what decides an answer, crashes lose nothing."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import BaseModel

from qwen_vlm import AsyncQwenVLM, Images, QwenVLM, ServerError
from qwen_vlm.store import ResultStore, StoreError
from qwen_vlm.store.codec import decode, encode
from qwen_vlm.testing import FakeBackend

ROOT = Path(__file__).resolve().parent.parent
BOXES = '[{"bbox_2d": [100, 100, 500, 500], "label": "cat"}]'


def pictures(count: int, size: tuple[int, int] = (64, 48)) -> list[Image.Image]:
    return [Image.new("RGB", size, (k * 7 % 256, 90, 200)) for k in range(count)]


def client(tmp_path: Path, answer: Any = BOXES, **options: Any) -> tuple[QwenVLM, FakeBackend]:
    backend = FakeBackend(answer, **{k: options.pop(k) for k in list(options) if k in ("model",)})
    return QwenVLM(backend=backend, cache=tmp_path / "results.db", **options), backend


def test_a_second_identical_run_sends_nothing_and_returns_equal_typed_results(tmp_path: Path) -> None:
    images = pictures(5)
    vlm, backend = client(tmp_path)
    first = vlm.detect(images, ["cat"])
    assert len(backend.requests) == 5
    again, backend2 = client(tmp_path)
    second = again.detect(images, ["cat"])
    assert len(backend2.requests) == 0
    assert second == first and all(a.source is b for a, b in zip(second, images, strict=True))
    assert second[0].detections[0].xyxy == first[0].detections[0].xyxy
    assert type(second[0]).__name__ == "Detections" and second[0].usage == first[0].usage
    assert len(ResultStore(tmp_path / "results.db")) == 5


def test_changing_one_part_of_the_key_sends_exactly_the_affected_calls(tmp_path: Path) -> None:
    images = pictures(4)
    vlm, _ = client(tmp_path)
    vlm.detect(images, ["cat"])

    def sent(**kwargs: Any) -> int:
        model = kwargs.pop("model", "Qwen/Qwen3-VL-8B-Instruct")
        call_images = kwargs.pop("images", images)
        other, backend = client(tmp_path, model=model)
        other.detect(call_images, kwargs.pop("classes", ["cat"]), **kwargs)
        return len(backend.requests)

    assert sent() == 0
    assert sent(classes=["cat", "dog"]) == 4  # a class
    assert sent(model="Qwen/Qwen3-VL-2B-Instruct") == 4  # the model
    assert sent(max_tokens=99) == 4  # max_tokens
    changed = [*images[:3], images[3].point(lambda v: 255 - v)]
    assert sent(images=changed) == 1  # one image's pixels
    assert sent(constrained=False) == 4  # the grammar is part of what decides the answer
    assert sent(temperature=0.7) == 4  # sampling
    thinking, backend = client(tmp_path, model="Qwen/Qwen3.5-2B")
    thinking.detect(images, ["cat"], enable_thinking=False)
    thinking.detect(images, ["cat"], enable_thinking=True)
    assert len(backend.requests) == 8  # thinking on and off are different answers


def test_transport_failures_are_retried_next_time_unparseable_answers_are_kept(tmp_path: Path) -> None:
    images = pictures(3)
    script = [BOXES, ServerError("503: no provider"), "not json at all"]
    vlm, _ = client(tmp_path, answer=script)
    results = vlm.detect(images, ["cat"])
    assert [r.ok for r in results] == [True, False, False]
    again, backend2 = client(tmp_path, answer=[BOXES])
    second = again.detect(images, ["cat"])
    assert len(backend2.requests) == 1 and backend2.requests[0].image.index == 1  # only the 503 again
    assert second[2].text == "not json at all" and second[2].error == results[2].error
    assert type(second[2].exception) is type(results[2].exception)


def test_sampled_answers_are_stored_but_reused_only_when_asked(tmp_path: Path) -> None:
    images = pictures(2)
    vlm, _ = client(tmp_path)
    vlm.caption(images, temperature=0.8)
    again, backend = client(tmp_path)
    again.caption(images, temperature=0.8)
    assert len(backend.requests) == 2  # a new sample each time, by default
    reuse = QwenVLM(backend=FakeBackend("x"), cache=tmp_path / "results.db", cache_sampled=True)
    reuse.caption(images, temperature=0.8)
    assert len(reuse.backend.requests) == 0  # type: ignore[attr-defined]


def test_per_call_cache_and_bypass(tmp_path: Path) -> None:
    images = pictures(2)
    plain = QwenVLM(backend=FakeBackend(BOXES))
    plain.detect(images, ["cat"], cache=tmp_path / "call.db")
    plain.detect(images, ["cat"], cache=tmp_path / "call.db")
    assert len(plain.backend.requests) == 2  # type: ignore[attr-defined]
    vlm, backend = client(tmp_path)
    vlm.detect(images, ["cat"])
    vlm.detect(images, ["cat"], cache=False)
    assert len(backend.requests) == 4


class Receipt(BaseModel):
    shop: str
    total: float


def test_every_result_kind_round_trips_equal() -> None:
    from qwen_vlm import parse

    samples = [
        parse("detect", BOXES, image_size=(640, 480)),
        parse("point", '[{"point_2d": [10, 20], "label": "a"}]', image_size=(640, 480)),
        parse("classify", '{"label": "cat"}', classes=["cat", "dog"]),
        parse("classify_multi", '["cat"]', classes=["cat", "dog"]),
        parse("extract", '{"shop": "A", "total": 3.5}\n{"x": 1}', schema=Receipt),
        parse("ocr", '<p data-bbox="10 10 100 40">Hello</p>', image_size=(640, 480)),
        parse("locate_events", '{"event": "a", "start": 1, "end": 2}'),
        parse("detect", "garbage", image_size=(640, 480)),
    ]
    for result in samples:
        back = decode(encode(result), Receipt)
        assert back == result, type(result).__name__
        assert type(back.exception) is type(result.exception)


def test_a_foreign_or_damaged_file_is_a_typed_error_and_left_alone(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("my notes, not a database")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    damaged = tmp_path / "damaged.db"
    ResultStore(damaged).put_many([("k", "caption", "m", "{}")])
    data = bytearray(damaged.read_bytes())
    data[100:4096] = os.urandom(3996)
    damaged.write_bytes(bytes(data))
    for path in (text, other, damaged, tmp_path):
        before = path.read_bytes() if path.is_file() else None
        with pytest.raises(StoreError, match=r"left as is|not a qwen-vlm|folder|cannot be read"):
            QwenVLM(backend=FakeBackend("x"), cache=path)
        assert (path.read_bytes() if path.is_file() else None) == before


def test_groups_and_the_async_client(tmp_path: Path) -> None:
    images = pictures(2)

    class Groups(FakeBackend):
        accepts_image_groups = True

    backend = Groups("two cats")
    vlm = QwenVLM(backend=backend, cache=tmp_path / "results.db")
    vlm.ask(Images(*images), "what?")
    vlm.ask(Images(*images), "what?")
    vlm.ask(Images(images[1], images[0]), "what?")  # another order is another question
    assert len(backend.requests) == 2

    async def run() -> int:
        fake = FakeBackend("ok")
        avlm = AsyncQwenVLM(backend=fake, cache=tmp_path / "a.db")
        await avlm.caption(images)
        await avlm.caption(images)
        return len(fake.requests)

    import asyncio

    assert asyncio.run(run()) == 2


def test_two_processes_writing_one_store_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    ResultStore(path)
    script = textwrap.dedent(
        f"""
        import sys
        from qwen_vlm.store import ResultStore
        store = ResultStore({str(path)!r})
        name = sys.argv[1]
        for k in range(200):
            store.put_many([(f"{{name}}-{{k}}", "caption", "m", '{{"k": %d}}' % k)])
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, name]) for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert len(ResultStore(path)) == 400


# ----------------------------------------------------------------------------------- killed runs
RUNNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from PIL import Image
    from qwen_vlm import QwenVLM

    store, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    images = [Image.new("RGB", (64, 48), (k % 256, k // 256, 7)) for k in range(count)]
    vlm = QwenVLM("qwen/qwen3-vl-8b-instruct", backend="openai", base_url=url, api_key="x",
                  max_concurrent_requests=4, cache=store, server="generic")
    results = vlm.caption(images, progress=False)
    Path(store + ".done").write_text("\\n".join(r.text for r in results))
    """
)


def test_a_run_killed_at_random_moments_resumes_and_pays_once(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    from chat_server import Reply, chat_server, completion

    count, kills, concurrency = 200, 3, 4
    store = str(tmp_path / "run.db")
    rng = random.Random(7)

    def runner(path: str, url: str) -> list[str]:
        return [sys.executable, "-c", RUNNER, path, url, str(count)]

    with chat_server() as server:

        def answer(n: int, body: dict[str, Any]) -> Reply:
            url = body["messages"][0]["content"][0]["image_url"]["url"]  # the answer depends on the image
            return Reply(
                body=completion(f"caption {hashlib.sha256(url.encode()).hexdigest()[:12]}"), delay=0.04
            )

        server.script = answer
        progress: list[int] = []
        for _ in range(kills):
            sent = len(server.requests)
            proc = subprocess.Popen(runner(store, server.url), cwd=tmp_path)
            while len(server.requests) < sent + 10:  # this run is sending
                time.sleep(0.02)
            time.sleep(rng.uniform(0.1, 0.6))  # then killed at a random moment
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            progress.append(len(ResultStore(store)))
        # Every kill caught a run in the middle: some results were stored, not all.
        assert all(0 < done < count for done in progress) and progress == sorted(progress), progress
        subprocess.run(runner(store, server.url), cwd=tmp_path, timeout=300, check=True)
        texts = Path(store + ".done").read_text().splitlines()
        total = len(server.requests)
        # A second full run is answered entirely from the store: the same texts, nothing sent.
        subprocess.run(runner(store, server.url), cwd=tmp_path, timeout=300, check=True)
        assert len(server.requests) == total
        assert Path(store + ".done").read_text().splitlines() == texts
        clean = str(tmp_path / "clean.db")
        subprocess.run(runner(clean, server.url), cwd=tmp_path, timeout=300, check=True)
    assert len(texts) == count and all(t.startswith("caption ") for t in texts)
    assert Path(clean + ".done").read_text().splitlines() == texts  # as if it had never been killed
    # Each kill can lose at most the requests in flight (max_concurrent_requests), never a stored one.
    assert total <= count + kills * concurrency, (total, progress)
    assert len(ResultStore(store)) == count


def test_the_store_file_is_ours_after_creation(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deep" / "results.db"
    store = ResultStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x51564C4D
    assert store.info()["results"] == 0 and json.dumps(store.info())


LOCAL_RUNNER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from PIL import Image
    from qwen_vlm import QwenVLM
    from qwen_vlm.tiny import scripted

    checkpoint, store, count, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    images = [Image.new("RGB", (64, 48), (k * 9 % 256, 30, 70)) for k in range(count)]
    answer = '[{"bbox_2d": [250, 250, 750, 750], "label": "cat"}]'
    vlm = QwenVLM(checkpoint, device="cpu", batch_size=4, generate_kwargs=scripted(answer),
                  cache=store or None)
    original = vlm.backend.generate

    def counted(requests):
        out = original(requests)
        with open(log, "a") as handle:  # after the batch: what was paid for
            handle.write(f"{len(requests)}\\n")
        return out

    vlm.backend.generate = counted
    results = vlm.detect(images, ["cat"], max_tokens=40, progress=False)
    Path(log + ".done").write_text("\\n".join(r.to_json() for r in results))
    """
)


@pytest.mark.local
def test_a_local_run_killed_mid_batch_resumes(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    count, batch = 24, 4
    store, log = str(tmp_path / "local.db"), str(tmp_path / "generated.log")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-c", LOCAL_RUNNER, str(checkpoints["qwen3_vl"])]
    proc = subprocess.Popen([*args, store, str(count), log], env=env)
    while not Path(log).exists() or len(Path(log).read_text().splitlines()) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored_at_kill = len(ResultStore(store))
    assert 0 < stored_at_kill < count
    subprocess.run([*args, store, str(count), log], env=env, timeout=600, check=True)
    resumed = Path(log + ".done").read_text().splitlines()
    paid = sum(int(n) for n in Path(log).read_text().splitlines())
    assert paid <= count + batch  # at most the batch in flight at the kill was generated twice
    clean_log = str(tmp_path / "clean.log")
    subprocess.run([*args, "", str(count), clean_log], env=env, timeout=600, check=True)
    clean = Path(clean_log + ".done").read_text().splitlines()
    assert [json.loads(line) for line in resumed] == [
        json.loads(line) for line in clean
    ]  # as if never killed


def test_a_streamed_answer_is_stored_and_replayed(tmp_path: Path) -> None:
    image = pictures(1)[0]
    vlm, backend = client(tmp_path, answer="a red square")
    first = vlm.stream("caption", image)
    assert "".join(e.delta for e in first if e.kind == "text") == "a red square"
    again, backend2 = client(tmp_path, answer="never sent")
    second = again.stream("caption", image)
    assert "".join(e.delta for e in second if e.kind == "text") == "a red square"
    assert second.result == first.result and second.result.source is image and len(backend2.requests) == 0
    assert again.caption(image) == first.result  # a stream and a call share their answers
    assert len(backend.requests) == 1 and len(backend2.requests) == 0


def test_the_progress_bar_says_how_many_came_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = pictures(6)
    vlm, _ = client(tmp_path)
    vlm.detect(images[:4], ["cat"], progress=True)
    capsys.readouterr()
    again, backend = client(tmp_path)
    again.detect(images, ["cat"], progress=True)
    err = capsys.readouterr().err
    assert "4 from store" in err and len(backend.requests) == 2
