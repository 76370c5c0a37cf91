"""Temporal grounding (``locate_events``): when each event happens in a video, in seconds (pure)."""

from __future__ import annotations

import dataclasses
import itertools
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from .. import prompts
from ..constraints import Constraint
from ..models import ModelInfo
from ..results import Events, Result
from .base import Answer, Window
from .params import BuiltinTask, check_classes, with_error
from .temporal import closest_event, merge_events, parse_events

__all__ = ["LocateEventsTask"]


class LocateEventsTask(BuiltinTask):
    """Find when each event happens in a video (``"temporal-grounding"``)."""

    name = "temporal-grounding"
    method = "locate_events"
    aliases = ("locate_events", "locate-events")
    result = Events
    max_tokens = 512
    accepts_video = True
    requires_video = True
    windows = True
    refines = True
    parameters = ("events",)

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``events``: what to find (required, except to read text you already have)."""
        found = check_classes(params.get("events"), "locate_events", required=not parsing, what="event")
        return {"events": found or ()}

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The temporal grounding prompt."""
        return prompts.locate_events_prompt(params["events"])

    def constraint(
        self, params: Mapping[str, Any], info: ModelInfo, *, max_objects: int | None, images: int
    ) -> Constraint | None:
        """A bounded list of ``{"event", "start", "end"}`` (times bounded by the video once it is read)."""
        return Constraint("events", classes=params["events"], name="events")

    def empty(self, answer: Answer) -> Result:
        """No events; the queries, the video's length and frame times kept."""
        clip = answer.video
        return Events(
            queries=tuple(answer.params["events"]),
            duration=clip.duration if clip is not None else None,
            timestamps=tuple(clip.timestamps) if clip is not None else (),
        )

    def parse(self, answer: Answer) -> Result:
        """The events in the video's time (the model's times shifted by ``time_offset``)."""
        clip = answer.video
        duration = clip.duration if clip is not None else None
        found, error, lost = parse_events(
            answer.text, answer.params["events"], offset=answer.time_offset, duration=duration
        )
        result = self.empty(answer)
        assert isinstance(result, Events)
        return with_error(
            Events(
                events=found,
                queries=result.queries,
                dropped=lost,
                duration=result.duration,
                timestamps=result.timestamps,
            ),
            error,
            answer.text,
        )

    def merge(self, parts: Sequence[Window], params: Mapping[str, Any]) -> Result:
        """The windows' events in the whole video's time; an event seen on both sides of a border is one."""
        found = [part.result for part in parts if isinstance(part.result, Events)]
        times = sorted({t for result in found for t in result.timestamps})
        return Events(
            events=merge_events([result.events for result in found], tolerance=_spacing(times)),
            queries=tuple(params["events"]),
            duration=next((r.duration for r in found if r.duration is not None), None),
            timestamps=tuple(times),
            dropped=sum(result.dropped for result in found),
        )

    def zoom(self, result: Result, params: Mapping[str, Any]) -> Sequence[tuple[float, float]]:
        """Around each event found, padded by two frames' spacing (at least a second) on each side."""
        if not isinstance(result, Events):
            return ()
        pad = max(1.0, 2 * _spacing(result.timestamps))
        end = result.duration if result.duration is not None else float("inf")
        return [(max(0.0, e.start - pad), min(end, e.end + pad)) for e in result.events]

    def zoomed(self, result: Result, closer: Sequence[Result], params: Mapping[str, Any]) -> Result:
        """Each event's times replaced by the closer look's (the same event, overlapping it most)."""
        if not isinstance(result, Events):
            return result
        events = []
        for event, look in zip(result.events, closer, strict=True):
            fine = closest_event(event, look.events) if isinstance(look, Events) else None
            events.append(event if fine is None else dataclasses.replace(fine, label=event.label))
        return dataclasses.replace(result, events=tuple(sorted(events, key=lambda e: e.start)))


def _spacing(times: Sequence[float]) -> float:
    """The usual time between sampled frames (the median gap; 1 s when unknown)."""
    gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return statistics.median(gaps) if gaps else 1.0
