"""Class scores on the local backend: teacher-forced likelihoods, checked against a plain forward pass."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from qwen_vlm import QwenVLM  # noqa: E402
from qwen_vlm.backends.local import scoring  # noqa: E402
from qwen_vlm.prompts import classify_prompt  # noqa: E402
from qwen_vlm.tasks.classify import single_label_answer  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FAMILIES = ("qwen2_5_vl", "qwen3_vl", "qwen3_5")
CLASSES = ["cat", "dog", "traffic light"]
IMG = Image.effect_noise((320, 200), 60).convert("RGB")


def reference_logprob(vlm: QwenVLM, prompt: str, answer: str) -> float:
    """log P(answer, <|im_end|> | image, prompt) from one uncached forward over the whole sequence."""
    backend: Any = vlm.backend
    processor, model = backend.processor, backend.model
    text = backend._runtime.template(prompt, False if vlm.info.thinking == "hybrid" else None)
    inputs = processor(text=[text], images=[IMG], return_tensors="pt")
    answer_ids = processor.tokenizer.encode(answer, add_special_tokens=False)
    answer_ids.append(processor.tokenizer.convert_tokens_to_ids("<|im_end|>"))
    n = inputs["input_ids"].shape[1]
    inputs["input_ids"] = torch.cat([inputs["input_ids"], torch.tensor([answer_ids])], dim=1)
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    inputs["mm_token_type_ids"] = torch.cat(
        [inputs["mm_token_type_ids"], torch.zeros((1, len(answer_ids)), dtype=torch.long)], dim=1
    )
    with torch.inference_mode():
        logits = model(**inputs).logits[0].float()
    logprobs = torch.log_softmax(logits[n - 1 : -1], dim=-1)
    return float(logprobs.gather(1, torch.tensor(answer_ids).unsqueeze(1)).sum())


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_are_the_normalised_teacher_forced_likelihoods(
    family: str, checkpoints: dict[str, Path]
) -> None:
    vlm = QwenVLM(str(checkpoints[family]), device="cpu")
    result = vlm.classify(IMG, CLASSES)
    assert result.scores is not None and list(result.scores) == CLASSES
    assert sum(result.scores.values()) == pytest.approx(1.0)
    prompt = classify_prompt(tuple(CLASSES))
    expected = scoring.normalise([reference_logprob(vlm, prompt, single_label_answer(c)) for c in CLASSES])
    assert list(result.scores.values()) == pytest.approx(expected, abs=1e-4)


@contextlib.contextmanager
def logit_bias(vlm: QwenVLM, tokens: list[int], bias: float) -> Iterator[None]:
    """Add ``bias`` to these tokens' logits wherever the model computes logits (a scripted preference)."""
    head = vlm.backend.model.get_output_embeddings()  # type: ignore[attr-defined]

    def hook(module: Any, args: Any, output: Any) -> Any:
        output[..., sorted(set(tokens))] += bias
        return output

    handle = head.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("target", ["cat", "dog"])  # one token each in the tiny vocabulary
def test_a_class_forced_by_a_logits_bias_gets_the_highest_score(
    family: str, target: str, checkpoints: dict[str, Path]
) -> None:
    vlm = QwenVLM(str(checkpoints[family]), device="cpu")
    tokenizer = vlm.backend.processor.tokenizer  # type: ignore[attr-defined]
    answers = {c: tokenizer.encode(single_label_answer(c), add_special_tokens=False) for c in CLASSES}
    # From where the target's answer parts from the others', its tokens are made likely (tokens every
    # answer shares, such as the closing '"}', are left alone).
    others = [a for c, a in answers.items() if c != target]
    k = next(i for i, t in enumerate(answers[target]) if all(i >= len(o) or o[i] != t for o in others))
    shared = set.intersection(*(set(a) for a in answers.values()))
    with logit_bias(vlm, [t for t in answers[target][k:] if t not in shared], 25.0):
        result = vlm.classify(IMG, CLASSES)
    assert result.scores is not None
    assert max(result.scores, key=result.scores.__getitem__) == target
    assert result.scores[target] > 0.9 and sum(result.scores.values()) == pytest.approx(1.0)


def test_multi_label_scores_are_yes_probabilities_per_class(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu")
    result = vlm.classify_multi(IMG, CLASSES)
    assert result.scores is not None and list(result.scores) == CLASSES
    assert all(0.0 < p < 1.0 for p in result.scores.values())
    tokenizer = vlm.backend.processor.tokenizer  # type: ignore[attr-defined]
    yes = tokenizer.encode("Yes", add_special_tokens=False)
    with logit_bias(vlm, yes, 25.0):
        biased = vlm.classify_multi(IMG, CLASSES)
    assert biased.scores is not None and all(p > 0.9 for p in biased.scores.values())
    assert scoring.presence([math.log(0.3), math.log(0.1), math.log(0.2), math.log(0.2)]) == pytest.approx(
        0.5
    )


def test_a_batch_scores_every_image_like_single_calls(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", prefix_cache_mb=0)  # scores need no cache
    images = [IMG, IMG.rotate(90, expand=True), Image.new("RGB", (96, 64), "red")]
    together = vlm.classify(images, CLASSES)
    alone = [vlm.classify(image, CLASSES) for image in images]
    for a, b in zip(together, alone, strict=True):
        assert a.label == b.label and a.scores is not None and b.scores is not None
        assert list(a.scores.values()) == pytest.approx(list(b.scores.values()), abs=1e-6)
    assert vlm.backend.prefix_cache.info()["entries"] == 0  # type: ignore[attr-defined]


def test_scores_survive_a_failed_image_and_show_in_html(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu")
    good, missing = vlm.classify([IMG, "/no/such/image.png"], CLASSES)
    assert good.scores is not None and missing.scores is None and not missing.ok
    assert f"{good.scores['cat']:.2f}" in good._repr_html_()
    assert good.to_dict()["scores"] == good.scores
