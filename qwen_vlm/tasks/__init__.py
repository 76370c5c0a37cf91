"""Tasks: what to ask (prompt building) and how to read the answer (parsing). Pure; no transport.

Each task has a name from the seed block (``"object-detection"``...) and a client method name
(``"detect"``...); :func:`resolve_task` accepts either. :func:`build_prompt` turns a task's parameters into
the text sent after the image; :func:`parse` turns the model's text into the task's typed result.
"""

from __future__ import annotations

from .answers import parse, parse_answer
from .prompting import build_constraint, build_prompt
from .spec import TASKS, THINKING_MAX_TOKENS, VIDEO_TASKS, TaskSpec, resolve_task, validate_params

__all__ = [
    "TASKS",
    "THINKING_MAX_TOKENS",
    "VIDEO_TASKS",
    "TaskSpec",
    "build_constraint",
    "build_prompt",
    "parse",
    "parse_answer",
    "resolve_task",
    "validate_params",
]
