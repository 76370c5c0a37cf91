"""One image, many tasks: the local backend keeps the model state of each recent image's prompt prefix.

Every task's prompt starts the same way: the chat template's opening, then the image's tokens, up to
``<|vision_end|>``. The first call on an image runs the vision encoder and the language model over that
prefix once and keeps the resulting cache (keys/values; on Qwen3.5 also the linear-attention state);
later calls on the same pixels copy it and only read their own question. Greedy outputs are identical to
uncached calls (tested for every family): the image's multimodal rotary offsets are recomputed for
each call rather than taken from whatever ran before.

The cache is bounded in bytes (``prefix_cache_mb``, least recently used first out) and keyed by the
image's pixels (a SHA-256 digest), its size and mode, the processor's pixel bounds and the template text
before the image, so an edited image, another resize or another template never hits a stale entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ...images import pixel_digest

__all__ = ["PrefixCache", "PrefixEntry", "cache_bytes", "expand_batch", "image_key"]


@dataclass
class PrefixEntry:
    """The model state after one image's prompt prefix.

    Attributes:
        input_ids: The prefix tokens, shape ``(1, n)``.
        image_grid_thw: The image's patch grid, shape ``(1, 3)``.
        rope_delta: The image's multimodal rotary offset for the text after it, shape ``(1, 1)``.
        cache: The transformers cache after the prefix (copied before each use, never changed).
        nbytes: Memory the cache holds.
    """

    input_ids: Any
    image_grid_thw: Any
    rope_delta: Any
    cache: Any
    nbytes: int


def image_key(image: Any, context: str) -> str:
    """A key for ``image``'s pixels in ``context`` (pixel bounds, template text before the image)."""
    return f"{pixel_digest(image)}|{context}"


def _tensors(layer: Any) -> list[tuple[Any, Any, Any]]:
    """``(container, key, tensor)`` for each tensor a cache layer holds (attributes, or dicts of them)."""
    found = []
    for name, value in vars(layer).items():
        if hasattr(value, "nelement"):
            found.append((layer, name, value))
        elif isinstance(value, dict):
            found += [(value, k, v) for k, v in value.items() if hasattr(v, "nelement")]
    return found


def cache_bytes(cache: Any) -> int:
    """The bytes held by a transformers cache's tensors (keys, values, convolution and recurrent states)."""
    return sum(
        int(t.nelement()) * int(t.element_size())
        for layer in getattr(cache, "layers", None) or ()
        for _, _, t in _tensors(layer)
    )


def expand_batch(cache: Any, rows: int) -> None:
    """Repeat a one-row cache ``rows`` times along the batch (in place; attention and linear layers).

    transformers' own ``batch_repeat_interleave`` skips the convolution and recurrent states of
    Qwen3.5's linear-attention layers, so every batch-first tensor of one row is repeated here.
    """
    for layer in getattr(cache, "layers", None) or ():
        for container, key, tensor in _tensors(layer):
            if tensor.dim() > 0 and tensor.shape[0] == 1:
                repeated = tensor.repeat_interleave(rows, dim=0)
                if isinstance(container, dict):
                    container[key] = repeated
                else:
                    setattr(container, key, repeated)


class PrefixCache:
    """A least-recently-used store of :class:`PrefixEntry` bounded in bytes.

    Args:
        max_bytes: The most memory entries may hold together (0 switches the cache off).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, PrefixEntry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        """Memory held by the entries now."""
        return sum(e.nbytes for e in self._entries.values())

    def get(self, key: str) -> PrefixEntry | None:
        """The entry for ``key`` (marked as recently used), or ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: str, entry: PrefixEntry) -> None:
        """Keep ``entry`` unless it alone is over the bound; evict the oldest until the rest fits."""
        with self._lock:
            self._entries.pop(key, None)
            if entry.nbytes > self.max_bytes:
                return
            self._entries[key] = entry
            while self.nbytes > self.max_bytes:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    def info(self) -> dict[str, int]:
        """``entries``, ``bytes``, ``max_bytes``, ``hits`` and ``misses`` so far."""
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self.nbytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
            }
