"""One call's parts: the options a task method takes, their checked form, and the work they plan.

Pure data; :class:`~qwen_vlm.engine.core.ClientCore` fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from ..backends import GenerationRequest
from ..image_refs import ImageRef
from ..tasks import Task

__all__ = ["CallOptions", "Plan", "Settings"]


class CallOptions(TypedDict, total=False):
    """Options every task method takes as keyword arguments.

    Attributes:
        max_tokens: Token budget, reasoning included (default: per task; 4096 when thinking is on).
        temperature: Sampling temperature from 0 to 2 (default: greedy).
        enable_thinking: Switch reasoning on or off on models that support it (default: the model's own
            default locally, off on remote servers).
        strict: Raise per-image failures (``OutputParseError``, ``BackendError``) instead of recording them
            on the result's ``error``.
        progress: Show a tqdm progress bar (default: for batches, in notebooks and terminals).
        constrained: Decode structured tasks (detect, point, classify, classify_multi, extract) under a
            grammar of their answer format (default: the client's ``constrained``, on). Local backend:
            xgrammar; vLLM/SGLang: ``response_format``; see the structured-output docs.
        max_objects: Most objects a constrained detection or pointing answer may hold (default 100).
        min_confidence: Detect and point: keep only the objects whose confidence (0 to 1) is at least
            this; objects of unknown confidence are dropped. Refused up front on a server that returns
            no token probabilities.
        cache: A result store file for this call (a path), or ``False`` to bypass the client's
            (default: the client's ``cache``).
        window: Videos: ask about a long video in parts of this many seconds (``"auto"``: as long as the
            video's frame budget covers, ``Video.max_frames / Video.fps``), each part a request of its
            own, the results combined in the whole video's time (locate_events, ask, caption, prompt).
        window_overlap: Seconds each window overlaps the next (default: a tenth of the window).
        refine: locate_events: look again around each event found, at four times the frame rate, and
            take the closer look's times ("scan, then zoom").
    """

    max_tokens: int
    temperature: float
    enable_thinking: bool
    strict: bool
    progress: bool
    constrained: bool
    max_objects: int
    min_confidence: float
    cache: Any
    window: float | str
    window_overlap: float
    refine: bool


@dataclass(frozen=True)
class Settings:
    """A call's checked task parameters and options."""

    task: Task
    params: dict[str, Any]
    max_tokens: int | None
    temperature: float | None
    enable_thinking: bool | None
    strict: bool
    progress: bool | None
    constrained: bool
    max_objects: int | None
    min_confidence: float | None = None
    cache: Any = None


@dataclass
class Plan:
    """One call's work: its task, parameters, images and requests.

    Not frozen: ``known`` fills in as the call runs (results from the store, or parsed as chunks
    settle); everything else is set once when the call is planned.

    ``refs`` holds every input in order; ``requests`` only those that could be read, ``positions[k]``
    being the input position of ``requests[k]``. Inputs that could not be read (in a list) have their
    :class:`ImageError` in ``ref.error`` and get a failed result without anything being sent.
    ``members[i]`` holds every image of input ``i`` (one, or a group's).
    """

    task: Task
    params: dict[str, Any]
    inputs: list[Any]
    refs: list[ImageRef]
    requests: list[GenerationRequest]
    positions: list[int]
    single: bool
    strict: bool
    progress: bool | None
    max_tokens: int
    members: list[list[ImageRef]]
    min_confidence: float | None = None
    #: Results already decided, by input position: from the result store, or parsed as chunks finished.
    known: dict[int, Any] = field(default_factory=dict)
    #: The result store this call reads and writes (:class:`~qwen_vlm.store.ResultStore`), or ``None``.
    store: Any = None
    #: Called with ``(chunk, responses)`` as each chunk of requests settles (the store's writes), or ``None``.
    on_settled: Any = None
    #: Called with a chunk just before it is sent; returns the requests answered without sending
    #: (the store's hits, whose results it puts in ``known``), or ``None``.
    before_send: Any = None

    @property
    def label(self) -> str:
        """The progress bar's description: the method, and how many results came from the store."""
        label = self.task.label
        return f"{label} ({len(self.known)} from store)" if self.known else label

    def chunks(self, size: int) -> list[list[int]]:
        """The requests' indices in chunks of ``size`` (one ``generate`` call each)."""
        indices = list(range(len(self.requests)))
        return [indices[i : i + size] for i in range(0, len(indices), max(1, size))]
