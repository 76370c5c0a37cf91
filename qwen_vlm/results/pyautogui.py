"""An :class:`~qwen_vlm.Action` as pyautogui code, written the way ``ui-tars``' converter writes it.

For the actions both know (click, double and right click, move, drag, type, key combinations) the calls
are the ones ``ui_tars.action_parser.parsing_response_to_pyautogui_code`` writes: coordinates rounded to
3 decimals, ``pyautogui.write(..., interval=0.1)`` for typing (an ending new line pressed as ``enter``),
``pyautogui.hotkey(...)`` for keys. The rest follow the same style.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .screens import Action

__all__ = ["to_pyautogui"]

_ARROWS = {"arrowleft": "left", "arrowright": "right", "arrowup": "up", "arrowdown": "down", "space": " "}


def _xy(point: tuple[float, float] | None) -> str:
    if point is None:
        return ""
    return f"{round(float(point[0]), 3)}, {round(float(point[1]), 3)}"


def _type(text: str) -> list[str]:
    lines = [f"pyautogui.write({text!r}, interval=0.1)", "time.sleep(0.5)"]
    if text.endswith("\n") or text.endswith("\\n"):
        lines.append("pyautogui.press('enter')")
    return lines


def _calls(action: Action) -> list[str]:
    kind, at = action.kind, _xy(action.point)
    clicks = {
        "click": f"pyautogui.click({at}, button='left')",
        "double_click": f"pyautogui.doubleClick({at}, button='left')",
        "right_click": f"pyautogui.click({at}, button='right')",
        "middle_click": f"pyautogui.click({at}, button='middle')",
        "triple_click": f"pyautogui.tripleClick({at}, button='left')",
        "move": f"pyautogui.moveTo({at})",
    }
    if kind in clicks:
        return [clicks[kind]] if action.point is not None else [clicks[kind].replace("(, ", "(")]
    if kind in ("drag", "swipe"):
        start = [f"pyautogui.moveTo({at})"] if action.point is not None else []
        return [*start, f"pyautogui.dragTo({_xy(action.end)}, duration=1.0)"]
    if kind == "type":
        return _type(action.content or "")
    if kind == "key":
        keys = [_ARROWS.get(k.lower(), k.lower()) for k in action.keys]
        return [f"pyautogui.hotkey({', '.join(repr(k) for k in keys)})"] if keys else []
    if kind in ("scroll", "hscroll"):
        call = "scroll" if kind == "scroll" else "hscroll"
        amount = int(action.amount or 0)
        where = f", x={round(action.point[0], 3)}, y={round(action.point[1], 3)}" if action.point else ""
        return [f"pyautogui.{call}({amount}{where})"]
    if kind == "wait":
        return [f"time.sleep({action.amount if action.amount is not None else 1})"]
    if kind == "long_press":
        seconds = action.amount if action.amount is not None else 1
        return [f"pyautogui.mouseDown({at})", f"time.sleep({seconds})", "pyautogui.mouseUp()"]
    return [f"# {kind}: not a pyautogui action ({action.describe()})"]


def to_pyautogui(action: Action) -> str:
    """The action as a pyautogui script (empty for an action without a kind)."""
    if action.kind is None:
        return ""
    return "\n".join(["import pyautogui", "import time", *_calls(action)])
