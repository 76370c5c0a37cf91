"""A long video asked about in parts (``window=``), and events looked at again closer (``refine=True``).

A call with ``window=`` becomes one call over every window of every video (batched and concurrent
like any list of inputs, each window its own entry in the result store); each video's windows'
results are then combined by the task's :meth:`~qwen_vlm.Task.merge`, in the whole video's time. With
``refine=True`` the task's :meth:`~qwen_vlm.Task.zoom` names spans to look at again at a higher frame
rate — one more call over all of them — and :meth:`~qwen_vlm.Task.zoomed` puts what they found in the
result ("scan, then zoom"). The clients run the calls; this module plans them and combines results.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BatchError, ConfigurationError, ImageError
from ..options import check_bool, check_number
from ..results import Result, Usage
from ..tasks import Task, Window
from ..video import Video, VideoClip, video_duration
from .call import CallOptions

__all__ = ["WINDOW_OPTIONS", "WindowSettings", "Windowed", "plan_windows", "window_settings"]

#: The call options this module takes out of a call before it is planned.
WINDOW_OPTIONS = ("window", "window_overlap", "refine")
#: Fastest frame rate a closer look samples at.
_FINE_FPS_LIMIT = 60.0


@dataclass(frozen=True)
class WindowSettings:
    """A call's ``window``, ``window_overlap`` and ``refine``, checked."""

    window: float | str | None
    overlap: float | None
    refine: bool


def window_settings(task: Task, options: CallOptions) -> tuple[WindowSettings | None, CallOptions]:
    """The call's window options, checked, and the rest of its options (``None``: none given).

    Raises:
        ConfigurationError: A malformed value, or one the task cannot honour.
    """
    rest: dict[str, Any] = dict(options)
    given = {name: rest.pop(name) for name in WINDOW_OPTIONS if name in rest}
    window = given.get("window")
    refine = bool(check_bool("refine", given.get("refine")))
    if window is None and not refine:
        if given.get("window_overlap") is not None:
            raise ConfigurationError("window_overlap= needs window= (the length of each part, in seconds)")
        return None, rest  # type: ignore[return-value]
    if window is not None and window != "auto":
        check_number("window", window, exclusive_minimum=True)
    overlap = check_number("window_overlap", given.get("window_overlap"))
    if window is not None and not task.windows:
        raise ConfigurationError(f"{task.label} cannot ask about a video in windows (window=)")
    if refine and not task.refines:
        raise ConfigurationError(f"refine=True applies to locate_events, not {task.label}")
    if isinstance(window, (int, float)) and overlap is not None and overlap >= window:
        raise ConfigurationError(f"window_overlap={overlap:g} must be shorter than window={window:g}")
    return WindowSettings(window, overlap, refine), rest  # type: ignore[return-value]


def spans(start: float, end: float, window: float, overlap: float) -> list[tuple[float, float]]:
    """Windows of ``window`` seconds covering ``start``–``end``, each overlapping the next by ``overlap``."""
    if end - start <= window:
        return [(start, end)]
    step = window - overlap
    count = math.ceil((end - start - overlap) / step)
    return [(start + k * step, end) if k == count - 1 else (start + k * step, start + k * step + window)
            for k in range(count)]  # fmt: skip


@dataclass
class Windowed:
    """A call over videos' windows: what to send, and how each video's results combine.

    Attributes:
        task: The task.
        params: Its checked parameters.
        items: Every window to ask about (and every input not split), in order: one call's inputs.
        owners: For each item: the input it belongs to and its span (``None``: the input whole).
        inputs: The call's inputs as given.
        single: The call was given one input.
        strict: Raise failures after combining (the windows' call itself never raises them).
        settings: The window options.
        options: The options the windows' call runs with.
    """

    task: Task
    params: dict[str, Any]
    items: list[Any]
    owners: list[tuple[int, tuple[float, float] | None]]
    inputs: list[Any]
    single: bool
    strict: bool
    settings: WindowSettings
    options: CallOptions

    def merge(self, results: list[Result]) -> list[Result]:
        """Each input's result from its windows' results (``results`` answers ``items``)."""
        combined: list[Result] = []
        for i, original in enumerate(self.inputs):
            mine = [(span, r) for (owner, span), r in zip(self.owners, results, strict=True) if owner == i]
            if len(mine) == 1:
                combined.append(dataclasses.replace(mine[0][1], source=original))
                continue
            parts = [Window(span[0], span[1], r) for span, r in mine if span is not None]
            combined.append(_combined(self.task, self.params, parts, original))
        return combined

    def zoom(self, results: list[Result]) -> tuple[list[Any], list[int]] | None:
        """The closer looks ``refine=True`` asks for: part videos, and the result each belongs to."""
        if not self.settings.refine:
            return None
        items: list[Any] = []
        owners: list[int] = []
        for i, (original, result) in enumerate(zip(self.inputs, results, strict=True)):
            if not isinstance(original, Video) or result.error is not None:
                continue
            for start, end in self.task.zoom(result, self.params):
                items.append(_closer(original, start, end))
                owners.append(i)
        return (items, owners) if items else None

    def zoomed(self, results: list[Result], closer: list[Result], owners: list[int]) -> list[Result]:
        """Each result with its closer looks' findings (``closer[k]`` belongs to ``results[owners[k]]``)."""
        out = list(results)
        for i in sorted(set(owners)):
            looks = [r for owner, r in zip(owners, closer, strict=True) if owner == i]
            refined = self.task.zoomed(results[i], looks, self.params)
            out[i] = _shared(
                refined,
                [results[i], *looks],
                text=results[i].text + "\n\n" + _joined("closer look", looks),
                error=results[i].error,
                exception=results[i].exception,
                source=results[i].source,
            )
        return out

    def finish(self, results: list[Result]) -> Any:
        """The call's answer: one result or a list; with ``strict``, failures raised."""
        if self.strict:
            failed = [i for i, r in enumerate(results) if r.exception is not None]
            if failed and self.single:
                raise results[0].exception  # type: ignore[misc]
            if failed:
                exceptions = [results[i].exception for i in failed]
                raise BatchError(results, failed, [e for e in exceptions if e is not None])
        return results[0] if self.single else results


def plan_windows(
    task: Task,
    params: dict[str, Any],
    inputs: list[Any],
    single: bool,
    settings: WindowSettings,
    options: CallOptions,
) -> Windowed:
    """Every video of a call split into windows (a video that cannot be read is sent whole, to fail).

    Raises:
        VideoError: A single video that cannot be read.
    """
    items: list[Any] = []
    owners: list[tuple[int, tuple[float, float] | None]] = []
    for i, item in enumerate(inputs):
        parts = _parts(item, settings, None if single else i) if settings.window is not None else None
        if parts is None:
            items.append(item)
            owners.append((i, None))
            continue
        for start, end in parts:
            items.append(item.part(start, end) if len(parts) > 1 else item)
            owners.append((i, (start, end)))
    inner = {**options, "strict": False}
    strict = bool(options.get("strict"))
    return Windowed(task, params, items, owners, inputs, single, strict, settings, inner)  # type: ignore[arg-type]


def _parts(item: Any, settings: WindowSettings, index: int | None) -> list[tuple[float, float]] | None:
    """An input's windows (``None``: not a video, or one that cannot be read: it is sent whole)."""
    if not isinstance(item, Video):
        return None
    try:
        length = video_duration(item, index)
    except ImageError:
        if index is None:
            raise
        return None
    window = item.max_frames / item.fps if settings.window == "auto" else float(settings.window)  # type: ignore[arg-type]
    if window < 2 / item.fps:  # a window of a millionth of a second made millions of windows
        raise ConfigurationError(
            f"window={window:g} s holds fewer than the 2 frames a video request needs at fps={item.fps:g}; "
            f"use window={2 / item.fps:g} or more"
        )
    overlap = settings.overlap if settings.overlap is not None else window / 10
    if overlap >= window:
        raise ConfigurationError(f"window_overlap={overlap:g} must be shorter than the window ({window:g} s)")
    end = min(length, item.end) if item.end is not None else length
    return spans(item.start, end, window, overlap)


def _closer(video: Video, start: float, end: float) -> Video:
    """``start``–``end`` of ``video`` at four times its frame rate (within its frame budget)."""
    return Video(
        video.source,
        fps=min(_FINE_FPS_LIMIT, video.fps * 4),
        max_frames=video.max_frames,
        timestamps=video.timestamps,
        max_pixels=video.max_pixels,
        start=start,
        end=end,
    )


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:04.1f}" if hours else f"{minutes}:{rest:04.1f}"


def _joined(what: str, results: Sequence[Result], parts: Sequence[Window] | None = None) -> str:
    """Each answer under the times it covers."""
    blocks = []
    for k, result in enumerate(results):
        clip = getattr(result.source, "_clip", None)
        if parts is not None:
            span = f"{_clock(parts[k].start)}-{_clock(parts[k].end)}"
        elif clip is not None:
            span = f"{_clock(clip.start)}-{_clock(clip.end if clip.end is not None else clip.duration)}"
        else:
            span = "?"
        blocks.append(f"[{what} {k + 1}: {span}]\n{result.text}")
    return "\n\n".join(blocks)


def _usage(results: Sequence[Result]) -> Usage | None:
    """The results' usage summed (``None`` when none reports any)."""
    found = [r.usage for r in results if r.usage is not None]
    if not found:
        return None

    def total(name: str, default: Any = None) -> Any:
        values = [getattr(u, name) for u in found if getattr(u, name) is not None]
        return sum(values) if values else default

    return Usage(
        prompt_tokens=total("prompt_tokens", 0),
        completion_tokens=total("completion_tokens", 0),
        total_tokens=total("total_tokens", 0),
        reasoning_tokens=total("reasoning_tokens"),
        cost=total("cost"),
        video_frames=total("video_frames"),
        video_pixels=total("video_pixels"),
    )


def _shared(result: Result, parts: Sequence[Result], **fields: Any) -> Result:
    """``result`` with the fields every result shares filled from ``parts``."""
    reasons = [r.finish_reason for r in parts]
    return dataclasses.replace(
        result,
        model=next((r.model for r in parts if r.model), ""),
        usage=_usage(parts),
        finish_reason="length" if "length" in reasons else next((r for r in reasons if r), None),
        **fields,
    )


def _combined(task: Task, params: dict[str, Any], parts: list[Window], original: Any) -> Result:
    """One input's result from its windows' (the task's own fields from :meth:`Task.merge`)."""
    results = [part.result for part in parts]
    failures = [(k, part) for k, part in enumerate(parts) if part.result.error is not None]
    error = "; ".join(
        f"window {k + 1} of {len(parts)} ({part.start:.1f}-{part.end:.1f} s): {part.result.error}"
        for k, part in failures
    )
    try:
        merged = task.merge(parts, params)
    except Exception as exc:  # a task's merge must never lose the windows' answers
        merged, error = task.result(), error or f"{task.label} could not combine its windows: {exc!r}"
    thinking = [r.thinking for r in results if r.thinking]
    _keep_frames(original, parts)
    return _shared(
        merged,
        results,
        text=_joined("window", results, parts),
        thinking="\n\n".join(thinking) if thinking else None,
        error=error or None,
        exception=failures[0][1].result.exception if failures else None,
        source=original,
    )


def _keep_frames(original: Any, parts: Sequence[Window]) -> None:
    """Give the whole video the frames its windows saw (for drawing the combined result)."""
    clips = [getattr(part.result.source, "_clip", None) for part in parts]
    if not isinstance(original, Video) or not clips or any(c is None for c in clips):
        return
    seen: dict[float, tuple[Any, int]] = {}
    for clip in clips:
        for frame, time, index in zip(clip.frames, clip.timestamps, clip.indices, strict=True):  # type: ignore[union-attr]
            seen.setdefault(time, (frame, index))
    times = sorted(seen)
    first: VideoClip = clips[0]  # type: ignore[assignment]
    original._clip = dataclasses.replace(
        first,
        frames=tuple(seen[t][0] for t in times),
        timestamps=tuple(times),
        indices=tuple(seen[t][1] for t in times),
        start=original.start,
        end=original.end,
    )
