"""Stopping a local generation as soon as its answer certainly loops (a document page repeating a row).

A ``transformers`` stopping criterion: every few tokens it decodes the end of each row that asked for it
(``GenerationRequest.stop_on_repetition``) and stops that row when :func:`qwen_vlm.parsing.repetition`
finds a loop, instead of letting it run to ``max_tokens``.
"""

from __future__ import annotations

from typing import Any

from ...parsing import repetition

__all__ = ["repetition_stop"]

#: Tokens between checks.
EVERY = 16
#: Tokens of a row's end decoded for a check.
WINDOW = 1500


def repetition_stop(rt: Any, rows: list[bool], start: int) -> Any:
    """A stopping criterion for a batch: ``rows[i]`` says whether row ``i`` is watched.

    ``start`` is where generated tokens begin in ``input_ids``. The criterion's ``stopped`` maps each
    stopped row to the number of tokens it had generated.
    """
    torch = rt.torch
    base = rt.transformers.StoppingCriteria

    class RepetitionStop(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self.stopped: dict[int, int] = {}

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            generated = input_ids.shape[1] - start
            if generated == 0 or generated % EVERY:
                for row in self.stopped:
                    done[row] = True
                return done
            for row, watched in enumerate(rows):
                if row in self.stopped:
                    done[row] = True
                elif watched:
                    tail = input_ids[row, max(start, input_ids.shape[1] - WINDOW) :].tolist()
                    if repetition(rt.tokenizer.decode(tail, skip_special_tokens=True)) is not None:
                        self.stopped[row] = generated
                        done[row] = True
            return done

    return RepetitionStop()
