"""The async client's executor: a plan's chunks as asyncio tasks, ``max_concurrency`` at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backends import Backend, GenerationRequest, GenerationResponse
from ..progress import progress_bar
from .call import Plan

__all__ = ["execute_in_tasks"]


async def execute_in_tasks(
    backend: Backend,
    plan: Plan,
    settle: Callable[[list[GenerationRequest], Any], list[GenerationResponse]],
) -> list[GenerationResponse]:
    """Run every chunk of ``plan`` as asyncio tasks (``backend.max_concurrency`` at a time).

    As :func:`~qwen_vlm.engine.threads.execute_in_threads`; ``plan.on_settled`` runs in a worker thread, off
    the event loop (the result store's durable writes).
    """
    import asyncio  # here, not at module level: `import qwen_vlm` stays light for sync users

    on_settled = plan.on_settled
    chunks = plan.chunks(backend.max_batch_size)
    semaphore = asyncio.Semaphore(max(1, backend.max_concurrency))
    bar = progress_bar(len(plan.requests), plan.progress, plan.label)

    async def run(chunk: list[int]) -> list[GenerationResponse]:
        answered: set[int] = set()
        if plan.before_send is not None:  # the result store's lookup (hashing pixels: off the loop)
            answered = await asyncio.to_thread(plan.before_send, chunk)
        send = [i for i in chunk if i not in answered]
        by_index = {i: GenerationResponse(text="") for i in answered}  # results already in plan.known
        if send:
            batch = [plan.requests[i] for i in send]
            outcome: list[GenerationResponse] | BaseException
            async with semaphore:
                try:
                    outcome = await backend.agenerate(batch)
                except Exception as exc:
                    outcome = exc
            out = settle(batch, outcome)
            if on_settled is not None:  # the result store writes this chunk's results (off the loop)
                await asyncio.to_thread(on_settled, send, out)
            by_index.update(zip(send, out, strict=True))
        if bar is not None:
            if answered:
                bar.set_description(plan.label, refresh=False)
            bar.update(len(chunk))
        return [by_index[i] for i in chunk]

    tasks = [asyncio.ensure_future(run(chunk)) for chunk in chunks]
    try:
        outs = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
    return [response for out in outs for response in out]
