"""A call's inputs, prepared and checked in one pass before anything is sent: images, groups, videos.

:func:`read_inputs` is the only entry: it tells one input from a list, validates every image of every
group (or checks its URL), decodes and samples every video, reads the pixels the task or backend needs
now, and checks the backend's and task's limits — top to bottom, calling only down into the input
modules (``groups``, ``image_refs``, ``images``, ``video``), so a bad input fails before any network call
or model load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..backends import Capabilities
from ..errors import ConfigurationError, ImageError
from ..groups import Images, is_single_input
from ..image_refs import ImageRef, prepare_images
from ..tasks import Task
from ..video import Video, read_video
from ..video_budget import VideoBudget

__all__ = ["Inputs", "check_inputs", "prepare_inputs", "read_inputs"]


@dataclass(frozen=True)
class Inputs:
    """A call's inputs, read and checked.

    Attributes:
        items: Every input as the user gave it, in order (one for a single input).
        refs: One :class:`ImageRef` per input (its first image; an unreadable input's carries its error).
        members: Every input's images, in order (one, or a group's).
        single: The call was given one input (one result), not a list.
    """

    items: list[Any]
    refs: list[ImageRef]
    members: list[list[ImageRef]]
    single: bool


def read_inputs(
    images: Any, task: Task, capabilities: Capabilities, *, strict: bool, budget: VideoBudget | None = None
) -> Inputs:
    """Every input of a call read and checked, before anything is sent or loaded.

    In a list, an unreadable image is that image's failed result (unless ``strict``, which refuses to
    send anything); a single unreadable image raises.

    Raises:
        ConfigurationError: Not an image or a list; a group or video the backend or task cannot take.
        ImageError: An unreadable single input (or any, with ``strict``).
    """
    single = is_single_input(images)
    if single:
        items: list[Any] = [images]
    elif isinstance(images, (list, tuple)):
        items = list(images)
    else:
        raise ConfigurationError(
            f"expected an image or a list of images, got {type(images).__name__} (several images in one "
            "question: Images(a, b))"
        )
    if budget is not None:
        for video in (item for item in items if isinstance(item, Video)):
            budget.check(video.max_frames, video.max_pixels, what=repr(video))
    keep_going = not single and not strict
    refs, members = prepare_inputs(
        items, single=single, keep_going=keep_going, sampler=capabilities.sample_video
    )
    if task.needs_geometry or task.uses_frame or not capabilities.accepts_urls:
        _download(refs, members, keep_going)
    check_inputs(capabilities, task, refs, members)
    return Inputs(items, refs, members, single)


def _download(refs: list[ImageRef], members: list[list[ImageRef]], keep_going: bool) -> None:
    """Read every image's pixels now (URLs downloaded), so a bad one fails before anything is sent.

    Raises:
        ImageError: For the first unreadable image, unless ``keep_going`` (then it fails that input).
    """
    for ref, group in zip(refs, members, strict=True):
        for member in group if ref.error is None else ():
            try:
                member.pil()
            except ImageError as exc:
                if not keep_going:
                    exc.whole_call = True
                    raise
                ref.error = exc
                break


def prepare_inputs(
    items: Sequence[Any], *, single: bool, keep_going: bool, sampler: Any = None
) -> tuple[list[ImageRef], list[list[ImageRef]]]:
    """Validate every input (every image of every group) before anything is sent or loaded.

    Returns:
        ``(refs, members)``: one :class:`ImageRef` per input — its first image, carrying the input's
        position and, for an input that cannot be read, its error — and every input's images in order.

    Raises:
        ImageError: Naming the first bad input (unless ``keep_going``); for a group, which image of it.
    """
    if not any(isinstance(item, (Images, Video)) for item in items):
        plain = prepare_images(items, single=single, keep_going=keep_going)
        return plain, [[ref] for ref in plain]
    refs: list[ImageRef] = []
    members: list[list[ImageRef]] = []
    for i, item in enumerate(items):
        index = None if single else i
        if isinstance(item, Video):
            refs.append(_video_ref(item, index, keep_going, sampler))
            members.append([refs[-1]])
            continue
        images = list(item) if isinstance(item, Images) else [item]
        group = prepare_images(images, single=True, keep_going=True)
        for ref in group:
            ref.index = index
        bad = next(((k, ref.error) for k, ref in enumerate(group) if ref.error is not None), None)
        if bad is not None:
            k, error = bad
            if isinstance(item, Images):
                reason = getattr(error, "reason", str(error))
                error = ImageError(f"image {k + 1} of {len(images)} in the group: {reason}", index)
            error.index = index
            if not keep_going:
                raise error
            error.whole_call = False
            group = [ImageRef(index, error=error)]
        refs.append(group[0])
        members.append(group)
    return refs, members


def _video_ref(video: Any, index: int | None, keep_going: bool, sampler: Any = None) -> ImageRef:
    """A video decoded and sampled now (a bad one fails before anything is sent), as its first frame's ref.

    The sampled clip rides along in ``ref.clip``.
    """
    try:
        clip = read_video(video, index, sampler)
    except ImageError as exc:
        exc.index = index
        if not keep_going:
            raise
        exc.whole_call = False
        return ImageRef(index, error=exc)
    video._clip = clip
    ref = ImageRef(index, _image=clip.frames[0], _size=clip.frames[0].size)
    ref.clip = clip
    return ref


def check_inputs(
    capabilities: Capabilities, task: Task, refs: list[ImageRef], members: list[list[ImageRef]]
) -> None:
    """Refuse, before anything is sent, groups the backend cannot take and videos the task cannot.

    Raises:
        ConfigurationError: A group on a backend without groups, a group over the server's
            ``max_images_per_request``, a video for a task that takes images only, or a task that
            takes only videos (``locate_events``) without one.
    """
    limit = capabilities.max_images_per_request
    largest = max((len(group) for group in members), default=1)
    sent = capabilities.video_frames_sent
    if sent is not None:
        frames = max((sent(ref.clip) for ref in refs if ref.clip is not None), default=0)
        if limit is not None and frames > limit:
            raise ConfigurationError(
                f"a video of {frames} sampled frames goes to this server as {frames} images, more than it "
                f"takes in one request (max_images_per_request={limit}); lower Video(max_frames=...) or fps"
            )
    if largest > 1 and not capabilities.image_groups:
        raise ConfigurationError("this backend cannot take several images in one request")
    if limit is not None and largest > limit:
        raise ConfigurationError(
            f"a group of {largest} images is more than this server takes in one request "
            f"(max_images_per_request={limit}; vLLM: --limit-mm-per-prompt); split the group or raise "
            "the limit"
        )
    if not task.accepts_video and any(ref.clip is not None for ref in refs):
        raise ConfigurationError(
            f"{task.label} does not take a Video; videos go to prompt, ask, caption and locate_events"
        )
    if task.requires_video and any(ref.clip is None and ref.error is None for ref in refs):
        raise ConfigurationError(f"{task.label} needs a Video (a file, URL or frames): Video('clip.mp4')")
