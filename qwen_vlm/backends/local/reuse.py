"""Reusing an image's prompt prefix: prefill it once (vision encoder included), continue copies of it.

See :mod:`.prefix_cache` for the cache itself and why greedy answers stay identical.
"""

from __future__ import annotations

import copy
from typing import Any

from ..base import GenerationRequest
from .prefix_cache import PrefixCache, PrefixEntry, cache_bytes, image_key
from .runtime import IMAGE_END, Runtime

__all__ = ["continue_prefix", "prefix_entry"]


def prefix_entry(
    rt: Runtime, cache: PrefixCache, request: GenerationRequest, images: list[Any]
) -> tuple[PrefixEntry, str, str] | None:
    """The images' prefix state (cached, or built and kept if reuse is on), prompt and text after it.

    The prefix ends after the last image. ``None`` when the template does not put the images first.
    """
    text = rt.template(request.prompt, request.enable_thinking, len(images), system=request.system)
    if text.count(IMAGE_END) != len(images):
        return None
    head, suffix = text.rsplit(IMAGE_END, 1)
    key = "|".join(image_key(image, f"{rt.image_kwargs()}|{head}") for image in images)
    entry = cache.get(key) if cache.max_bytes > 0 else None
    if entry is None:
        entry = _prefill(rt, text, images)
        if entry is not None and cache.max_bytes > 0:
            cache.put(key, entry)
    return None if entry is None else (entry, text, suffix)


def continue_prefix(rt: Runtime, entry: PrefixEntry, suffix: str) -> dict[str, Any]:
    """``generate`` inputs that continue a copy of ``entry``'s cache with ``suffix``."""
    torch = rt.torch
    tail = rt.tokens(suffix)
    input_ids = torch.cat([entry.input_ids, torch.tensor([tail], device=entry.input_ids.device)], dim=1)
    # This image's rotary offset: transformers keeps the last call's on the model and would use it
    # for a cached prefix, which is wrong whenever another image ran in between.
    rt.rope().rope_deltas = entry.rope_delta
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        rt.cache_kwarg(): copy.deepcopy(entry.cache),
    }


def _prefill(rt: Runtime, text: str, images: list[Any]) -> PrefixEntry | None:
    """Run the vision encoder and the model over the prompt up to the last image's end; keep the cache."""
    inputs = rt.processor(text=[text], images=list(images), return_tensors="pt", **rt.image_kwargs()).to(
        rt.model.device
    )
    ids = inputs["input_ids"][0].tolist()
    end_id = rt.tokenizer.convert_tokens_to_ids(IMAGE_END)
    if ids.count(end_id) != len(images) or "mm_token_type_ids" not in inputs:
        return None
    cut = len(ids) - ids[::-1].index(end_id)
    prefix = {
        k: (v[:, :cut] if k in ("input_ids", "attention_mask", "mm_token_type_ids") else v)
        for k, v in inputs.items()
    }
    _, rope_delta = rt.rope().get_rope_index(
        prefix["input_ids"],
        image_grid_thw=inputs["image_grid_thw"],
        attention_mask=prefix["attention_mask"],
        mm_token_type_ids=prefix["mm_token_type_ids"],
    )
    cache = rt.transformers.DynamicCache(config=rt.model.config)
    with rt.torch.inference_mode():
        rt.model(**prefix, **{rt.cache_kwarg(): cache}, use_cache=True)
    return PrefixEntry(
        input_ids=prefix["input_ids"],
        image_grid_thw=inputs["image_grid_thw"],
        rope_delta=rope_delta,
        cache=cache,
        nbytes=cache_bytes(cache),
    )
