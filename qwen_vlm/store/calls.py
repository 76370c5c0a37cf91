"""One call through the store: stored answers returned without sending, new ones written as they finish."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from .._call import _Plan
from .._responses import result_for
from ..backends import GenerationResponse
from ..errors import OutputParseError
from ..results import Result
from .codec import decode, encode
from .database import ResultStore
from .keys import backend_identity, request_key

__all__ = ["StoredCall", "storable"]

logger = logging.getLogger("qwen_vlm")


def storable(result: Result) -> bool:
    """Whether a result is the answer's own (kept): a success, or an answer that did not parse.

    A transport failure (a 503, a timeout, an unreadable image) is not: the next run tries again.
    """
    return result.exception is None or isinstance(result.exception, OutputParseError)


class StoredCall:
    """The store's part in one call: keys for its requests, the stored results, the writes.

    Args:
        store: The result store.
        plan: The call's plan (every readable input has a request).
        backend: The client's backend (its identity is part of every key).
        reuse_sampled: Whether answers sampled with ``temperature > 0`` may be returned from the store
            (they are always written).
    """

    def __init__(self, store: ResultStore, plan: _Plan, backend: Any, reuse_sampled: bool) -> None:
        self.store = store
        self.backend = backend
        identity = backend_identity(backend)
        extra = {"min_confidence": plan.min_confidence}
        self.keys = [request_key(r, plan.params, identity, extra) for r in plan.requests]
        self.hits = 0
        found = store.get_many(self.keys)
        known: dict[int, Result] = {}
        for request, position, key in zip(plan.requests, plan.positions, self.keys, strict=True):
            if key not in found or (request.temperature and not reuse_sampled):
                continue
            try:
                result = decode(found[key], plan.params.get("schema"))
            except (ValueError, TypeError, KeyError) as exc:  # written by another version: answer again
                logger.info("ignoring an unreadable stored result (%s)", exc)
                continue
            known[position] = dataclasses.replace(result, source=plan.inputs[position])
        self.hits = len(known)
        keep = [k for k, p in enumerate(plan.positions) if p not in known]
        self.plan = dataclasses.replace(
            plan,
            requests=[plan.requests[k] for k in keep],
            positions=[plan.positions[k] for k in keep],
            known={**plan.known, **known},
            on_settled=self.record,
        )
        self._keys = [self.keys[k] for k in keep]

    def record(self, indices: Sequence[int], responses: Sequence[GenerationResponse]) -> None:
        """Parse one settled chunk (``indices`` into the remaining plan's requests) and store its results."""
        plan, info = self.plan, self.backend.info
        rows = []
        for k, response in zip(indices, responses, strict=True):
            position = plan.positions[k]
            result = result_for(info, plan, plan.refs[position], response)
            plan.known[position] = result
            if storable(result):
                rows.append((self._keys[k], plan.spec.name, info.id, encode(result)))
        self.store.put_many(rows)
