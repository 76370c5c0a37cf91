"""Generating for a batch: inputs (fresh, from a cached prefix, or a video), ``generate``, decoding.

The processor's whole output goes to ``generate`` (it carries ``mm_token_type_ids`` and
``image_grid_thw``). The resized size the processor produced (``image_grid_thw`` x patch size) is
reported with every answer, so Qwen2.5-VL's absolute coordinates convert exactly. Batches use left
padding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ...results import Usage
from ...thinking import split_thinking
from ..base import GenerationRequest, GenerationResponse
from .constrained import Grammars
from .prefix_cache import PrefixCache, PrefixEntry
from .repetition_stop import repetition_stop
from .reuse import continue_prefix, prefix_entry
from .runtime import Runtime
from .scoring import class_scores
from .token_logprobs import LogprobRecorder, token_logprobs
from .video_inputs import time_offset, video_inputs

__all__ = ["GenerateKwargs", "generate_batch"]

#: A function of the tokenizer returning extra ``generate`` keyword arguments (e.g. a logits processor).
GenerateKwargs = dict[str, Any] | Callable[[Any], dict[str, Any]]


def generate_batch(
    rt: Runtime,
    requests: Sequence[GenerationRequest],
    images: list[list[Any]],
    *,
    cache: PrefixCache,
    grammars: Grammars,
    extra: GenerateKwargs | None = None,
    streaming: dict[str, Any] | None = None,
    on_prompts: Callable[[list[str]], None] | None = None,
) -> list[GenerationResponse]:
    """Generate for requests whose images (``images[i]``: one, or a group's) are already read.

    A single request reuses (and fills) its images' prefix cache; a classification also gets its scores.
    """
    first = requests[0]
    reuse = len(requests) == 1 and (cache.max_bytes > 0 or first.scoring is not None)
    prefix = prefix_entry(rt, cache, first, images[0]) if reuse and first.video is None else None
    inputs, texts, grids = _inputs(rt, requests, images, prefix)
    if on_prompts is not None:
        on_prompts(texts)
    patch = rt.patch_size()
    seen = [(int(w) * patch, int(h) * patch) for _, h, w in grids]
    starts = [sum(len(group) for group in images[:i]) for i in range(len(images))]
    per_request = [tuple(seen[s : s + len(group)]) for s, group in zip(starts, images, strict=True)]
    sizes = [(max(w for w, _ in g), max(h for _, h in g)) for g in per_request]  # the largest, for bounds
    grammar = grammars.processor(rt, requests, texts, sizes)
    # Answers with coordinates (detect, point) get each token's log-probability: a confidence per object.
    recorder = LogprobRecorder(rt.torch) if any(r.needs_geometry for r in requests) else None
    kwargs = _generate_kwargs(rt, extra, first.temperature, recorder, grammar)
    watch = [r.stop_on_repetition for r in requests]
    stop = repetition_stop(rt, watch, inputs["input_ids"].shape[1]) if any(watch) else None
    if stop is not None:
        kwargs["stopping_criteria"] = rt.transformers.StoppingCriteriaList(
            [*(kwargs.get("stopping_criteria") or []), stop]
        )
    with rt.torch.inference_mode():
        output = rt.model.generate(
            **inputs, max_new_tokens=max(r.max_tokens for r in requests), **kwargs, **(streaming or {})
        )
    closed_early = grammar.closed_early() if grammar is not None else [False] * len(requests)
    generated = output[:, inputs["input_ids"].shape[1] :]
    logprobs = recorder.finish(generated) if recorder is not None else None
    responses = []
    for i, request in enumerate(requests):
        row = logprobs[i] if logprobs is not None and request.needs_geometry else None
        mask = inputs["attention_mask"][i]
        response = _decode(rt, request, generated[i].tolist(), texts[i], int(mask.sum()), row)
        responses.append(
            replace(
                response,
                input_size=per_request[i][0],
                input_sizes=per_request[i] if len(per_request[i]) > 1 else None,
                finish_reason="length"
                if closed_early[i]
                else "repetition"
                if stop is not None and i in stop.stopped
                else response.finish_reason,
                scores=class_scores(rt, request, prefix[0]) if prefix is not None else None,
            )
        )
    return responses


def _inputs(
    rt: Runtime,
    requests: Sequence[GenerationRequest],
    images: list[list[Any]],
    prefix: tuple[PrefixEntry, str, str] | None,
) -> tuple[Any, list[str], list[list[int]]]:
    """``generate``'s inputs, the prompts, and each image's patch grid ``(t, h, w)``."""
    first = requests[0]
    if first.video is not None:
        inputs, texts = video_inputs(rt, first)
        return inputs, texts, inputs["video_grid_thw"].tolist()
    if prefix is not None:
        entry, text, suffix = prefix
        return continue_prefix(rt, entry, suffix), [text], entry.image_grid_thw.tolist()
    texts = [
        rt.template(r.prompt, first.enable_thinking, len(group), system=r.system)
        for r, group in zip(requests, images, strict=True)
    ]
    flat = [image for group in images for image in group]
    inputs = rt.processor(text=texts, images=flat, padding=True, return_tensors="pt", **rt.image_kwargs())
    inputs = inputs.to(rt.model.device)
    return inputs, texts, inputs["image_grid_thw"].tolist()


def _generate_kwargs(
    rt: Runtime, extra: GenerateKwargs | None, temperature: float | None, recorder: Any, grammar: Any
) -> dict[str, Any]:
    """Sampling settings, the user's extra ``generate`` arguments, and our logits processors.

    The log-probability recorder comes first, so it sees the model's scores before anything changes
    them; the grammar comes last, so no processor of the user's can let an invalid token through.
    """
    if callable(extra):
        extra = extra(rt.tokenizer)
    kwargs: dict[str, Any] = (
        {"do_sample": True, "temperature": float(temperature)}
        if temperature
        else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    )
    kwargs.update(extra or {})
    if recorder is not None or grammar is not None:
        users = list(kwargs.pop("logits_processor", None) or [])
        ours = [recorder, *users, grammar]
        kwargs["logits_processor"] = rt.transformers.LogitsProcessorList([p for p in ours if p is not None])
    return kwargs


def _decode(
    rt: Runtime,
    request: GenerationRequest,
    tokens: list[int],
    prompt: str,
    prompt_tokens: int,
    logprobs: list[float] | None = None,
) -> GenerationResponse:
    """One row's answer: text up to the first stop token, thinking split off, usage, finish reason.

    Detection and pointing also get each kept token's log-probability (``logprobs``: the row's).
    """
    tokens = tokens[: request.max_tokens]
    stop_ids = set(rt.stop_ids())
    end = next((k for k, t in enumerate(tokens) if t in stop_ids), None)
    kept = tokens if end is None else tokens[:end]
    raw = rt.tokenizer.decode(kept, skip_special_tokens=False)
    thinking, answer = split_thinking(raw, thinking_started=prompt.rstrip().endswith("<think>"))
    completion_tokens = len(kept) + (1 if end is not None else 0)
    return GenerationResponse(
        text=answer,
        thinking=thinking,
        time_offset=time_offset(rt, request),
        usage=Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens),
        finish_reason="stop" if end is not None else "length",
        logprobs=token_logprobs(rt.tokenizer, kept, logprobs, raw) if logprobs is not None else None,
    )
