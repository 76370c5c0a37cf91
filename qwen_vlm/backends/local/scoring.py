"""Class scores on the local backend: teacher-forced log-likelihoods of answers a task names.

The request's :class:`~qwen_vlm.class_scoring.ClassScoring` says what to score; this module knows no task.

**Exclusive** (``answers``; ``classify`` gives ``{"label": "c"}`` per class): for each class, the
log-probability that the model, asked the request's own prompt about this image, answers exactly that
text and stops; the scores are those probabilities normalised over the classes (a softmax of the
log-likelihoods), so they sum to 1. Thinking is not part of it: a thinking model is scored as if it
answered right away. Only the answer's canonical tokenization counts (other spellings of the same text
are ignored), as in every likelihood-based classifier.

**Independent** (``questions``; ``classify_multi`` asks ``Does this image contain "c"? Answer yes or
no.``): for each class, separately, the probability that the model answers yes rather than no (the yes
forms against the no forms). Classes are judged independently, so these do not sum to 1; 0.5 means the
model cannot tell.

Every candidate answer is read in one forward pass over the image's cached prompt prefix (the vision
encoder runs once per image), in chunks of rows so that memory stays bounded.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

from ..base import GenerationRequest
from .prefix_cache import PrefixEntry, expand_batch
from .runtime import IMAGE_END, Runtime

__all__ = ["class_scores", "normalise", "presence", "sequence_logprobs"]

#: Rows (candidate answers) read in one forward pass; each row holds a copy of the image's prefix cache.
CHUNK = 16


def normalise(logprobs: Sequence[float]) -> list[float]:
    """A softmax of log-probabilities (so the results sum to 1)."""
    top = max(logprobs)
    weights = [math.exp(v - top) for v in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def presence(logprobs: Sequence[float], yes_forms: int = 2) -> float:
    """P(yes) / (P(yes) + P(no)) from the log-probabilities of the yes forms, then the no forms."""
    top = max(logprobs)
    yes = sum(math.exp(v - top) for v in logprobs[:yes_forms])
    no = sum(math.exp(v - top) for v in logprobs[yes_forms:])
    return yes / (yes + no)


def sequence_logprobs(
    torch: Any,
    inner: Any,
    lm_head: Any,
    cache: Any,
    prefix_length: int,
    rope_delta: Any,
    rows: Sequence[tuple[list[int], int]],
    pad_id: int,
    cache_kwarg: str = "past_key_values",
) -> list[float]:
    """Log-probability of the last ``n`` tokens of each row, given the cached prefix and the row before.

    Args:
        torch: The torch module.
        inner: The multimodal model without its head (``Qwen*VLModel``).
        lm_head: The output projection.
        cache: The prefix's transformers cache (copied per chunk, never changed).
        prefix_length: Tokens in the prefix.
        rope_delta: The image's multimodal rotary offset (``rope_deltas`` of its prompt), shape ``(1, 1)``.
        rows: ``(tokens after the prefix, how many of the last ones to score)`` per candidate.
        pad_id: Token used to right-pad rows (never scored).
        cache_kwarg: The model's name for the cache argument (``"cache"`` from transformers 5.24).
    """
    out: list[float] = []
    device = rope_delta.device
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        width = max(len(tokens) for tokens, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long, device=device)
        mask = torch.zeros((len(chunk), prefix_length + width), dtype=torch.long, device=device)
        mask[:, :prefix_length] = 1
        for r, (tokens, _) in enumerate(chunk):
            ids[r, : len(tokens)] = torch.tensor(tokens, dtype=torch.long, device=device)
            mask[r, prefix_length : prefix_length + len(tokens)] = 1
        positions = torch.arange(prefix_length, prefix_length + width, device=device)
        positions = positions.unsqueeze(0).expand(len(chunk), -1) + rope_delta.reshape(1, 1)
        rows_cache = copy.deepcopy(cache)
        expand_batch(rows_cache, len(chunk))
        with torch.inference_mode():
            hidden = inner(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{cache_kwarg: rows_cache},
            ).last_hidden_state
            for r, (tokens, scored) in enumerate(chunk):
                first = len(tokens) - scored  # the scored tokens are predicted from one position earlier
                logits = lm_head(hidden[r, first - 1 : len(tokens) - 1]).float()
                logprobs = torch.log_softmax(logits, dim=-1)
                targets = torch.tensor(tokens[first:], dtype=torch.long, device=device)
                out.append(float(logprobs.gather(1, targets.unsqueeze(1)).sum()))
    return out


def class_scores(rt: Runtime, request: GenerationRequest, entry: PrefixEntry) -> dict[str, float] | None:
    """Class scores for a request that asks for them (``None`` for any other), over its cached prefix."""
    scoring = request.scoring
    if scoring is None or not scoring.classes:
        return None
    classes = scoring.classes
    thinking = False if rt.info.thinking == "hybrid" else None
    count = 1 + len(request.more_images)

    def after_image(prompt: str) -> list[int]:
        text = rt.template(prompt, thinking, count, system=request.system)
        if text.rstrip().endswith("<think>"):  # always-thinking: scored as answering at once
            text = text.rstrip() + "\n\n</think>\n\n"
        return rt.tokens(text.rsplit(IMAGE_END, 1)[1])

    rows: list[tuple[list[int], int]] = []
    words = (*scoring.yes, *scoring.no)
    if scoring.exclusive:
        tail = after_image(request.prompt)
        end = rt.stop_ids()[:1]
        for text in scoring.answers:
            answer = rt.tokens(text) + end
            rows.append((tail + answer, len(answer)))
    else:
        for question in scoring.questions:
            tail = after_image(question)
            for word in words:
                answer = rt.tokens(word)
                rows.append((tail + answer, len(answer)))
    logprobs = sequence_logprobs(
        rt.torch,
        rt.rope(),
        rt.model.get_output_embeddings(),
        entry.cache,
        int(entry.input_ids.shape[1]),
        entry.rope_delta,
        rows,
        int(rt.tokenizer.pad_token_id or 0),
        rt.cache_kwarg(),
    )
    if scoring.exclusive:
        return dict(zip(classes, normalise(logprobs), strict=True))
    width, yes = len(words), len(scoring.yes)
    return {label: presence(logprobs[k * width : (k + 1) * width], yes) for k, label in enumerate(classes)}
