"""Classification results: one label (:class:`Classification`), or a subset of the classes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .base import Result, escape_html

__all__ = ["Classification", "MultiLabelClassification"]


_CHOSEN, _OTHER = "background:#1f77b4;color:white", "background:#eee"


def _chips(classes: Sequence[str], chosen: Sequence[str | None], scores: Mapping[str, float] | None) -> str:
    """The classes as HTML chips, the chosen ones highlighted, each with its score when known."""
    return "".join(
        f"<span style='padding:1px 6px;margin:2px;border-radius:8px;"
        f"{_CHOSEN if c in chosen else _OTHER}'>{escape_html(c)}{_score(scores, c)}</span>"
        for c in classes
    )


def _score(scores: Mapping[str, float] | None, label: str) -> str:
    if scores is None or label not in scores:
        return ""
    return f" <small>{scores[label]:.2f}</small>"


@dataclass(frozen=True, kw_only=True)
class Classification(Result):
    """A single-label classification.

    Attributes:
        label: One of the given classes, or ``None`` (then ``error`` says why).
        classes: The classes the model chose from.
        scores: Local backend: each class's probability as the answer — the likelihood of the model
            answering exactly ``{"label": "<class>"}``, normalised over the classes (they sum to 1;
            thinking not included). ``None`` where the backend cannot compute them (remote servers).
            ``label`` is what the model generated; it is usually, not always, the top score.
    """

    label: str | None = None
    classes: tuple[str, ...] = ()
    scores: Mapping[str, float] | None = None

    def __repr__(self) -> str:
        return f"Classification(label={self.label!r}{self._tail()}"

    def _repr_html_(self) -> str:
        chips = _chips(self.classes, (self.label,), self.scores)
        return f"<div><b>{escape_html(str(self.label))}</b> <span>{chips}</span>{self._html_tail()}</div>"


@dataclass(frozen=True, kw_only=True)
class MultiLabelClassification(Result):
    """A multi-label classification.

    Attributes:
        labels: The subset of ``classes`` present in the image, in the order of ``classes``.
        classes: The classes the model chose from.
        scores: Local backend: for each class on its own, the probability that the model answers yes
            (rather than no) to ``Does this image contain "<class>"? Answer yes or no.`` — independent
            per class, so they do not sum to 1. ``None`` where the backend cannot compute them.
    """

    labels: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    scores: Mapping[str, float] | None = None

    def __repr__(self) -> str:
        return f"MultiLabelClassification(labels={list(self.labels)!r}{self._tail()}"

    def _repr_html_(self) -> str:
        chips = _chips(self.classes, self.labels, self.scores)
        return f"<div>{chips}{self._html_tail()}</div>"
