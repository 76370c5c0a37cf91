"""A task defined here, outside the package, gets everything a built-in gets.

Sync, a batch with an unreadable answer among good ones, async, streams, the result store, registration by
name, the CLI (``module:Object``, ``--import`` and an entry point) and an HTTP server; Ray is in
``test_ray.py``. The "Bring your own task" page's examples are executed as written, and its located
example gives ``detect``'s boxes on every family.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import qwen_vlm
from qwen_vlm import (
    Answer,
    AsyncQwenVLM,
    BatchError,
    ConfigurationError,
    Detections,
    OutputParseError,
    QwenVLM,
    Result,
    Task,
    register_task,
)
from qwen_vlm.testing import FakeBackend

DOCS = Path(__file__).parent.parent / "docs" / "custom-tasks.md"


# ----------------------------------------------------------------------------- the task, defined here
@dataclass(frozen=True, kw_only=True)
class Tally(Result):
    """A count, and what was counted."""

    count: int | None = None
    thing: str = ""


class TallyTask(Task):
    """Count things; the answer is JSON ``{"count": N}``."""

    name = "tally-test"
    result = Tally
    max_tokens = 40

    def check(self, params: Mapping[str, Any]) -> dict[str, Any]:
        thing = params.get("thing")
        if not isinstance(thing, str) or not thing:
            raise ValueError("tally needs thing=, what to count")
        return {"thing": thing, **({"terse": True} if params.get("terse") else {})}

    def prompt(self, params: Mapping[str, Any]) -> str:
        return f'How many {params["thing"]}? Answer as JSON: {{"count": N}}'

    def system(self, params: Mapping[str, Any]) -> str | None:
        return "You count things." if params.get("terse") else None

    def schema(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        count = {"type": "integer", "minimum": 0}
        return {"type": "object", "properties": {"count": count}, "required": ["count"]}

    def parse(self, answer: Answer) -> Result:
        return Tally(count=int(answer.json()["count"]), thing=answer.params["thing"])

    def empty(self, answer: Answer) -> Result:
        return Tally(thing=answer.params["thing"])


@pytest.fixture()
def image() -> Image.Image:
    return Image.new("RGB", (64, 48), "white")


def test_one_image_and_the_shared_fields(image: Image.Image) -> None:
    backend = FakeBackend('{"count": 3}')
    result = QwenVLM(backend=backend).run(TallyTask(), image, thing="cats", max_tokens=20)
    assert isinstance(result, Tally) and result.count == 3 and result.thing == "cats"
    assert result.ok and result.text == '{"count": 3}' and result.model == backend.info.id
    assert result.usage is not None and result.finish_reason == "stop" and result.source is image
    request = backend.requests[0]
    assert request.prompt == 'How many cats? Answer as JSON: {"count": N}'
    assert request.task == "tally-test" and request.max_tokens == 20
    assert request.json_schema is not None and request.json_schema["required"] == ["count"]
    assert request.system is None
    QwenVLM(backend=backend).run(TallyTask(), image, thing="cats", terse=True)
    assert backend.requests[-1].system == "You count things."


def test_a_batch_with_an_unreadable_answer_keeps_the_others(image: Image.Image) -> None:
    answers = ['{"count": 1}', "I cannot tell", '{"count": "many"}', '{"total": 4}', '{"count": 2}']
    vlm = QwenVLM(backend=FakeBackend(answers))
    results = vlm.run(TallyTask(), [image] * 5, thing="dogs")
    assert [r.count for r in results] == [1, None, None, None, 2]
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert all(isinstance(r, Tally) and r.thing == "dogs" for r in results)  # empty() kept the parameter
    failed = results[1]
    assert failed.text == "I cannot tell" and isinstance(failed.exception, OutputParseError)
    assert "no JSON" in (failed.error or "")
    assert "many" in (results[2].error or "")  # int("many"): a ValueError
    assert "count" in (results[3].error or "")  # a KeyError names the key
    with pytest.raises(BatchError) as caught:
        QwenVLM(backend=FakeBackend(answers)).run(TallyTask(), [image] * 5, thing="dogs", strict=True)
    assert caught.value.failed == [1, 2, 3]


def test_bad_parameters_fail_before_anything_is_sent(image: Image.Image) -> None:
    backend = FakeBackend('{"count": 3}')
    vlm = QwenVLM(backend=backend)
    with pytest.raises(ConfigurationError, match="tally needs thing="):
        vlm.run(TallyTask(), image)
    with pytest.raises(ConfigurationError, match="min_confidence applies to detect and point"):
        vlm.run(TallyTask(), image, thing="x", min_confidence=0.5)
    assert backend.requests == []


def test_async_and_stream(image: Image.Image) -> None:
    async def main() -> list[Any]:
        vlm = AsyncQwenVLM(backend=FakeBackend(['{"count": 7}', "nope"]))
        return await vlm.run(TallyTask(), [image, image], thing="birds")  # type: ignore[no-any-return]

    first, second = asyncio.run(main())
    assert first.count == 7 and not second.ok and second.text == "nope"

    vlm = QwenVLM(backend=FakeBackend('{"count": 12}'))
    with vlm.stream(TallyTask(), image, thing="stars") as stream:
        pieces = [event.delta for event in stream if event.kind == "text"]
    assert "".join(pieces) == '{"count": 12}'
    assert isinstance(stream.result, Tally) and stream.result.count == 12

    async def astream() -> Any:
        client = AsyncQwenVLM(backend=FakeBackend('{"count": 5}'))
        stream = client.stream(TallyTask(), image, thing="stars")
        async for _ in stream:
            pass
        return stream.result

    assert asyncio.run(astream()).count == 5


def test_the_result_store(tmp_path: Path, image: Image.Image) -> None:
    backend = FakeBackend(lambda request: '{"count": 9}' if "cats" in request.prompt else '{"count": 1}')
    vlm = QwenVLM(backend=backend, cache=tmp_path / "results.db")
    other = Image.new("RGB", (64, 48), "black")
    first = vlm.run(TallyTask(), [image, other], thing="cats")
    assert len(backend.requests) == 2
    again = vlm.run(TallyTask(), [image, other], thing="cats")
    assert len(backend.requests) == 2  # the second run sent nothing
    assert again == first and all(isinstance(r, Tally) for r in again)
    assert again[0].source is image  # the source of this call, not the stored one
    changed = vlm.run(TallyTask(), [image, other], thing="dogs")
    assert len(backend.requests) == 4 and [r.count for r in changed] == [1, 1]
    # A failed parse is stored too (the answer is the model's); it comes back failed and typed.
    bad = FakeBackend("not json")
    store_vlm = QwenVLM(backend=bad, cache=tmp_path / "bad.db")
    one = store_vlm.run(TallyTask(), image, thing="cats")
    two = store_vlm.run(TallyTask(), image, thing="cats")
    assert len(bad.requests) == 1 and two == one and isinstance(two.exception, OutputParseError)


def test_register_by_name_replace_and_unknown(image: Image.Image) -> None:
    class Named(TallyTask):
        name = "tally-registered"
        aliases = ("tally-alias",)

    register_task(Named(), replace=True)
    vlm = QwenVLM(backend=FakeBackend('{"count": 2}'))
    assert vlm.run("tally-registered", image, thing="x").count == 2
    assert vlm.run("tally-alias", image, thing="x").count == 2
    assert qwen_vlm.get_task("tally-registered").name == "tally-registered"
    with pytest.raises(ConfigurationError, match="already registered; pass replace=True"):
        register_task(Named())
    with pytest.raises(ConfigurationError, match="already registered"):
        register_task(type("Clash", (TallyTask,), {"name": "detect"})())  # a built-in's alias
    with pytest.raises(
        ConfigurationError, match=r"unknown task 'no-such-task'; choose one of .*tally-registered"
    ):
        vlm.run("no-such-task", image)
    with pytest.raises(ConfigurationError, match="defines no parse"):
        vlm.run(type("NoParse", (Task,), {"name": "np", "prompt": lambda self, p: "x"})(), image)
    with pytest.raises(ConfigurationError, match="defines no prompt"):
        register_task(type("NoPrompt", (Task,), {"name": "npr", "parse": lambda self, a: Result()})())
    with pytest.raises(ConfigurationError, match=r"must be a qwen_vlm\.Result subclass"):
        register_task(type("Bad", (TallyTask,), {"name": "bad-result", "result": dict})())


def test_a_custom_task_over_http(image: Image.Image) -> None:
    pytest.importorskip("openai")
    from chat_server import Reply, chat_server, completion

    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion('{"count": 4}' if n else "garbage"))
        vlm = QwenVLM(
            "Qwen/Qwen3-VL-8B-Instruct",
            backend="openai",
            base_url=server.url,
            api_key="x",
            max_concurrent_requests=1,  # answers in order: the first image gets the garbage
        )
        bad, good = vlm.run(TallyTask(), [image, image], thing="cars")
        body = server.requests[0]
        vlm.run(TallyTask(), image, thing="cars", terse=True)
        with_system = server.requests[-1]["messages"]
    texts = [part.get("text") for m in body["messages"] for part in m["content"] if isinstance(part, dict)]
    assert 'How many cars? Answer as JSON: {"count": N}' in texts
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["count"]
    assert good.count == 4 and good.usage is not None and not bad.ok and bad.text == "garbage"
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert with_system[0] == {"role": "system", "content": "You count things."}
    assert [m["role"] for m in with_system] == ["system", "user"]


# ----------------------------------------------------------------------------- the CLI
def test_cli_module_object_import_and_entry_point(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    from chat_server import Reply, chat_server, completion

    picture = tmp_path / "a.png"
    Image.new("RGB", (32, 32)).save(picture)
    (tmp_path / "my_tasks.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass
            import qwen_vlm

            @dataclass(frozen=True, kw_only=True)
            class Count(qwen_vlm.Result):
                count: int | None = None

            class CountTask(qwen_vlm.Task):
                name = "count-cli"
                result = Count
                def prompt(self, params):
                    return f"How many {params['object']}?"
                def parse(self, answer):
                    return Count(count=int(answer.text))

            qwen_vlm.register_task(CountTask())
            """
        )
    )
    plugin = tmp_path / "plugin"
    (plugin / "my_plugin-1.0.dist-info").mkdir(parents=True)
    (plugin / "my_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: my-plugin\nVersion: 1.0\n"
    )
    (plugin / "my_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[qwen_vlm.tasks]\ncount-cli = my_tasks:CountTask\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(tmp_path)])}
    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion("3"))
        common = ["--backend", "openai", "--base-url", server.url, "--model", "Qwen/Qwen3-VL-8B-Instruct"]
        common += ["--api-key", "x", "--json", "--param", "object=cats"]
        forms = [
            ["run", "my_tasks:CountTask", str(picture)],  # module:Object
            ["run", "count-cli", str(picture), "--import", "my_tasks"],  # a module that registers it
            ["run", "count-cli", str(picture)],  # found through the entry point
            ["run", "count-cli", str(picture), "--task", "my_tasks:CountTask"],  # registered by the flag
        ]
        for form in forms:
            done = subprocess.run(
                [sys.executable, "-m", "qwen_vlm", *form, *common],
                capture_output=True, text=True, cwd=tmp_path, env=env if form is forms[2] else
                {**os.environ, "PYTHONPATH": ""}, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, (form, done.stderr)
            row = json.loads(done.stdout)
            assert row["count"] == 3 and row["task_result"] == "Count" and row["text"] == "3"
        prompts = [
            m["content"][-1]["text"] for b in server.requests for m in b["messages"] if m["role"] == "user"
        ]
        assert prompts == ["How many cats?"] * 4
    unknown = subprocess.run(
        [sys.executable, "-m", "qwen_vlm", "run", "count-cli", str(picture), "--backend", "openai",
         "--base-url", "http://127.0.0.1:9/v1", "--model", "Qwen/Qwen3-VL-8B-Instruct"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""}, timeout=120,
    )  # fmt: skip
    assert unknown.returncode == 2 and "unknown task 'count-cli'" in unknown.stderr


# ----------------------------------------------------------------------------- the docs page's examples
def _docs_namespace() -> dict[str, Any]:
    """The page's Python blocks that define things, executed as written."""
    import types

    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    module = types.ModuleType("docs_custom_tasks")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    for block in blocks:
        if "class " in block:
            exec(compile(block, str(DOCS), "exec"), module.__dict__)
    return module.__dict__


#: One model of every family: 0-1000 (Qwen2-VL, Qwen3-VL, Qwen3.5), pixels of the resized input (2.5).
FAMILIES = [
    "Qwen/Qwen2-VL-7B-Instruct",
    "Qwen/Qwen2.5-VL-7B-Instruct",
    "Qwen/Qwen3-VL-8B-Instruct",
    "Qwen/Qwen3.5-9B",
]


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize("size", [(640, 480), (1001, 333), (97, 1500)])
def test_the_located_example_gives_detects_boxes(model: str, size: tuple[int, int]) -> None:
    namespace = _docs_namespace()
    task = namespace["FineTunedBoxes"]()
    from qwen_vlm.models import REGISTRY
    from qwen_vlm.tasks.coordinates import default_input_size

    info = REGISTRY[model] if model in REGISTRY else qwen_vlm.models.resolve_model(model, "openai")
    frame = default_input_size(info.spec, size) if info.spec.coordinates == "absolute" else (1000, 1000)
    boxes = [
        [int(frame[0] * 0.1), int(frame[1] * 0.2), int(frame[0] * 0.5), int(frame[1] * 0.9)],
        [0, 0, frame[0], frame[1]],
        [int(frame[0] * 0.9), 5, int(frame[0] * 1.1), 40],  # a little outside: clamped
        [10, 10, 10, 50],  # degenerate: dropped by both
        [int(frame[0] * 3), 0, int(frame[0] * 4), 10],  # far outside: dropped by both
    ]
    standard = json.dumps([{"bbox_2d": b, "label": f"o{k}"} for k, b in enumerate(boxes)])
    own = json.dumps({"objects": [{"name": f"o{k}", "box": b} for k, b in enumerate(boxes)]})
    expected = qwen_vlm.parse("detect", standard, info.id, size)
    mine = qwen_vlm.parse(task, own, info.id, size, classes=["o0"])
    assert isinstance(mine, Detections) and mine.ok and len(mine) == len(expected) == 3
    assert [(d.label, d.xyxy) for d in mine] == [(d.label, d.xyxy) for d in expected]
    # Through a client too, with the size the model saw reported by the backend.
    backend = FakeBackend(own, model=info.id)
    detected = QwenVLM(backend=backend).run(task, Image.new("RGB", size), classes=["o0"])
    reference = QwenVLM(backend=FakeBackend(standard, model=info.id)).detect(Image.new("RGB", size))
    assert [d.xyxy for d in detected] == [d.xyxy for d in reference]


def test_the_count_example_runs_as_documented(image: Image.Image) -> None:
    namespace = _docs_namespace()
    vlm = QwenVLM(backend=FakeBackend(["There are 4.", "many", "2"]))
    results = vlm.run(namespace["CountTask"](), [image] * 3, object="cars")
    assert [r.count for r in results] == [4, None, 2] and results[1].error is not None
    with pytest.raises(ConfigurationError, match="count needs object="):
        vlm.run(namespace["CountTask"](), image)


def test_a_client_option_given_to_a_call_is_refused_not_taken_as_a_parameter(image: Image.Image) -> None:
    backend = FakeBackend('{"count": 1}')
    vlm = QwenVLM(backend=backend)
    with pytest.raises(ConfigurationError, match=r"max_concurrent_requests: an option of the client"):
        vlm.run(TallyTask(), [image], thing="cars", max_concurrent_requests=1)
    with pytest.raises(ConfigurationError, match="timeout: an option of the client"):
        vlm.caption(image, timeout=3)  # type: ignore[call-arg]
    assert backend.requests == []


class ScreenSizeTask(Task):
    """A prompt that states the screen size as the model sees it (a computer-use style prompt)."""

    name = "screen-size-test"
    uses_frame = True
    needs_geometry = True

    def prompt_for(self, params: Mapping[str, Any], frame: Any) -> str:
        width, height = frame.coordinate_frame
        return f"The screen is {width}x{height}."

    def system_for(self, params: Mapping[str, Any], frame: Any) -> str | None:
        return f"original {frame.image_size[0]}x{frame.image_size[1]}"

    def parse(self, answer: Answer) -> Result:
        from qwen_vlm import TextResult

        return TextResult()


@pytest.mark.parametrize("model", ["Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"])
def test_a_prompt_can_state_the_size_the_model_sees(model: str) -> None:
    from qwen_vlm.geometry import smart_resize
    from qwen_vlm.models import REGISTRY

    spec = REGISTRY[model].spec
    pictures = [Image.new("RGB", size) for size in ((1920, 1080), (333, 777))]
    backend = FakeBackend("ok", model=model)
    QwenVLM(backend=backend).run(ScreenSizeTask(), pictures)
    for picture, request in zip(pictures, backend.requests, strict=True):
        seen = smart_resize(
            *picture.size, factor=spec.factor, min_pixels=spec.min_pixels, max_pixels=spec.max_pixels
        )
        frame = seen if spec.coordinates == "absolute" else (1000, 1000)
        assert request.prompt == f"The screen is {frame[0]}x{frame[1]}."
        assert request.system == f"original {picture.size[0]}x{picture.size[1]}"


def test_over_http_the_stated_size_is_the_size_sent() -> None:
    pytest.importorskip("openai")
    import base64
    import io

    from chat_server import Reply, chat_server, completion

    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion("ok"))
        vlm = QwenVLM("Qwen/Qwen2.5-VL-7B-Instruct", backend="openai", base_url=server.url, api_key="x")
        vlm.run(ScreenSizeTask(), Image.new("RGB", (2560, 1440)))
        body = server.requests[0]
    user = body["messages"][-1]["content"]
    url = next(part["image_url"]["url"] for part in user if part["type"] == "image_url")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert user[-1]["text"] == f"The screen is {sent.width}x{sent.height}."
    assert sent.size != (2560, 1440)  # the server's copy was resized, and the prompt says to what
    assert body["messages"][0] == {"role": "system", "content": "original 2560x1440"}


def test_the_frame_example_runs_as_documented() -> None:
    namespace = _docs_namespace()
    backend = FakeBackend("[500, 250]", model="Qwen/Qwen3-VL-8B-Instruct")
    points = QwenVLM(backend=backend).run(namespace["ClickTask"](), Image.new("RGB", (800, 400)), goal="save")
    assert backend.requests[0].prompt.startswith("The screen is 1000x1000. Where would you click to save?")
    assert points.ok and points[0].xy == (400.0, 100.0)
