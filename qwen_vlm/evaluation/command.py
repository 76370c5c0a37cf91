"""``qwen-vlm evaluate DATASET --task detect --model A --model B``: evaluation from the shell.

Prints one row per model (a table, or JSON lines with ``--json``). Exit status: 0 done, 1 a whole
call failed (a bad key...), 2 bad usage or a dataset that cannot be read (nothing was run).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from .._cli_options import add_model_options, client_options, report_error
from ..client import QwenVLM
from ..errors import QwenVLMError
from .run import evaluate

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qwen-vlm evaluate",
        description="Evaluate models on a labelled dataset (COCO JSON, YOLO folder or class folders).",
    )
    p.add_argument("dataset", help="a COCO JSON file, a YOLO folder (data.yaml) or a folder of class folders")
    p.add_argument("--task", default="detect", choices=("detect", "classify", "classify-multi", "ocr"))
    add_model_options(p.add_argument_group("models"), several=True)
    p.add_argument("--images", default=None, help="COCO: the image folder")
    p.add_argument("--split", default=None, help="YOLO: the split (train, val...)")
    p.add_argument("--classes", default=None, help="comma-separated classes (default: the dataset's)")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object per model")
    return p


def _client(args: argparse.Namespace, model: str | None) -> QwenVLM:
    return QwenVLM(model, **client_options(args))


def main(argv: Sequence[str]) -> int:
    """Run ``qwen-vlm evaluate``; returns the exit status."""
    args = _parser().parse_args(argv)
    models = args.model or [None]
    try:
        clients = {model or "default": _client(args, model) for model in models}
        options: dict[str, Any] = {"max_tokens": args.max_tokens} if args.max_tokens else {}
        classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
        result = evaluate(
            clients,
            args.dataset,
            args.task.replace("-", "_"),
            images=args.images,
            split=args.split,
            classes=classes,
            **options,
        )
    except QwenVLMError as exc:
        return report_error("qwen-vlm evaluate", exc)
    rows = [run.row() for run in result.runs]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    names = [k for k in rows[0] if k not in ("model", "backend")]
    print("  ".join(f"{n:>12}" for n in names))
    for row in rows:
        print(
            "  ".join(f"{row[n]:>12.4f}" if isinstance(row[n], float) else f"{row[n]!s:>12}" for n in names)
        )
    return 0
