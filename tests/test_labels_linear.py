"""Label mentions: the near-linear reader finds exactly what the former quadratic one found.

``tests/data/reference_labels.py`` is the former ``find_mentions`` (every pair of labels compared, every
label searched); on random labels and texts made to overlap (nested labels, case, separators,
underscores, one-letter labels, accents) the new one must agree with it.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from qwen_vlm.parsing import find_mentions
from qwen_vlm.tasks.classification import match_class, match_classes

_spec = importlib.util.spec_from_file_location(
    "reference_labels", Path(__file__).parent / "data" / "reference_labels.py"
)
assert _spec is not None and _spec.loader is not None
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

WORDS = [
    "tv",
    "stand",
    "TV",
    "a",
    "A",
    "b",
    "cat",
    "Cat",
    "dog",
    "hot",
    "hotdog",
    "x1",
    "2",
    "straße",
    "café",
]
SEPARATORS = [" ", "-", "_", "", ".", " - ", "/", "  ", "__"]


def _phrase(rng: random.Random, most: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, most))]
    out = words[0]
    for word in words[1:]:
        out += rng.choice(SEPARATORS) + word
    return out


@pytest.mark.parametrize("seed", range(40))
def test_the_same_mentions_as_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        labels = list(dict.fromkeys(_phrase(rng, 3) for _ in range(rng.randint(1, 12))))
        text = " ".join(
            _phrase(rng, 4) if rng.random() < 0.7 else rng.choice(["and", "the", "is", ",", ".", "!"])
            for _ in range(rng.randint(0, 12))
        )
        assert find_mentions(text, labels) == reference.find_mentions(text, labels), (text, labels)


def test_many_classes_are_read_without_comparing_every_pair() -> None:
    classes = [f"thing {k}" for k in range(20000)] + ["red chair", "chair"]
    assert match_class("It is a red chair.", classes) == ("red chair", None)
    assert match_class("A landscape at dusk.", classes)[0] is None
    assert match_classes("thing 7, thing 19999 and a chair", classes) == (
        ("thing 7", "thing 19999", "chair"),
        None,
    )
