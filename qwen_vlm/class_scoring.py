"""What a backend that can score answers is asked to rate: each class of a classification (pure data).

A task that wants class probabilities (``classify``, ``classify_multi``) says here how each class is
scored; a backend that can compute teacher-forced likelihoods (the local one) fills
:attr:`~qwen_vlm.backends.GenerationResponse.scores`, others ignore it. The backend reads only this:
it knows nothing about tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClassScoring"]


@dataclass(frozen=True)
class ClassScoring:
    """How each class is scored.

    Two modes:

    * **exclusive** (``answers`` given): after the request's own prompt, the likelihood of the answer
      text naming each class (then the end of the turn); the scores are those likelihoods normalised
      over the classes (they sum to 1).
    * **independent** (``questions`` given): for each class its own yes/no question; the score is
      P(yes) / (P(yes) + P(no)), the forms of ``yes`` against the forms of ``no``.

    Attributes:
        classes: The classes, in order (the scores' keys).
        answers: Exclusive mode: the exact answer text naming each class, in the order of ``classes``.
        questions: Independent mode: the question asked about each class, in the order of ``classes``.
        yes: The answer forms counted as yes.
        no: The answer forms counted as no.
    """

    classes: tuple[str, ...]
    answers: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    yes: tuple[str, ...] = ("Yes", "yes")
    no: tuple[str, ...] = ("No", "no")

    @property
    def exclusive(self) -> bool:
        """Whether the classes exclude each other (one answer per class, normalised together)."""
        return bool(self.answers)
