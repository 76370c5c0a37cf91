"""Screens: ``ground`` (the element an instruction names) and ``act`` (the next GUI action). Pure.

Both declare Qwen's ``computer_use`` (or ``mobile_use``) tool in the system message, with the screen size
stated as each family expects: the size of the screenshot *as the model sees it* on Qwen2.5-VL (it
answers in those pixels), a 1000x1000 screen on Qwen3-VL and later (it answers on that grid). The answer
is a ``<tool_call>``; its coordinates are mapped back to pixels of the original screenshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError, OutputParseError
from ..parsing import parse_json, scan_json
from ..results import Action, Point, Result, Target
from .base import Answer, Frame
from .computer_use import system_message
from .confidence import with_confidences
from .coordinates import coordinate_of
from .grounding import parse_boxes
from .params import BuiltinTask, check_text

__all__ = ["ActTask", "GroundTask", "read_tool_call"]

#: The tool's action names → :attr:`Action.kind`.
_KINDS = {
    "left_click": "click",
    "click": "click",
    "double_click": "double_click",
    "right_click": "right_click",
    "middle_click": "middle_click",
    "triple_click": "triple_click",
    "mouse_move": "move",
    "left_click_drag": "drag",
    "type": "type",
    "key": "key",
    "scroll": "scroll",
    "hscroll": "hscroll",
    "wait": "wait",
    "long_press": "long_press",
    "swipe": "swipe",
    "system_button": "system_button",
    "open": "open",
    "answer": "answer",
    "terminate": "terminate",
}
_NEEDS_POINT = frozenset({"click", "double_click", "right_click", "middle_click", "triple_click", "move"})
_TOOLS = {"desktop": "computer_use", "mobile": "mobile_use"}


def read_tool_call(text: str) -> tuple[str | None, dict[str, Any]]:
    """The thoughts before the call, and the call (``{"name", "arguments"}``) the answer holds.

    Raises:
        OutputParseError: No call in the answer.
    """
    start = text.find("<tool_call>")
    thought = text[:start].strip() if start > 0 else None
    body = text[start + len("<tool_call>") :] if start >= 0 else text
    end = body.find("</tool_call>")
    body = body[:end] if end >= 0 else body
    calls = [_arguments_read(v) for v in scan_json(body).values if isinstance(v, Mapping)]
    call = next((c for c in calls if isinstance(c.get("arguments"), Mapping)), None)
    if call is None:
        bare = next((c for c in calls if "action" in c), None)  # arguments written without the wrapper
        call = {"name": None, "arguments": bare} if bare is not None else None
    if call is None:
        raise OutputParseError("the answer holds no tool call (<tool_call>{...}</tool_call>)", text)
    return thought or None, {"name": call.get("name"), "arguments": dict(call["arguments"])}


def _arguments_read(call: Mapping[str, Any]) -> Mapping[str, Any]:
    """A call whose ``arguments`` is a JSON string (as some servers write it) with them read."""
    arguments = call.get("arguments")
    if isinstance(arguments, str):
        try:
            value = parse_json(arguments)
        except ValueError:
            return call
        return {**call, "arguments": value} if isinstance(value, Mapping) else call
    return call


def _on_screen(answer: Answer, value: Any, what: str) -> tuple[float, float]:
    """A coordinate the model wrote, checked to be on its screen, in pixels of the screenshot."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise OutputParseError(f"{what} must be [x, y], got {value!r}", answer.text)
    x, y = coordinate_of(value[0]), coordinate_of(value[1])  # as detect reads them: no true/false
    if x is None or y is None:
        raise OutputParseError(f"{what} must be two numbers, got {value!r}", answer.text)
    info, size = answer.info, answer.image_size
    if info is None or size is None:
        raise OutputParseError("the screenshot's size is unknown", answer.text)
    frame = Frame(size, answer.input_size, info).coordinate_frame
    if not (0 <= x <= frame[0] and 0 <= y <= frame[1]):
        raise OutputParseError(f"{what} {[x, y]} is outside the {frame[0]}x{frame[1]} screen", answer.text)
    pixels = answer.to_pixels((x, y))
    if pixels is None:
        raise OutputParseError(f"{what} {[x, y]} cannot be placed on the screenshot", answer.text)
    return (pixels[0], pixels[1])


class _ScreenTask(BuiltinTask):
    needs_geometry = True
    uses_frame = True
    max_tokens = 512
    cli_argument = "instruction"

    def system_for(self, params: Mapping[str, Any], frame: Frame) -> str | None:
        """``computer_use`` (desktop) or ``mobile_use`` (mobile), for this screen in the family's frame."""
        width, height = frame.coordinate_frame
        return system_message(_TOOLS[params.get("platform", "desktop")], width, height)


class GroundTask(_ScreenTask):
    """The one element an instruction names, as a point (ScreenSpot style)."""

    name = "ground"
    result = Target
    evaluated_as = "target"
    parameters = ("instruction",)

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``instruction``: the element to find (a non-empty string)."""
        instruction = params.get("instruction")
        if parsing and instruction is None:
            return {"instruction": ""}
        return {"instruction": check_text(instruction, "ground needs instruction=, a non-empty string")}

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The instruction, as the user's query."""
        return str(params["instruction"])

    def empty(self, answer: Answer) -> Result:
        """No point; the instruction and screenshot size kept."""
        return Target(instruction=answer.params["instruction"], image_size=answer.image_size)

    def parse(self, answer: Answer) -> Result:
        """A tool call's coordinate, or a JSON point or box (a box gives its centre and is kept)."""
        box: tuple[float, float, float, float] | None = None
        try:
            _, call = read_tool_call(answer.text)
            raw = call["arguments"].get("coordinate")
        except OutputParseError:
            raw = _point_or_box(answer)
        if isinstance(raw, (list, tuple)) and len(raw) == 4:
            pixels = answer.to_pixels(raw)
            if pixels is None:
                raise OutputParseError(f"the box {list(raw)} cannot be placed on the screenshot", answer.text)
            box = (pixels[0], pixels[1], pixels[2], pixels[3])
            xy = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        else:
            xy = _on_screen(answer, raw, "the coordinate")
        confidence = _confidence(answer, raw, xy)
        return Target(
            xy=xy,
            box=box,
            confidence=confidence,
            instruction=answer.params["instruction"],
            image_size=answer.image_size,
        )


def _point_or_box(answer: Answer) -> Any:
    if "<|box_start|>" in answer.text and answer.info is not None and answer.image_size is not None:
        # Qwen2-VL grounds with box tokens (0-1000): the first box, as the model wrote it
        boxes, _, _ = parse_boxes(answer.text, answer.info.spec, answer.image_size, answer.input_size)
        if boxes and boxes[0].raw_box is not None:
            return list(boxes[0].raw_box)
    value = parse_json(answer.text)
    items = value if isinstance(value, list) and value and not isinstance(value[0], (int, float)) else [value]
    for item in items:
        if isinstance(item, Mapping):
            for key in ("point_2d", "bbox_2d", "point", "bbox", "coordinate", "box"):
                if key in item:
                    return item[key]
        elif isinstance(item, list) and len(item) in (2, 4):
            return item
    raise OutputParseError("the answer holds no point, box or tool call", answer.text)


def _confidence(answer: Answer, raw: Any, xy: tuple[float, float]) -> float | None:
    if answer.logprobs is None or not isinstance(raw, (list, tuple)) or len(raw) != 2:
        return None
    point = Point(None, xy, (float(raw[0]), float(raw[1])))
    found: float | None = with_confidences((point,), answer.text, answer.logprobs)[0].confidence
    return found


class ActTask(_ScreenTask):
    """The model's next action on a screen, in the official tool-call format of its family."""

    name = "act"
    result = Action
    parameters = ("instruction", "history", "platform")

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``instruction``, ``history`` (earlier actions, or their descriptions), ``platform``."""
        platform = params.get("platform", "desktop")
        if platform not in _TOOLS:
            raise ConfigurationError(f"act: platform must be 'desktop' or 'mobile', got {platform!r}")
        instruction = params.get("instruction")
        if not (parsing and instruction is None):
            instruction = check_text(instruction, "act needs instruction=, a non-empty string")
        return {
            "instruction": instruction or "",
            "history": _history(params.get("history")),
            "platform": platform,
        }

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The user's query, with the steps already taken (the mobile cookbook's wording)."""
        history: Sequence[str] = params["history"]
        if not history:
            return str(params["instruction"])
        steps = "".join(f"Step {k}: {step}; " for k, step in enumerate(history, 1))
        return (
            f"The user query: {params['instruction']}.\n"
            f"Task progress (You have done the following operation on the current device): {steps}.\n"
        )

    def empty(self, answer: Answer) -> Result:
        """No action; the platform and screenshot size kept."""
        return Action(platform=answer.params["platform"], image_size=answer.image_size)

    def parse(self, answer: Answer) -> Result:
        """The tool call read into a typed :class:`~qwen_vlm.Action`."""
        thought, call = read_tool_call(answer.text)
        return _action(answer, thought, call)


def _history(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, Action)) or not isinstance(value, (list, tuple)):
        value = [value]
    steps = []
    for item in value:
        if isinstance(item, tuple) and item and isinstance(item[0], Action):
            item = item[0]  # (action, screenshot): the screenshot is not sent again
        if isinstance(item, Action):
            steps.append(item.describe())
        elif isinstance(item, str) and item.strip():
            steps.append(" ".join(item.replace('"', "").split()))
        else:
            raise ConfigurationError(f"act: history holds Actions or step descriptions, got {item!r}")
    return tuple(steps)


def _action(answer: Answer, thought: str | None, call: dict[str, Any]) -> Action:
    arguments: Mapping[str, Any] = call["arguments"]
    name = arguments.get("action")
    kind = _KINDS.get(str(name))
    if kind is None:
        known = ", ".join(sorted(_KINDS))
        raise OutputParseError(f"unknown action {name!r} (known: {known})", answer.text)
    fields: dict[str, Any] = {}
    coordinate = arguments.get("coordinate")
    if kind in ("drag",):
        fields["end"] = _on_screen(answer, coordinate, "the coordinate")
        start = arguments.get("start_coordinate")
        fields["point"] = _on_screen(answer, start, "start_coordinate") if start is not None else None
    elif kind == "swipe":
        fields["point"] = _on_screen(answer, coordinate, "the coordinate")
        fields["end"] = _on_screen(answer, arguments.get("coordinate2"), "coordinate2")
    elif coordinate is not None or kind in _NEEDS_POINT or kind == "long_press":
        fields["point"] = _on_screen(answer, coordinate, "the coordinate")
    if kind in ("type", "answer", "open"):
        text = arguments.get("text")
        if not isinstance(text, str):
            raise OutputParseError(f"{name} needs text, got {text!r}", answer.text)
        fields["content"] = text
    if kind == "key":
        keys = arguments.get("keys", arguments.get("text"))
        keys = keys.replace("+", " ").split() if isinstance(keys, str) else keys
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise OutputParseError(f"key needs keys, got {keys!r}", answer.text)
        fields["keys"] = tuple(keys)
    amount = arguments.get("pixels", arguments.get("time"))
    if amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise OutputParseError(f"{name}: expected a number, got {amount!r}", answer.text)
        fields["amount"] = float(amount)
    if kind in ("scroll", "hscroll", "wait") and amount is None:
        raise OutputParseError(f"{name} needs {'time' if kind == 'wait' else 'pixels'}", answer.text)
    if kind == "terminate":
        fields["status"] = str(arguments.get("status", "")) or None
    if kind == "system_button":
        fields["button"] = str(arguments.get("button", "")) or None
    return Action(
        kind=kind,
        thought=thought,
        raw=call,
        platform=answer.params["platform"],
        image_size=answer.image_size,
        **fields,
    )
