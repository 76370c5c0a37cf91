"""Temporal grounding (``locate_events``): when each event happens in a video, in seconds (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import prompts
from ..constraints import Constraint
from ..models import ModelInfo
from ..results import Events, Result
from .base import Answer
from .params import BuiltinTask, check_classes, with_error
from .temporal import parse_events

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
