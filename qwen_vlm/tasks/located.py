"""Located tasks: boxes (``detect``) and points (``point``) in pixels of the original image (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from .. import prompts
from ..constraints import MAX_OBJECTS, Constraint
from ..errors import OutputParseError
from ..models import FamilySpec, ModelInfo
from ..results import Detections, Points, Result
from .base import Answer
from .grounding import parse_boxes, parse_group, parse_points
from .params import BuiltinTask, check_classes, with_error

__all__ = ["DetectTask", "PointTask"]

_Parser = Callable[..., tuple[tuple[Any, ...], OutputParseError | None, int]]


class DetectTask(BuiltinTask):
    """Detect objects as boxes (``"object-detection"``); ``classes`` optional (free labels)."""

    name = "object-detection"
    method = "detect"
    aliases: ClassVar[tuple[str, ...]] = ("detect", "detection")
    result: ClassVar[type[Result]] = Detections
    max_tokens = 2048
    needs_geometry = True
    parameters: ClassVar[tuple[str, ...]] = ("classes",)
    call_options = frozenset({"max_objects", "min_confidence"})
    shape: ClassVar[str] = "boxes"

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``classes``: what to look for (optional)."""
        return {"classes": check_classes(params.get("classes"), self.label, required=False)}

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The detection prompt (the classes, or prominent objects)."""
        return prompts.detect_prompt(params["classes"])

    def group_prompt(self, params: Mapping[str, Any], images: int) -> str:
        """Each object also names the image it is on."""
        return prompts.group_detect_prompt(params["classes"], images)

    def constraint(
        self, params: Mapping[str, Any], info: ModelInfo, *, max_objects: int | None, images: int
    ) -> Constraint | None:
        """A bounded list of objects; none for Qwen2-VL, whose answers are box tokens, not JSON."""
        if info.spec.box_tokens:
            return None
        return Constraint(
            self.shape,  # type: ignore[arg-type]
            classes=params.get("classes"),
            coordinates=info.spec.coordinates,
            max_objects=max_objects or MAX_OBJECTS,
            images=images,
            name=self.label,
        )

    def _parser(self) -> _Parser:
        return parse_boxes

    def _build(self, answer: Answer, items: tuple[Any, ...], dropped: int) -> Result:
        located = _located(answer, dropped)
        return Detections(detections=items, **located)

    def empty(self, answer: Answer) -> Result:
        """Nothing found; the image size and classes kept."""
        return self._build(answer, (), 0)

    def parse(self, answer: Answer) -> Result:
        """Every object of every JSON document (or box token), converted to original pixels."""
        info, text = answer.info, answer.text
        if answer.image_size is None or info is None:
            unknown = OutputParseError("the image size is unknown, so coordinates cannot be converted", text)
            return with_error(self.empty(answer), unknown, text)
        spec: FamilySpec = info.spec
        error: OutputParseError | None
        if answer.images > 1 and answer.image_sizes is not None:
            seen = answer.input_sizes or (None,) * len(answer.image_sizes)
            items, error, dropped = parse_group(text, self._parser(), spec, answer.image_sizes, seen)
        else:
            items, error, dropped = self._parser()(text, spec, answer.image_size, answer.input_size)
        return with_error(self._build(answer, items, dropped), error, text)


class PointTask(DetectTask):
    """Locate each instance of ``classes`` as a point (``"point"``)."""

    name = "point"
    method = "point"
    aliases = ()
    result = Points
    shape = "points"

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``classes``: what to point at (required, except to read text you already have)."""
        return {"classes": check_classes(params.get("classes"), self.label, required=not parsing)}

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The pointing prompt."""
        return prompts.point_prompt(params["classes"])

    def group_prompt(self, params: Mapping[str, Any], images: int) -> str:
        """Each point also names the image it is on."""
        return prompts.group_point_prompt(params["classes"], images)

    def _parser(self) -> _Parser:
        return parse_points

    def _build(self, answer: Answer, items: tuple[Any, ...], dropped: int) -> Result:
        return Points(points=items, **_located(answer, dropped))


def _located(answer: Answer, dropped: int) -> dict[str, Any]:
    group = answer.image_sizes if answer.images > 1 else None
    return {
        "image_size": answer.image_size,
        "classes": answer.params.get("classes"),
        "dropped": dropped,
        "image_sizes": group,
    }
