"""One call through the store: stored answers returned without sending, new ones written as they finish."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from ..backends import GenerationResponse
from ..engine.call import Plan
from ..engine.responses import result_for
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
    """The store's part in one call: each chunk looked up just before it would be sent, results written.

    Keys are computed chunk by chunk in the executor's workers (hashing pixels overlaps the network
    waits of other chunks), so a store adds almost nothing to a batch that misses.

    Args:
        store: The result store.
        plan: The call's plan (every readable input has a request).
        backend: The client's backend (its identity is part of every key).
        reuse_sampled: Whether answers sampled with ``temperature > 0`` may be returned from the store
            (they are always written).
    """

    def __init__(self, store: ResultStore, plan: Plan, backend: Any, reuse_sampled: bool) -> None:
        self.store = store
        self.backend = backend
        self._identity = backend_identity(backend)
        self._extra = {"min_confidence": plan.min_confidence}
        self._reuse_sampled = reuse_sampled
        self._keys: dict[int, str] = {}
        # A store with nothing of this task and model cannot answer: keys are then computed only when
        # results are written, after their answers came back (off the critical path of a first run).
        self._may_hit = store.holds(plan.task.name, backend.info.id)
        self.plan = dataclasses.replace(
            plan, known=dict(plan.known), before_send=self.lookup, on_settled=self.record
        )

    def _key(self, k: int) -> str:
        if k not in self._keys:
            plan = self.plan
            source = plan.inputs[plan.positions[k]]
            self._keys[k] = request_key(plan.requests[k], plan.params, self._identity, self._extra, source)
        return self._keys[k]

    def lookup(self, indices: Sequence[int]) -> set[int]:
        """The requests (indices into the plan's) answered by the store; their results go to ``known``."""
        plan = self.plan
        if not self._may_hit:
            return set()
        keys = {k: self._key(k) for k in indices}
        found = self.store.get_many(list(keys.values()))
        hits: set[int] = set()
        for k, key in keys.items():
            request = plan.requests[k]
            if key not in found or (request.temperature and not self._reuse_sampled):
                continue
            position = plan.positions[k]
            try:
                result = decode(found[key], plan.params.get("schema"), plan.task.result)
            except (
                ValueError,
                TypeError,
                KeyError,
                NameError,
            ) as exc:  # written by another version: answer again
                logger.info("ignoring an unreadable stored result (%s)", exc)
                continue
            plan.known[position] = dataclasses.replace(result, source=plan.inputs[position])
            hits.add(k)
        return hits

    def record(self, indices: Sequence[int], responses: Sequence[GenerationResponse]) -> None:
        """Parse one settled chunk (``indices`` into the plan's requests) and store its results."""
        plan, info = self.plan, self.backend.info
        rows = []
        for k, response in zip(indices, responses, strict=True):
            position = plan.positions[k]
            result = result_for(info, plan, plan.refs[position], response)
            plan.known[position] = result
            if storable(result):
                rows.append((self._key(k), plan.task.name, info.id, encode(result)))
        self.store.put_many(rows)
