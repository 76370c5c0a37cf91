"""``qwen-vlm finetune DATA --model M --output DIR``: a LoRA fine-tune from the shell (the ``train`` extra).

``DATA`` is the folder ``export(..., format="sft")`` wrote (or a ``messages`` JSONL). Prints the losses and
where the adapter went; several GPUs: ``accelerate launch -m qwen_vlm finetune ...``. Exit status: 0
trained, 2 bad usage or data (nothing was trained).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from ._cli_options import report_error
from .errors import QwenVLMError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qwen-vlm finetune", description="Fine-tune a Qwen-VL model (LoRA).")
    p.add_argument("data", help="the folder export(..., format='sft') wrote, or a messages JSONL")
    p.add_argument("--model", required=True, help="the base model (a hub id or a local folder)")
    p.add_argument("--output", required=True, help="where the adapter (or weights) is saved")
    p.add_argument("--validation", default=None, help="a messages JSONL of held-out records")
    p.add_argument("--full", action="store_true", help="train every weight instead of a LoRA adapter")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=int, default=16)
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--learning-rate", type=float, default=2e-4)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--gradient-accumulation", type=int, default=8)
    p.add_argument("--min-pixels", type=int, default=None)
    p.add_argument("--max-pixels", type=int, default=None)
    p.add_argument("--qlora", action="store_true", help="a 4-bit base (bitsandbytes, CUDA)")
    p.add_argument("--merge", action="store_true", help="also save the adapter merged into the weights")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv: Sequence[str]) -> int:
    """Run ``qwen-vlm finetune``; returns the exit status."""
    args = _parser().parse_args(argv)
    from .training import finetune

    try:
        result = finetune(
            args.data,
            model=args.model,
            output_dir=args.output,
            validation=args.validation,
            lora=not args.full,
            rank=args.rank,
            alpha=args.alpha,
            epochs=args.epochs,
            learning_rate=args.learning_rate,
            batch_size=args.batch_size,
            gradient_accumulation=args.gradient_accumulation,
            min_pixels=args.min_pixels,
            max_pixels=args.max_pixels,
            qlora=args.qlora,
            merge=args.merge,
        )
    except QwenVLMError as exc:
        return report_error("qwen-vlm finetune", exc)
    summary = {
        "adapter": str(result.adapter) if result.adapter else None,
        "merged": str(result.merged) if result.merged else None,
        "records": result.records,
        "first_loss": result.losses[0][1] if result.losses else None,
        "last_loss": result.losses[-1][1] if result.losses else None,
        "seconds": round(result.seconds, 1),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0
