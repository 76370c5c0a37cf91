"""The sync client's executor: a plan's chunks on a thread pool (remote) or in the calling thread (local)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from ..backends import Backend, GenerationRequest, GenerationResponse
from ..errors import BackendError
from ..progress import progress_bar
from .call import Plan

__all__ = ["execute_in_threads"]


def execute_in_threads(
    backend: Backend,
    plan: Plan,
    settle: Callable[[list[GenerationRequest], Any], list[GenerationResponse]],
    failed: Callable[[int, BaseException], list[GenerationResponse]],
) -> list[GenerationResponse]:
    """Run every chunk of ``plan`` (``backend.max_concurrency`` at a time); one response per request.

    A whole-call error (bad key, no credits...) stops the rest and is raised; anything else is settled
    onto the chunk's requests by ``settle``. ``plan.on_settled(chunk, responses)`` runs as each chunk
    finishes (the result store writes its results there, durably, before the call moves on).
    """
    on_settled = plan.on_settled
    chunks = plan.chunks(backend.max_batch_size)
    responses: list[GenerationResponse | None] = [None] * len(plan.requests)
    bar = progress_bar(len(plan.requests), plan.progress, plan.label)

    def run(chunk: list[int]) -> None:
        answered = plan.before_send(chunk) if plan.before_send is not None else set()
        send = [i for i in chunk if i not in answered]
        for i in answered:
            responses[i] = GenerationResponse(text="")  # its result is already in plan.known
        if send:
            batch = [plan.requests[i] for i in send]
            outcome: list[GenerationResponse] | BaseException
            try:
                outcome = backend.generate(batch)
            except Exception as exc:
                outcome = exc
            out = settle(batch, outcome)
            if on_settled is not None:
                on_settled(send, out)
            for i, response in zip(send, out, strict=True):
                responses[i] = response
        if bar is not None:
            if answered:
                bar.set_description(plan.label, refresh=False)
            bar.update(len(chunk))

    try:
        workers = max(1, min(backend.max_concurrency, len(chunks)))
        if workers == 1:
            for chunk in chunks:
                run(chunk)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qwen-vlm") as pool:
                futures = [pool.submit(run, chunk) for chunk in chunks]
                done, pending = wait(futures, return_when=FIRST_EXCEPTION)
                for future in pending:
                    future.cancel()
                for future in done:
                    future.result()  # re-raise a whole-call error
    finally:
        if bar is not None:
            bar.close()
    return [r if r is not None else failed(1, BackendError("not run"))[0] for r in responses]
