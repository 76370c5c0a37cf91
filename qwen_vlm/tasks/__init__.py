"""Tasks: what to ask about an image and how to read the answer, one :class:`Task` object each. Pure.

Every task — the built-ins and users' own — is a :class:`Task` found through one registry
(:func:`get_task` by name, alias or method name; :func:`register_task` for new ones). The engine asks the
task object for everything: its prompt, its grammar, its parameters' checks, and its answer's reading
(:func:`read_answer`, which never raises). :func:`parse` reads text obtained elsewhere.
"""

from __future__ import annotations

from .base import Answer, Frame, Task, Window
from .reading import Delivery, parse, read_answer
from .registry import BUILTIN_TASKS, ENTRY_POINT_GROUP, get_task, register_task, registered_tasks

#: The token budget used when thinking is on (reasoning counts against it).
THINKING_MAX_TOKENS = 4096

__all__ = [
    "BUILTIN_TASKS",
    "ENTRY_POINT_GROUP",
    "THINKING_MAX_TOKENS",
    "Answer",
    "Delivery",
    "Frame",
    "Task",
    "Window",
    "get_task",
    "parse",
    "read_answer",
    "register_task",
    "registered_tasks",
]
