"""Screens: ``ground`` and ``act`` on every family with grounding, in pixels of the original screenshot.

Answers are written as each family writes them (pixels of the resized screenshot on Qwen2.5-VL, a 1000
grid on Qwen3-VL and Qwen3.5), scripted through ``FakeBackend`` and through a loopback server that receives
the resized JPEG. The system message is checked against the Qwen3-VL cookbook's own function definitions
(``tests/data/qwen3_vl_agent_function_call.py.txt``) and qwen-agent's template
(``tests/data/qwen_agent_fn_call_template.txt``); ``to_pyautogui`` against the ``ui-tars`` package.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qwen_vlm import Action, QwenVLM, Target
from qwen_vlm.geometry import smart_resize
from qwen_vlm.models import REGISTRY
from qwen_vlm.results.screens import ACTION_KINDS
from qwen_vlm.testing import FakeBackend

DATA = Path(__file__).parent / "data"
FAMILIES = ["Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3.5-9B"]
SIZES = [(1920, 1080), (1080, 2400), (1366, 768), (3840, 2160), (500, 300)]


def seen(model: str, size: tuple[int, int]) -> tuple[int, int]:
    spec = REGISTRY[model].spec
    return smart_resize(*size, factor=spec.factor, min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)


def frame_of(model: str, input_size: tuple[int, int]) -> tuple[int, int]:
    return input_size if REGISTRY[model].spec.coordinates == "absolute" else (1000, 1000)


def call(action: str, **arguments: Any) -> str:
    body = json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}})
    return f"Thought: I will do it.\n<tool_call>\n{body}\n</tool_call>"


def written(model: str, size: tuple[int, int], input_size: tuple[int, int], k: tuple[int, int]) -> list[int]:
    """A point on the model's grid (k), as it writes it; its true pixel is k * size / frame."""
    return [k[0], k[1]]


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize("size", SIZES)
def test_ground_and_act_land_on_the_target(model: str, size: tuple[int, int]) -> None:
    frame = frame_of(model, seen(model, size))
    k = (frame[0] * 3 // 7, frame[1] * 5 // 9)  # a point the model can write exactly
    target = (k[0] * size[0] / frame[0], k[1] * size[1] / frame[1])
    screenshot = Image.new("RGB", size)
    backend = FakeBackend([call("left_click", coordinate=list(k)), call("mouse_move", coordinate=list(k))])
    backend.info = REGISTRY[model]
    vlm = QwenVLM(backend=backend)
    found = vlm.ground(screenshot, "the OK button")
    action = vlm.act(screenshot, "press OK")
    assert isinstance(found, Target) and found.ok and found.xy is not None
    assert abs(found.xy[0] - target[0]) <= 1 and abs(found.xy[1] - target[1]) <= 1
    assert isinstance(action, Action) and action.kind == "move" and action.point is not None
    assert abs(action.point[0] - target[0]) <= 1 and abs(action.point[1] - target[1]) <= 1
    # The screen size stated is the size the model sees (Qwen2.5-VL) or its 1000 grid.
    assert f"The screen's resolution is {frame[0]}x{frame[1]}." in (backend.requests[0].system or "")


@pytest.mark.parametrize("model", FAMILIES)
def test_through_a_server_that_resizes_the_screenshot(model: str) -> None:
    pytest.importorskip("openai")
    from chat_server import Reply, chat_server, completion

    size = (2560, 1600)
    target = {"xy": (0.0, 0.0)}

    def answer(n: int, body: dict[str, Any]) -> Reply:
        user = body["messages"][-1]["content"]
        url = next(p["image_url"]["url"] for p in user if p["type"] == "image_url")
        sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size
        frame = frame_of(model, sent)
        stated = f"The screen's resolution is {frame[0]}x{frame[1]}."
        assert stated in body["messages"][0]["content"]  # the prompt states what was sent
        k = (frame[0] // 3, frame[1] // 4)
        target["xy"] = (k[0] * size[0] / frame[0], k[1] * size[1] / frame[1])
        return Reply(body=completion(call("left_click", coordinate=list(k))))

    with chat_server() as server:
        server.script = answer
        vlm = QwenVLM(model, backend="openai", base_url=server.url, api_key="x")
        found = vlm.ground(Image.new("RGB", size), "the menu")
    assert found.ok and found.xy is not None
    assert abs(found.xy[0] - target["xy"][0]) <= 1 and abs(found.xy[1] - target["xy"][1]) <= 1


def test_a_box_answer_gives_its_centre_and_keeps_the_box() -> None:
    vlm = QwenVLM(backend=FakeBackend('{"bbox_2d": [100, 200, 300, 400], "label": "OK"}'))
    found = vlm.ground(Image.new("RGB", (1000, 1000)), "OK")
    assert found.box == (100.0, 200.0, 300.0, 400.0) and found.xy == (200.0, 300.0)
    assert found.contains((150, 250, 250, 350)) and not found.contains((0, 0, 10, 10))
    assert found.point is not None and found.point.xy == (200.0, 300.0) and found.point.label == "OK"


DESKTOP = [
    (call("left_click", coordinate=[10, 20]), "click", {"point": (10.0, 20.0)}),
    (call("double_click", coordinate=[10, 20]), "double_click", {"point": (10.0, 20.0)}),
    (call("right_click", coordinate=[10, 20]), "right_click", {"point": (10.0, 20.0)}),
    (call("middle_click", coordinate=[10, 20]), "middle_click", {"point": (10.0, 20.0)}),
    (call("triple_click", coordinate=[10, 20]), "triple_click", {"point": (10.0, 20.0)}),
    (call("mouse_move", coordinate=[10, 20]), "move", {"point": (10.0, 20.0)}),
    (call("left_click_drag", coordinate=[30, 40]), "drag", {"end": (30.0, 40.0), "point": None}),
    (call("type", text="hello"), "type", {"content": "hello"}),
    (call("key", keys=["ctrl", "c"]), "key", {"keys": ("ctrl", "c")}),
    (call("scroll", pixels=-300), "scroll", {"amount": -300.0}),
    (call("hscroll", pixels=200), "hscroll", {"amount": 200.0}),
    (call("wait", time=2), "wait", {"amount": 2.0}),
    (call("answer", text="42"), "answer", {"content": "42"}),
    (call("terminate", status="success"), "terminate", {"status": "success"}),
]
MOBILE = [
    (call("click", coordinate=[10, 20]), "click", {"point": (10.0, 20.0)}),
    (call("long_press", coordinate=[10, 20], time=2), "long_press", {"point": (10.0, 20.0), "amount": 2.0}),
    (call("swipe", coordinate=[10, 20], coordinate2=[10, 500]), "swipe", {"end": (10.0, 500.0)}),
    (call("system_button", button="Back"), "system_button", {"button": "Back"}),
    (call("open", text="Settings"), "open", {"content": "Settings"}),
    (call("key", text="volume_up"), "key", {"keys": ("volume_up",)}),
]


def test_every_action_kind_parses() -> None:
    cases = DESKTOP + MOBILE
    assert {kind for _, kind, _ in cases} == set(ACTION_KINDS)
    vlm = QwenVLM(backend=FakeBackend([text for text, _, _ in cases]))  # Qwen3-VL: 1000 grid
    shot = Image.new("RGB", (1000, 1000))
    platforms = ["desktop"] * len(DESKTOP) + ["mobile"] * len(MOBILE)
    for (_, kind, fields), platform in zip(cases, platforms, strict=True):
        action = vlm.act(shot, "do it", platform=platform)
        assert action.ok, (kind, action.error)
        assert action.kind == kind and action.thought == "Thought: I will do it."
        assert action.raw is not None and action.raw["name"] == "computer_use"
        for name, value in fields.items():
            assert getattr(action, name) == value, (kind, name)


def test_malformed_calls_fail_that_result_only() -> None:
    answers = [
        call("left_click", coordinate=[10, 20]),
        "I would click the button.",  # no call
        call("fly", coordinate=[1, 2]),  # unknown action
        call("left_click", coordinate=[1200, 20]),  # outside the 1000 grid
        call("type"),  # no text
        call("left_click", coordinate="here"),  # not a coordinate
        # cut off at the token limit, the call still complete enough to read:
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5, 5]',
        call("left_click", coordinate=[True, False]),  # JSON booleans are not positions (were 1 and 0)
    ]
    vlm = QwenVLM(backend=FakeBackend(answers))
    results = vlm.act([Image.new("RGB", (1000, 1000))] * len(answers), "go")
    assert [r.ok for r in results] == [True, False, False, False, False, False, True, False]
    reasons = [r.error or "" for r in results]
    assert "no tool call" in reasons[1] and "unknown action 'fly'" in reasons[2]
    assert "outside the 1000x1000 screen" in reasons[3] and "needs text" in reasons[4]
    assert "must be two numbers, got [True, False]" in reasons[7]
    assert all(r.text == a for r, a in zip(results, answers, strict=True))  # the answer is kept


def test_history_is_sent_as_the_cookbook_writes_it() -> None:
    backend = FakeBackend(call("left_click", coordinate=[1, 1]))
    vlm = QwenVLM(backend=backend)
    shot = Image.new("RGB", (800, 600))
    first = vlm.act(shot, "Search for cats", platform="mobile")
    vlm.act(shot, "Search for cats", history=[first, 'Typed "cats"'], platform="mobile")
    prompt = backend.requests[-1].prompt
    assert prompt.startswith("The user query: Search for cats.\nTask progress (You have done the following")
    assert 'Step 1: {"action": "left_click", "coordinate": [1, 1]}; Step 2: Typed cats; ' in prompt
    assert "mobile_use" in (backend.requests[-1].system or "")


def _cookbook_tools() -> dict[str, Any]:
    """The cookbook's ComputerUse and MobileUse classes, run with a stand-in for qwen_agent's BaseTool."""
    base = types.ModuleType("qwen_agent.tools.base")

    class BaseTool:
        name = ""

        def __init__(self, cfg: Any = None) -> None:
            self.cfg = cfg or {}

        @property
        def function(self) -> dict[str, Any]:  # qwen_agent.tools.base.BaseTool.function
            return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def register_tool(name: str) -> Any:
        def named(cls: Any) -> Any:
            cls.name = name
            return cls

        return named

    base.BaseTool = BaseTool  # type: ignore[attr-defined]
    base.register_tool = register_tool  # type: ignore[attr-defined]
    saved = {k: sys.modules.get(k) for k in ("qwen_agent", "qwen_agent.tools", "qwen_agent.tools.base")}
    sys.modules.update(
        {
            "qwen_agent": types.ModuleType("qwen_agent"),
            "qwen_agent.tools": types.ModuleType("t"),
            "qwen_agent.tools.base": base,
        }
    )
    try:
        namespace: dict[str, Any] = {}
        exec((DATA / "qwen3_vl_agent_function_call.py.txt").read_text(), namespace)
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module
    return namespace


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize("platform", ["desktop", "mobile"])
def test_the_system_message_is_the_cookbooks(model: str, platform: str) -> None:
    tools = _cookbook_tools()
    size = (1366, 768)
    width, height = frame_of(model, seen(model, size))
    tool = tools["ComputerUse" if platform == "desktop" else "MobileUse"](
        cfg={"display_width_px": width, "display_height_px": height}
    )
    template = (DATA / "qwen_agent_fn_call_template.txt").read_text()
    descs = json.dumps({"type": "function", "function": tool.function}, ensure_ascii=False)
    expected = "You are a helpful assistant.\n\n" + template.format(tool_descs=descs)
    backend = FakeBackend(call("wait", time=1))
    backend.info = REGISTRY[model]
    QwenVLM(backend=backend).act(Image.new("RGB", size), "wait", platform=platform)
    assert backend.requests[0].system == expected


UI_TARS = [
    (
        Action(kind="click", point=(10.5, 20.25)),
        {"action_type": "click", "action_inputs": {"start_box": "[10.5, 20.25]"}},
    ),
    (
        Action(kind="double_click", point=(10, 20)),
        {"action_type": "left_double", "action_inputs": {"start_box": "[10, 20]"}},
    ),
    (
        Action(kind="right_click", point=(10, 20)),
        {"action_type": "right_single", "action_inputs": {"start_box": "[10, 20]"}},
    ),
    (Action(kind="move", point=(7, 8)), {"action_type": "hover", "action_inputs": {"start_box": "[7, 8]"}}),
    (
        Action(kind="drag", point=(1, 2), end=(30, 40)),
        {"action_type": "drag", "action_inputs": {"start_box": "[1, 2]", "end_box": "[30, 40]"}},
    ),
    (
        Action(kind="type", content="hello world"),
        {"action_type": "type", "action_inputs": {"content": "hello world"}},
    ),
    (Action(kind="type", content="go\n"), {"action_type": "type", "action_inputs": {"content": "go\n"}}),
    (Action(kind="key", keys=("ctrl", "c")), {"action_type": "hotkey", "action_inputs": {"key": "ctrl c"}}),
    (
        Action(kind="key", keys=("ArrowLeft",)),
        {"action_type": "hotkey", "action_inputs": {"key": "arrowleft"}},
    ),
]


@pytest.mark.parametrize(("action", "response"), UI_TARS)
def test_to_pyautogui_matches_ui_tars(action: Action, response: dict[str, Any]) -> None:
    parser = pytest.importorskip("ui_tars.action_parser")
    reference = parser.parsing_response_to_pyautogui_code(response, 1000, 1000, input_swap=False)
    calls = [
        line for line in reference.splitlines() if line.startswith("pyautogui.") or line.startswith("time.")
    ]
    mine = [line for line in action.to_pyautogui().splitlines() if not line.startswith("import ")]
    assert mine == calls


def test_an_action_draws_and_serialises() -> None:
    shot = Image.new("RGB", (400, 300))
    vlm = QwenVLM(
        backend=FakeBackend(call("left_click_drag", coordinate=[500, 500], start_coordinate=[100, 100]))
    )
    action = vlm.act(shot, "drag it")
    assert action.point == (40.0, 30.0) and action.end == (200.0, 150.0)
    picture = action.draw()
    assert picture.size == (400, 300) and picture.getpixel((200, 150)) != (0, 0, 0)
    data = action.to_dict()
    assert data["kind"] == "drag" and data["end"] == [200.0, 150.0] and data["task_result"] == "Action"
    assert action._repr_png_() is not None


# ----------------------------------------------------------------------------- evaluate(task="ground")
def _screens(tmp_path: Path) -> list[tuple[str, str, tuple[float, float, float, float], dict[str, str]]]:
    """Four 1000x500 screenshots, each with a target box, an instruction and groups."""
    out = []
    for k, (box, kind, platform) in enumerate(
        [
            ((100, 100, 200, 150), "text", "windows"),
            ((400, 50, 450, 100), "icon", "windows"),
            ((700, 300, 900, 400), "text", "macos"),
            ((10, 400, 60, 450), "icon", "macos"),
        ]
    ):
        path = tmp_path / f"shot{k}.png"
        Image.new("RGB", (1000, 500)).save(path)
        out.append((str(path), f"element {k}", box, {"type": kind, "platform": platform}))
    return out


def _answering(points: dict[str, tuple[int, int]]) -> FakeBackend:
    """Answers each instruction with its point (pixels of a 1000x500 screenshot, on Qwen3-VL's grid)."""

    def answer(request: Any) -> str:
        x, y = points[request.prompt]
        return call("left_click", coordinate=[round(x / 1000 * 1000), round(y / 500 * 1000)])

    return FakeBackend(answer)


def test_evaluate_ground_accuracy_overall_and_per_group(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from qwen_vlm import evaluate

    screens = _screens(tmp_path)
    items = [{"image": p, "instruction": i, "box": b, "groups": g} for p, i, b, g in screens]
    inside = {i: ((b[0] + b[2]) // 2, (b[1] + b[3]) // 2) for _, i, b, _ in screens}
    outside = {i: (b[2] + 30, b[3] + 30) for _, i, b, _ in screens}
    mixed = {**inside, "element 1": outside["element 1"], "element 2": outside["element 2"]}
    clients = {
        "inside": QwenVLM(backend=_answering(inside)),
        "outside": QwenVLM(backend=_answering(outside)),
        "mixed": QwenVLM(backend=_answering(mixed)),
    }
    report = evaluate(clients, items, task="ground")
    assert [run.name for run in report.runs] == ["inside", "outside", "mixed"]  # one row per client
    assert report["inside"].metrics["accuracy"] == 1.0 and report["outside"].metrics["accuracy"] == 0.0
    mixed_run = report["mixed"]
    assert mixed_run.metrics["accuracy"] == 0.5 and mixed_run.metrics["wrong_format"] == 0.0
    assert mixed_run.per_class == {
        "platform:macos": 0.5,
        "platform:windows": 0.5,
        "type:icon": 0.5,
        "type:text": 0.5,
    }
    assert report.truth == "target"
    if _has_pandas():
        assert len(report.to_dataframe()) == 3
    no_answer = evaluate(QwenVLM(backend=FakeBackend("I cannot find it")), items, task="ground")
    assert no_answer.metrics == {"accuracy": 0.0, "wrong_format": 1.0} and no_answer.runs[0].failures == 4


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def test_screenspot_and_screenspot_pro_files(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from qwen_vlm import DatasetError, evaluate

    screens = _screens(tmp_path)
    v2 = [  # ScreenSpot / -v2: bbox is [x, y, w, h]
        {"img_filename": Path(p).name, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "instruction": i,
         "data_type": g["type"], "data_source": g["platform"]}
        for p, i, b, g in screens
    ]  # fmt: skip
    pro = [  # ScreenSpot-Pro: bbox is [x1, y1, x2, y2], with img_size and ui_type
        {"img_filename": Path(p).name, "bbox": list(b), "img_size": [1000, 500], "instruction": i,
         "ui_type": g["type"], "platform": g["platform"], "group": "Dev", "application": "vscode"}
        for p, i, b, g in screens
    ]  # fmt: skip
    (tmp_path / "screenspot_desktop_v2.json").write_text(json.dumps(v2))
    (tmp_path / "vscode_macos.json").write_text(json.dumps(pro))
    inside = {i: ((b[0] + b[2]) // 2, (b[1] + b[3]) // 2) for _, i, b, _ in screens}
    client = QwenVLM(backend=_answering(inside))
    for name in ("screenspot_desktop_v2.json", "vscode_macos.json"):
        report = evaluate(client, tmp_path / name, task="ground")
        assert report.metrics["accuracy"] == 1.0, name
    assert "group:Dev" in report.runs[0].per_class and "application:vscode" in report.runs[0].per_class
    (tmp_path / "broken.json").write_text(
        json.dumps([{"img_filename": "nope.png", "bbox": [0, 0, 1, 1], "instruction": "x"}])
    )
    with pytest.raises(DatasetError, match="not found"):
        evaluate(client, tmp_path / "broken.json", task="ground")


def test_the_command_grounds_and_acts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("openai")
    from chat_server import Reply, chat_server, completion

    from qwen_vlm.cli import main

    shot = tmp_path / "screen.png"
    Image.new("RGB", (1000, 500)).save(shot)
    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion(call("left_click", coordinate=[500, 500])))
        common = ["--backend", "openai", "--base-url", server.url, "--model", "Qwen/Qwen3-VL-8B-Instruct"]
        assert main(["ground", str(shot), "the OK button", *common]) == 0
        grounded = capsys.readouterr().out
        assert main(["act", str(shot), "press OK", *common, "--param", "platform=mobile"]) == 0
        acted = capsys.readouterr().out
        prompts = [b["messages"][-1]["content"][-1]["text"] for b in server.requests]
        systems = [b["messages"][0]["content"] for b in server.requests]
    assert prompts == ["the OK button", "press OK"]
    assert "computer_use" in systems[0] and "mobile_use" in systems[1]
    shown = json.loads(acted.split("\n", 1)[1])  # after the "== screen.png" line
    assert shown["kind"] == "click" and shown["point"] == [500.0, 250.0] and shown["platform"] == "mobile"
    assert '"xy": [\n    500.0,\n    250.0\n  ]' in grounded
    assert main(["ground", str(shot), *common]) == 2  # no instruction
    assert "ground needs the instruction after the image" in capsys.readouterr().err


def test_ground_has_a_confidence_where_token_probabilities_come_back() -> None:
    from test_confidence import by_hand, tokens_of

    from qwen_vlm import GenerationResponse
    from qwen_vlm.logprobs import merge_pieces

    answer = call("left_click", coordinate=[250, 500])
    tokens = tokens_of(answer, size=4)
    reply = GenerationResponse(text=answer, logprobs=merge_pieces(tokens), finish_reason="stop")
    found = QwenVLM(backend=FakeBackend([reply])).ground(Image.new("RGB", (800, 600)), "the thing")
    assert found.xy == (200.0, 300.0) and found.confidence is not None
    assert found.confidence == pytest.approx(by_hand(tokens, None, ["250", "500"], answer.index("[250")))
    plain = QwenVLM(backend=FakeBackend(answer)).ground(Image.new("RGB", (800, 600)), "the thing")
    assert plain.confidence is None  # no probabilities: no made-up number


def test_a_server_that_parses_tool_calls_out_of_the_answer() -> None:
    """vLLM/SGLang with a tool parser, and transformers serve, move the call into message.tool_calls."""
    pytest.importorskip("openai")
    from chat_server import Reply, chat_server, chunk, completion

    arguments = json.dumps({"action": "left_click", "coordinate": [500, 250]})
    call_part = {"id": "c0", "type": "function", "function": {"name": "computer_use", "arguments": arguments}}

    def whole(n: int, body: dict[str, Any]) -> Reply:
        reply = completion("I will click OK.", finish_reason="tool_calls")
        reply["choices"][0]["message"]["tool_calls"] = [call_part]
        return Reply(body=reply)

    def streamed(n: int, body: dict[str, Any]) -> Reply:
        first = chunk("I will click OK.")
        calls = [
            {
                "index": 0,
                "id": "c0",
                "type": "function",
                "function": {"name": "computer_use", "arguments": ""},
            },
            {"index": 0, "function": {"arguments": arguments[:20]}},
            {"index": 0, "function": {"arguments": arguments[20:]}},
        ]
        events = [first]
        for piece in calls:
            event = chunk(None)
            event["choices"] = [{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}]
            events.append(event)
        last = chunk(None)
        last["choices"] = [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]
        return Reply(events=[*events, last])

    shot = Image.new("RGB", (1000, 500))
    with chat_server() as server:
        vlm = QwenVLM("Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=server.url, api_key="x")
        server.script = whole
        action = vlm.act(shot, "press OK")
        server.script = streamed
        with vlm.stream("act", shot, instruction="press OK") as stream:
            text = "".join(event.delta for event in stream if event.kind == "text")
    assert action.ok and action.kind == "click" and action.point == (500.0, 125.0)
    assert action.thought == "I will click OK." and action.raw is not None
    assert "<tool_call>" in text and stream.result.point == (500.0, 125.0)


def test_qwen2_vl_box_tokens_and_string_arguments() -> None:
    qwen2 = FakeBackend("<|object_ref_start|>OK<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>")
    qwen2.info = REGISTRY["Qwen/Qwen2-VL-7B-Instruct"]
    found = QwenVLM(backend=qwen2).ground(Image.new("RGB", (1000, 500)), "OK")
    assert found.ok and found.box == (100.0, 100.0, 300.0, 200.0) and found.xy == (200.0, 150.0)
    as_string = json.dumps({"action": "left_click", "coordinate": [500, 500]})
    text = "<tool_call>\n" + json.dumps({"name": "computer_use", "arguments": as_string}) + "\n</tool_call>"
    action = QwenVLM(backend=FakeBackend(text)).act(Image.new("RGB", (1000, 500)), "click")
    assert action.ok and action.point == (500.0, 250.0)
