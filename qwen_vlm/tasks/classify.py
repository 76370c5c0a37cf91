"""Classification tasks: one class (``classify``) or every class present (``classify_multi``) (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from .. import prompts
from ..class_scoring import ClassScoring
from ..constraints import Constraint
from ..models import ModelInfo
from ..results import Classification, MultiLabelClassification, Result
from .base import Answer
from .classification import match_class, match_classes
from .params import BuiltinTask, check_classes, with_error

__all__ = ["ClassifyMultiTask", "ClassifyTask", "single_label_answer"]


def single_label_answer(label: str) -> str:
    """The exact answer text the classification prompt asks for: ``{"label": "<class>"}``."""
    return '{"label": ' + json.dumps(label, ensure_ascii=False) + "}"


class ClassifyTask(BuiltinTask):
    """Pick the one class that fits the image (``"classification"``)."""

    name = "classification"
    method = "classify"
    aliases: ClassVar[tuple[str, ...]] = ("classify",)
    result: ClassVar[type[Result]] = Classification
    max_tokens = 256
    parameters: ClassVar[tuple[str, ...]] = ("classes",)

    def checked(self, params: Mapping[str, Any], *, parsing: bool) -> dict[str, Any]:
        """``classes``: a non-empty list of class names (required)."""
        return {"classes": check_classes(params.get("classes"), self.label, required=True)}

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The classification prompt naming every class."""
        return prompts.classify_prompt(params["classes"])

    def constraint(
        self, params: Mapping[str, Any], info: ModelInfo, *, max_objects: int | None, images: int
    ) -> Constraint | None:
        """``{"label": <one of the classes>}``."""
        return Constraint("label", classes=params["classes"], name=self.label)

    def scoring(self, params: Mapping[str, Any]) -> ClassScoring | None:
        """Each class's answer, normalised over the classes."""
        classes = params["classes"]
        return ClassScoring(classes, answers=tuple(single_label_answer(c) for c in classes))

    def empty(self, answer: Answer) -> Result:
        """No label; the classes and any scores kept."""
        return Classification(classes=answer.params["classes"], scores=_scores(answer))

    def parse(self, answer: Answer) -> Result:
        """The class the answer names (several JSON documents must agree)."""
        label, error = match_class(answer.text, answer.params["classes"])
        result = Classification(label=label, classes=answer.params["classes"], scores=_scores(answer))
        return with_error(result, error, answer.text)


class ClassifyMultiTask(ClassifyTask):
    """Pick every class present in the image (``"multi-label-classification"``)."""

    name = "multi-label-classification"
    method = "classify_multi"
    aliases = ("classify_multi", "classify-multi")
    result = MultiLabelClassification
    max_tokens = 512

    def prompt(self, params: Mapping[str, Any]) -> str:
        """The multi-label prompt naming every class."""
        return prompts.classify_multi_prompt(params["classes"])

    def constraint(
        self, params: Mapping[str, Any], info: ModelInfo, *, max_objects: int | None, images: int
    ) -> Constraint | None:
        """A list of distinct classes."""
        return Constraint("labels", classes=params["classes"], name=self.label)

    def scoring(self, params: Mapping[str, Any]) -> ClassScoring | None:
        """A yes/no question per class, judged independently."""
        classes = params["classes"]
        return ClassScoring(classes, questions=tuple(prompts.presence_prompt(c) for c in classes))

    def empty(self, answer: Answer) -> Result:
        """No labels; the classes and any scores kept."""
        return MultiLabelClassification(classes=answer.params["classes"], scores=_scores(answer))

    def parse(self, answer: Answer) -> Result:
        """The union of the classes the answer names."""
        labels, error = match_classes(answer.text, answer.params["classes"])
        result = MultiLabelClassification(
            labels=labels, classes=answer.params["classes"], scores=_scores(answer)
        )
        return with_error(result, error, answer.text)


def _scores(answer: Answer) -> dict[str, float] | None:
    return dict(answer.scores) if answer.scores is not None else None
