"""What a task is: :class:`Task` (its facts, prompt, grammar and answer reading) and :class:`Answer`.

Every built-in task (``detect``, ``classify``, ``ocr``...) is a :class:`Task` subclass in its own module,
and a user's task is written the same way::

    from dataclasses import dataclass
    import qwen_vlm

    @dataclass(frozen=True, kw_only=True)
    class Count(qwen_vlm.Result):
        count: int | None = None

    class CountTask(qwen_vlm.Task):
        name = "count"
        result = Count
        max_tokens = 64

        def prompt(self, params):
            return f"How many {params['object']} are in this image? Answer with a number only."

        def parse(self, answer):
            return Count(count=int(answer.text.strip()))   # a ValueError marks this image failed

    vlm.run(CountTask(), images, object="cats")

The engine gives a task everything a built-in gets (batches, async, streams, the result store, progress
bars, ``strict=``, Ray, the CLI) and fills the fields every result shares (``text``, ``thinking``,
``model``, ``usage``, ``error``, ``source``). Pure: no transport, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .. import prompts
from ..class_scoring import ClassScoring
from ..constraints import Constraint
from ..errors import OutputParseError, TruncatedOutputError
from ..logprobs import TokenLogprobs
from ..models import ModelInfo
from ..parsing import NoJSONError, TruncatedJSONError, parse_json
from ..results import Result, TextResult
from .coordinates import default_input_size, to_pixels

if TYPE_CHECKING:
    from ..video import VideoClip

__all__ = ["Answer", "Frame", "Task", "Window"]


@dataclass(frozen=True)
class Frame:
    """One image as the model will see it, for a task whose prompt states it (``uses_frame``).

    Attributes:
        image_size: ``(width, height)`` of the original image.
        input_size: ``(width, height)`` the backend will send it at (its resize), or ``None`` if unknown.
        info: The model (family, coordinate convention).
    """

    image_size: tuple[int, int]
    input_size: tuple[int, int] | None
    info: ModelInfo

    @property
    def coordinate_frame(self) -> tuple[int, int]:
        """The frame this model writes coordinates in: the resized size (Qwen2.5-VL) or 1000x1000."""
        if self.info.spec.coordinates == "absolute":
            return self.input_size or default_input_size(self.info.spec, self.image_size)
        return (1000, 1000)


@dataclass(frozen=True)
class Answer:
    """One model answer, as a task's :meth:`Task.parse` receives it.

    Attributes:
        text: The answer, thinking removed.
        params: The call's task parameters, as the task's :meth:`Task.check` returned them.
        info: The model that answered (family, coordinate convention).
        image_size: ``(width, height)`` of the original image (the first, in a group); ``None`` when
            unknown (an image that was never downloaded, or a text-only request).
        thinking: The reasoning text, if any.
        input_size: ``(width, height)`` of the image as the model saw it, where the backend knows it
            (``None``: the family's default resize of ``image_size`` is assumed).
        image_sizes: For a group of images: each one's original size, in order (else ``None``).
        input_sizes: For a group: each image's size as the model saw it, where known.
        video: For a video: its sampled clip (duration and frame times).
        time_offset: For a video: seconds to add to the times the model wrote.
        logprobs: The generated tokens and their log-probabilities, where the backend returned them.
        finish_reason: Why generation stopped (``"length"``: at the token limit).
        scores: Per-class probabilities, where the backend computed them (:meth:`Task.scoring`).
        images: How many images the question was about (more than 1 for an :class:`~qwen_vlm.Images`).
    """

    text: str
    params: Mapping[str, Any] = field(default_factory=dict)
    info: ModelInfo | None = field(default=None, repr=False)
    image_size: tuple[int, int] | None = None
    thinking: str | None = None
    input_size: tuple[int, int] | None = None
    image_sizes: tuple[tuple[int, int], ...] | None = None
    input_sizes: tuple[tuple[int, int] | None, ...] | None = None
    video: VideoClip | None = field(default=None, repr=False)
    time_offset: float = 0.0
    logprobs: TokenLogprobs | None = field(default=None, repr=False)
    finish_reason: str | None = None
    scores: Mapping[str, float] | None = None
    images: int = 1

    @property
    def model(self) -> str:
        """The id of the model that answered (``""`` when unknown)."""
        return self.info.id if self.info is not None else ""

    def json(self) -> Any:
        r"""The JSON in the answer, read as leniently as every built-in task reads it.

        Fences, prose around the JSON, single quotes, trailing commas and Python literals are coped
        with; several values (JSON Lines, ``{...}, {...}``, several lists) become one list; a list cut
        off at the token limit keeps its complete elements.

        Raises:
            TruncatedOutputError: The answer was cut off inside its JSON before any complete element.
            OutputParseError: The answer holds no JSON.
        """
        try:
            return parse_json(self.text)
        except TruncatedJSONError as exc:
            raise TruncatedOutputError(str(exc), self.text) from None
        except NoJSONError as exc:
            raise OutputParseError(str(exc), self.text) from None

    def to_pixels(self, values: Sequence[float], *, image: int = 0) -> tuple[float, ...] | None:
        """A box ``(x1, y1, x2, y2)`` or a point ``(x, y)`` as this model writes them, in original pixels.

        The same rules as ``detect`` and ``point``: absolute pixels of the resized input on
        Qwen2.5-VL, a 0-1000 grid on Qwen2-VL, Qwen3-VL and later; the result is clamped to the image.

        Args:
            values: 4 numbers (a box) or 2 (a point), as the model wrote them.
            image: In a group of images, which one the coordinates are on (0 for the first).

        Returns:
            The box or point in pixels of the original image, or ``None`` when it is unusable
            (degenerate, not finite, or far outside the model's frame): skip that object.

        Raises:
            ValueError: Not 2 or 4 numbers, the model family is unknown, or the image size is unknown.
        """
        if self.info is None:
            raise ValueError("the model is unknown, so its coordinates cannot be converted")
        sizes = self.image_sizes or ((self.image_size,) if self.image_size is not None else ())
        if not 0 <= image < len(sizes) or sizes[image] is None:
            raise ValueError("the image size is unknown, so coordinates cannot be converted")
        seen = self.input_sizes[image] if self.input_sizes and image < len(self.input_sizes) else None
        if image == 0 and seen is None:
            seen = self.input_size
        return to_pixels(values, self.info.spec, sizes[image], seen)


class Task:
    """A task: what is asked about an image, and how its answer becomes a typed result.

    Subclass it and set the class attributes; override :meth:`prompt` and :meth:`parse` (and
    :meth:`check`, :meth:`schema` where the task has parameters or a JSON answer). Register it with
    :func:`qwen_vlm.register_task` to run it by name; ``vlm.run(MyTask(), images, **params)`` works
    without registering.

    Attributes:
        name: The task's unique name (``run``, the result store's key, the CLI, Ray, evaluation).
        result: Its result type, a :class:`~qwen_vlm.Result` subclass (a frozen, keyword-only dataclass
            whose fields all have defaults).
        max_tokens: Default token budget (raised to 4096 when thinking is on).
        needs_geometry: The answer holds coordinates: the image is always read so that its size is known.
        accepts_video: The task takes a :class:`~qwen_vlm.Video` as well as images.
        requires_video: The task takes only videos.
        aliases: Other names the task answers to.
        method: The client method's name, used in messages (default: ``name``).
        call_options: Task-specific call options the task honours (``"max_objects"``,
            ``"min_confidence"``: detection and pointing).
        uses_frame: The prompt or system message depends on the image as the model sees it (a screen
            size stated in the prompt): the engine reads the image first and calls :meth:`prompt_for`
            and :meth:`system_for` with its :class:`Frame`, image by image.
        cli_argument: A parameter the ``qwen-vlm`` command takes as its last positional argument
            (``qwen-vlm ground shot.png "the Save button"``).
        evaluated_as: What :func:`~qwen_vlm.evaluate` scores the answers against: ``"boxes"`` (mAP),
            ``"label"``, ``"labels"`` (accuracy, F1) or ``"text"`` (CER). ``None``: from the result
            type (Detections, Classification, MultiLabelClassification); free text is not scored.
        windows: A long video can be asked about in overlapping windows (``window=``), the windows'
            results combined by :meth:`merge`.
        refines: ``refine=True`` is honoured: :meth:`zoom` names the spans to look at again more
            closely and :meth:`zoomed` puts the closer looks' answers in the result.
        stop_on_repetition: Long answers that can fall into a loop (a document page): a local
            generation stops as soon as the answer certainly repeats itself
            (:func:`qwen_vlm.parsing.repetition`) instead of running to ``max_tokens``.
    """

    name: ClassVar[str] = ""
    result: ClassVar[type[Result]] = TextResult
    max_tokens: ClassVar[int] = 1024
    needs_geometry: ClassVar[bool] = False
    accepts_video: ClassVar[bool] = False
    requires_video: ClassVar[bool] = False
    aliases: ClassVar[tuple[str, ...]] = ()
    method: ClassVar[str] = ""
    call_options: ClassVar[frozenset[str]] = frozenset()
    evaluated_as: ClassVar[str | None] = None
    uses_frame: ClassVar[bool] = False
    cli_argument: ClassVar[str | None] = None
    windows: ClassVar[bool] = False
    refines: ClassVar[bool] = False
    stop_on_repetition: ClassVar[bool] = False

    @property
    def label(self) -> str:
        """The name used in messages and progress bars (the method name for built-ins)."""
        return self.method or self.name

    def check(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalise the call's task parameters, before any image is read or sent.

        The default accepts any parameters unchanged. Raise :class:`~qwen_vlm.ConfigurationError` (or
        ``ValueError``/``TypeError``, which become one) for a missing or malformed parameter. The
        returned mapping is what :meth:`prompt`, :meth:`schema` and ``Answer.params`` see, and it is part
        of the result store's key, so keep it JSON-serialisable.
        """
        return dict(params)

    def check_for_parse(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters :func:`qwen_vlm.parse` reads text with (default: :meth:`check`)."""
        return self.check(params)

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The text sent after the image (``params``: the checked task parameters)."""
        raise NotImplementedError(f"task {self.name!r} defines no prompt")

    def system(self, params: Mapping[str, Any]) -> str | None:
        """A system message sent before the user turn (``None``, the default: the model's own).

        For a model fine-tuned with its own system prompt, or tool definitions a model was trained on.
        """
        return None

    def prompt_for(self, params: Mapping[str, Any], frame: Frame) -> str:
        """The prompt for one image as the model sees it (``uses_frame`` tasks; default :meth:`prompt`)."""
        return self.prompt(params)

    def system_for(self, params: Mapping[str, Any], frame: Frame) -> str | None:
        """The system message for one image as the model sees it (``uses_frame``; default :meth:`system`)."""
        return self.system(params)

    def group_prompt(self, params: Mapping[str, Any], images: int) -> str:
        """The text sent after a group of ``images`` images (default: "this image" → "these N images")."""
        return prompts.for_group(self.prompt(params), images)

    def schema(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """A JSON schema the answer must follow, or ``None`` for free text.

        Sent to servers as ``response_format`` and, on the local backend, decoded under as a grammar
        (unless ``constrained=False``).
        """
        return None

    def constraint(
        self, params: Mapping[str, Any], info: ModelInfo, *, max_objects: int | None, images: int
    ) -> Constraint | None:
        """The grammar the answer is decoded under (default: :meth:`schema` as a JSON document).

        The built-in structured tasks return their own shapes (bounded coordinates, class enums).
        """
        schema = self.schema(params)
        return Constraint("json", schema=schema) if schema is not None else None

    def scoring(self, params: Mapping[str, Any]) -> ClassScoring | None:
        """Classes a backend that can score answers should rate (``None``: no scores)."""
        return None

    def parse(self, answer: Answer) -> Result:
        """Read the model's answer into the task's result.

        Return a result with the task's own fields (the engine fills ``text``, ``thinking``, ``model``,
        ``usage``, ``source``...). Raise :class:`~qwen_vlm.OutputParseError`, ``ValueError``,
        ``KeyError`` or ``TypeError`` when the answer cannot be read: that image's result is marked
        failed (``error`` says why, ``text`` kept), never the batch.
        """
        raise NotImplementedError(f"task {self.name!r} defines no parse")

    def empty(self, answer: Answer) -> Result:
        """The result of an image whose answer could not be read (the engine sets its ``error``).

        The default is the result type with its defaults; override it when the failed result should
        still carry something of the call (the classes asked for, the image size...).
        """
        return self.result()

    def merge(self, parts: Sequence[Window], params: Mapping[str, Any]) -> Result:
        """One result from a long video's windows, each answered on its own (``windows = True``).

        Return the task's own fields; the engine fills ``text`` (each window's answer under its times),
        ``usage`` (summed), ``error`` (a window that failed, named), ``model`` and ``source``.
        """
        raise NotImplementedError(f"task {self.name!r} cannot combine a video's windows")

    def zoom(self, result: Result, params: Mapping[str, Any]) -> Sequence[tuple[float, float]]:
        """The spans of the video (seconds) to ask about again at a higher frame rate (``refine=True``)."""
        return ()

    def zoomed(self, result: Result, closer: Sequence[Result], params: Mapping[str, Any]) -> Result:
        """``result`` with what the closer looks found (``closer[k]`` answers ``zoom(result)[k]``)."""
        return result

    def __repr__(self) -> str:
        return f"<task {self.name!r}>"


@dataclass(frozen=True)
class Window:
    """One window of a long video and its result.

    Attributes:
        start: Where the window starts, in seconds of the video.
        end: Where it ends, in seconds of the video.
        result: Its result (times already in the whole video's time).
    """

    start: float
    end: float
    result: Result
