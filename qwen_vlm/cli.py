"""The ``qwen-vlm`` command: run one task on images from the shell.

Examples::

    qwen-vlm caption examples/sample.jpg
    qwen-vlm detect photo.jpg --classes cat,dog --json
    qwen-vlm ask photo.jpg --question "How many cats?" --model qwen/qwen3.6-27b --backend openrouter
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ._version import __version__
from .errors import ConfigurationError, ImageError, QwenVLMError
from .results import Result

__all__ = ["main"]

TASKS = ("prompt", "ocr", "ask", "caption", "classify", "classify-multi", "detect", "point", "extract")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qwen-vlm", description="Run a Qwen vision-language model on images.")
    p.add_argument("--version", action="version", version=f"qwen-vlm {__version__}")
    p.add_argument("task", choices=TASKS, help="what to do")
    p.add_argument("images", nargs="+", help="image paths or URLs")
    p.add_argument("--model", default=None, help="model id (default: the backend's default model)")
    p.add_argument("--backend", default="local", choices=("local", "openrouter", "openai"))
    p.add_argument("--base-url", default=None, help="server URL for --backend openai")
    p.add_argument("--classes", default=None, help="comma-separated classes (classify, detect, point)")
    p.add_argument("--question", default=None, help="the question (ask)")
    p.add_argument("--text", default=None, help="the prompt (prompt)")
    p.add_argument("--schema", default=None, help="JSON object of field → description (extract)")
    p.add_argument("--detailed", action="store_true", help="a detailed caption")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--thinking", choices=("on", "off"), default=None, help="switch reasoning on or off")
    p.add_argument("--json", action="store_true", help="print results as JSON lines")
    return p


def _params(args: argparse.Namespace) -> dict[str, Any]:
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    if args.task == "prompt":
        return {"text": args.text}
    if args.task == "ask":
        return {"question": args.question}
    if args.task == "caption":
        return {"detailed": args.detailed}
    if args.task in ("classify", "classify-multi", "point", "detect"):
        return {"classes": classes}
    if args.task == "extract":
        try:
            schema = json.loads(args.schema) if args.schema else None
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"--schema is not valid JSON: {exc}") from None
        return {"schema": schema}
    return {}


def _show(result: Result, name: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"image": name, **result.to_dict()}, ensure_ascii=False))
        return
    print(f"== {name}")
    if result.error:
        print(f"error: {result.error}")
    elif hasattr(result, "detections"):
        for det in result.detections:
            print(f"{det.label}\t" + " ".join(f"{v:.1f}" for v in det.xyxy))
    elif hasattr(result, "points"):
        for point in result.points:
            print(f"{point.label}\t{point.xy[0]:.1f} {point.xy[1]:.1f}")
    elif hasattr(result, "labels"):
        print(", ".join(result.labels) or "(none)")
    elif hasattr(result, "label"):
        print(result.label)
    elif hasattr(result, "data"):
        print(json.dumps(result.data, ensure_ascii=False, indent=2, default=str))
    else:
        print(result.text)
    if result.thinking:
        print(f"(thinking: {len(result.thinking)} characters)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 a failed image or request, 2 bad usage)."""
    args = _parser().parse_args(argv)
    from .client import QwenVLM

    try:
        vlm = QwenVLM(args.model, backend=args.backend, base_url=args.base_url)
        thinking = None if args.thinking is None else args.thinking == "on"
        single = len(args.images) == 1
        out = vlm.run(
            args.task.replace("-", "_"),
            args.images[0] if single else list(args.images),
            **_params(args),
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            enable_thinking=thinking,
        )
        results: list[Result] = [out] if single else out
    except (ConfigurationError, ImageError) as exc:
        print(f"qwen-vlm: {exc}", file=sys.stderr)
        return 2
    except QwenVLMError as exc:
        print(f"qwen-vlm: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for name, result in zip(args.images, results, strict=True):
        _show(result, name, args.json)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
