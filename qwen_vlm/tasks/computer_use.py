"""Qwen's computer-use and mobile-use tools: their function definitions, the system message, the call.

The definitions are the Qwen cookbooks' own (``QwenLM/Qwen3-VL``, ``cookbooks/utils/agent_function_call.py``,
classes ``ComputerUse`` and ``MobileUse``), word for word; ``tests/data`` keeps that file and a test checks
these against it. The system message is what ``qwen_agent``'s ``NousFnCallPrompt`` builds from them after
"You are a helpful assistant." (the cookbooks' flow), and the model answers
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, possibly after its thoughts.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["FUNCTIONS", "TOOL_TEMPLATE", "function_definition", "system_message"]

#: ``{name: {"description": ..., "parameters": ...}}``; ``{width}x{height}`` is the stated screen size.
FUNCTIONS: dict[str, dict[str, Any]] = {
    "computer_use": {
        "description": "Use a mouse and keyboard to interact with a computer, and take "
        "screenshots.\n"
        "* This is an interface to a desktop GUI. You do not have access to a "
        "terminal or applications menu. You must click on desktop icons to start "
        "applications.\n"
        "* Some applications may take time to start or process actions, so you "
        "may need to wait and take successive screenshots to see the results of "
        "your actions. E.g. if you click on Firefox and a window doesn't open, "
        "try wait and taking another screenshot.\n"
        "* The screen's resolution is {width}x{height}.\n"
        "* Whenever you intend to move the cursor to click on an element like an "
        "icon, you should consult a screenshot to determine the coordinates of "
        "the element before moving the cursor.\n"
        "* If you tried clicking on a program or link but it failed to load, even "
        "after waiting, try adjusting your cursor position so that the tip of the "
        "cursor visually falls on the element that you want to click.\n"
        "* Make sure to click any buttons, links, icons, etc with the cursor tip "
        "in the center of the element. Don't click boxes on their edges.",
        "parameters": {
            "properties": {
                "action": {
                    "description": "The action to perform. The "
                    "available actions are:\n"
                    "* `key`: Performs key down "
                    "presses on the arguments passed "
                    "in order, then performs key "
                    "releases in reverse order.\n"
                    "* `type`: Type a string of text "
                    "on the keyboard.\n"
                    "* `mouse_move`: Move the cursor "
                    "to a specified (x, y) pixel "
                    "coordinate on the screen.\n"
                    "* `left_click`: Click the left "
                    "mouse button at a specified (x, "
                    "y) pixel coordinate on the "
                    "screen.\n"
                    "* `left_click_drag`: Click and "
                    "drag the cursor to a specified "
                    "(x, y) pixel coordinate on the "
                    "screen.\n"
                    "* `right_click`: Click the "
                    "right mouse button at a "
                    "specified (x, y) pixel "
                    "coordinate on the screen.\n"
                    "* `middle_click`: Click the "
                    "middle mouse button at a "
                    "specified (x, y) pixel "
                    "coordinate on the screen.\n"
                    "* `double_click`: Double-click "
                    "the left mouse button at a "
                    "specified (x, y) pixel "
                    "coordinate on the screen.\n"
                    "* `triple_click`: Triple-click "
                    "the left mouse button at a "
                    "specified (x, y) pixel "
                    "coordinate on the screen "
                    "(simulated as double-click "
                    "since it's the closest "
                    "action).\n"
                    "* `scroll`: Performs a scroll "
                    "of the mouse scroll wheel.\n"
                    "* `hscroll`: Performs a "
                    "horizontal scroll (mapped to "
                    "regular scroll).\n"
                    "* `wait`: Wait specified "
                    "seconds for the change to "
                    "happen.\n"
                    "* `terminate`: Terminate the "
                    "current task and report its "
                    "completion status.\n"
                    "* `answer`: Answer a question.",
                    "enum": [
                        "key",
                        "type",
                        "mouse_move",
                        "left_click",
                        "left_click_drag",
                        "right_click",
                        "middle_click",
                        "double_click",
                        "triple_click",
                        "scroll",
                        "hscroll",
                        "wait",
                        "terminate",
                        "answer",
                    ],
                    "type": "string",
                },
                "keys": {"description": "Required only by `action=key`.", "type": "array"},
                "text": {
                    "description": "Required only by `action=type` and `action=answer`.",
                    "type": "string",
                },
                "coordinate": {
                    "description": "(x, y): The x (pixels from "
                    "the left edge) and y "
                    "(pixels from the top edge) "
                    "coordinates to move the "
                    "mouse to.",
                    "type": "array",
                },
                "pixels": {
                    "description": "The amount of scrolling to "
                    "perform. Positive values scroll "
                    "up, negative values scroll "
                    "down. Required only by "
                    "`action=scroll` and "
                    "`action=hscroll`.",
                    "type": "number",
                },
                "time": {
                    "description": "The seconds to wait. Required only by `action=wait`.",
                    "type": "number",
                },
                "status": {
                    "description": "The status of the task. Required only by `action=terminate`.",
                    "type": "string",
                    "enum": ["success", "failure"],
                },
            },
            "required": ["action"],
            "type": "object",
        },
    },
    "mobile_use": {
        "description": "Use a touchscreen to interact with a mobile device, and take screenshots.\n"
        "* This is an interface to a mobile device with touchscreen. You can "
        "perform actions like clicking, typing, swiping, etc.\n"
        "* Some applications may take time to start or process actions, so you may "
        "need to wait and take successive screenshots to see the results of your "
        "actions.\n"
        "* The screen's resolution is {width}x{height}.\n"
        "* Make sure to click any buttons, links, icons, etc with the cursor tip in "
        "the center of the element. Don't click boxes on their edges unless asked.",
        "parameters": {
            "properties": {
                "action": {
                    "description": "The action to perform. The "
                    "available actions are:\n"
                    "* `key`: Perform a key event on "
                    "the mobile device.\n"
                    "    - This supports adb's "
                    "`keyevent` syntax.\n"
                    '    - Examples: "volume_up", '
                    '"volume_down", "power", "camera", '
                    '"clear".\n'
                    "* `click`: Click the point on the "
                    "screen with coordinate (x, y).\n"
                    "* `long_press`: Press the point "
                    "on the screen with coordinate (x, "
                    "y) for specified seconds.\n"
                    "* `swipe`: Swipe from the "
                    "starting point with coordinate "
                    "(x, y) to the end point with "
                    "coordinates2 (x2, y2).\n"
                    "* `type`: Input the specified "
                    "text into the activated input "
                    "box.\n"
                    "* `system_button`: Press the "
                    "system button.\n"
                    "* `open`: Open an app on the "
                    "device.\n"
                    "* `wait`: Wait specified seconds "
                    "for the change to happen.\n"
                    "* `terminate`: Terminate the "
                    "current task and report its "
                    "completion status.",
                    "enum": [
                        "key",
                        "click",
                        "long_press",
                        "swipe",
                        "type",
                        "system_button",
                        "open",
                        "wait",
                        "terminate",
                    ],
                    "type": "string",
                },
                "coordinate": {
                    "description": "(x, y): The x (pixels from "
                    "the left edge) and y (pixels "
                    "from the top edge) "
                    "coordinates to move the mouse "
                    "to. Required only by "
                    "`action=click`, "
                    "`action=long_press`, and "
                    "`action=swipe`.",
                    "type": "array",
                },
                "coordinate2": {
                    "description": "(x, y): The x (pixels from "
                    "the left edge) and y (pixels "
                    "from the top edge) "
                    "coordinates to move the "
                    "mouse to. Required only by "
                    "`action=swipe`.",
                    "type": "array",
                },
                "text": {
                    "description": "Required only by `action=key`, `action=type`, and `action=open`.",
                    "type": "string",
                },
                "time": {
                    "description": "The seconds to wait. Required only "
                    "by `action=long_press` and "
                    "`action=wait`.",
                    "type": "number",
                },
                "button": {
                    "description": "Back means returning to the "
                    "previous interface, Home means "
                    "returning to the desktop, Menu "
                    "means opening the application "
                    "background menu, and Enter means "
                    "pressing the enter. Required only "
                    "by `action=system_button`",
                    "enum": ["Back", "Home", "Menu", "Enter"],
                    "type": "string",
                },
                "status": {
                    "description": "The status of the task. Required only by `action=terminate`.",
                    "type": "string",
                    "enum": ["success", "failure"],
                },
            },
            "required": ["action"],
            "type": "object",
        },
    },
}

#: ``qwen_agent.llm.fncall_prompts.nous_fncall_prompt.FN_CALL_TEMPLATE``.
TOOL_TEMPLATE = (
    "# Tools\n\n"
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n{tool_descs}\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-json-object>}}\n'
    "</tool_call>"
)


def function_definition(name: str, width: int, height: int) -> dict[str, Any]:
    """The function a tool is declared as, for a screen of ``width`` x ``height`` (what the model sees)."""
    spec = FUNCTIONS[name]
    return {
        "name": name,
        "description": spec["description"].replace("{width}x{height}", f"{width}x{height}"),
        "parameters": spec["parameters"],
    }


def system_message(name: str, width: int, height: int) -> str:
    """The system message declaring one tool, as the cookbooks send it."""
    tool = json.dumps(
        {"type": "function", "function": function_definition(name, width, height)}, ensure_ascii=False
    )
    return "You are a helpful assistant.\n\n" + TOOL_TEMPLATE.format(tool_descs=tool)
