"""The ``qwen-vlm`` command (also ``python -m qwen_vlm``): run one task on images from the shell.

Examples::

    qwen-vlm caption examples/sample.jpg
    qwen-vlm detect photo.jpg --classes cat,dog --json
    qwen-vlm detect photos/*.jpg --classes car --output drawn/          # writes the drawn pictures
    qwen-vlm ask photo.jpg --question "How many cats?" --backend openrouter --model qwen/qwen3.6-27b
    qwen-vlm ocr scan.png --backend openai --base-url http://localhost:8000/v1 --model Qwen/Qwen3-VL-2B
    qwen-vlm detect photos/ --classes cat,dog --export coco --output dataset/ --cache run.db
    qwen-vlm evaluate instances.json --task detect --model Qwen/Qwen3-VL-2B-Instruct --model Qwen/Qwen3.5-2B
    qwen-vlm run my_tasks:CountTask photo.jpg --param object=cats   # your own task (module:Object)
    qwen-vlm run count photo.jpg --import my_tasks --param object=cats  # a module that registers it
    qwen-vlm run count photo.jpg --task my_tasks:CountTask --param object=cats  # registered, then by name

A task is a built-in (``detect``, ``classify-multi``, ``locate-events``...), the name of a task registered
by a module given with ``--import`` or by an installed package's ``qwen_vlm.tasks`` entry point, or
``module:Object`` (a :class:`~qwen_vlm.Task` subclass or instance; the current folder is importable).
``run`` before the task is optional.

Every image argument is checked (the file exists and is an image; a URL is well formed) before a model
is loaded or anything is sent. Exit status: 0 all images succeeded, 1 an image or request failed,
2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._cli_options import add_model_options, client_options, report_error
from ._cli_tasks import add_task_options, task_of, task_params
from ._version import __version__
from .errors import ConfigurationError, QwenVLMError
from .results import (
    Classification,
    Detections,
    Events,
    Extraction,
    MultiLabelClassification,
    Points,
    Result,
    TextResult,
)
from .results.base import own_data

__all__ = ["main"]

#: The built-in tasks as the command names them (any registered task or ``module:Object`` works too).
TASKS = (
    "ground",
    "act",
    "prompt",
    "ocr",
    "ask",
    "caption",
    "classify",
    "classify-multi",
    "detect",
    "point",
    "extract",
    "locate-events",
)

# Library phrasing → shell phrasing, for messages printed by the command.
_SHELL_WORDS = (
    ("QwenVLM('/path/to/checkpoint')", "--model /path/to/checkpoint"),
    ("pass api_key=", "pass --api-key"),
    ("needs base_url=", "needs --base-url"),
    ("enable_thinking=False", "--disable-thinking"),
    ("raise max_tokens", "raise --max-tokens"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qwen-vlm",
        description="Run a Qwen vision-language model on images and print typed results.",
        epilog="Keys: --api-key, or the OPENROUTER_API_KEY / OPENAI_API_KEY environment variables.",
    )
    p.add_argument("--version", action="version", version=f"qwen-vlm {__version__}")
    p.add_argument(
        "task",
        metavar="TASK",
        help=f"what to do: {', '.join(TASKS)}, a registered task's name, or module:Object",
    )
    p.add_argument("images", nargs="+", help="image paths or http(s) URLs")
    add_model_options(p.add_argument_group("model"))
    add_task_options(p.add_argument_group("task"))
    media = p.add_argument_group("inputs")
    media.add_argument(
        "--together", action="store_true", help="ask about all the images at once (one question, one answer)"
    )
    media.add_argument(
        "--fps", type=float, default=2.0, help="frames sampled per second of video (default 2)"
    )
    media.add_argument(
        "--max-frames", type=int, default=64, help="most frames sampled from a video (default 64)"
    )
    media.add_argument(
        "--window",
        default=None,
        help="ask about a long video in parts of this many seconds ('auto': what --max-frames covers)",
    )
    media.add_argument("--refine", action="store_true", help="locate_events: look again closer at each event")
    gen = p.add_argument_group("generation")
    gen.add_argument("--max-tokens", type=int, default=None)
    gen.add_argument("--temperature", type=float, default=None)
    gen.add_argument(
        "--no-constrained",
        dest="constrained",
        action="store_false",
        help="generate detect/point/classify/extract answers without a grammar",
    )
    thinking = gen.add_mutually_exclusive_group()
    thinking.add_argument("--enable-thinking", dest="thinking", action="store_const", const=True)
    thinking.add_argument("--disable-thinking", dest="thinking", action="store_const", const=False)
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON object per image")
    out.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="write drawn results (detect, point, ocr) as PNGs to DIR (or the --export dataset)",
    )
    out.add_argument(
        "--export",
        default=None,
        choices=("coco", "yolo", "voc", "folders", "csv"),
        help="write the results as a dataset to --output DIR (detect: coco/yolo/voc; classify: folders/csv)",
    )
    out.add_argument(
        "--cache",
        default=None,
        metavar="PATH",
        help="a result store file: finished results are kept; a run again sends only what is missing",
    )
    return p


def _expand(images: Sequence[str]) -> list[str]:
    """Image arguments with every folder replaced by the image files in it (sorted)."""
    from .images import IMAGE_SUFFIXES

    out: list[str] = []
    for item in images:
        folder = Path(item).expanduser()
        if not item.startswith(("http://", "https://")) and folder.is_dir():
            found = sorted(str(f) for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ConfigurationError(f"folder {item!r} holds no image files")
            out.extend(found)
        else:
            out.append(item)
    return out


def _check_images(images: Sequence[str]) -> None:
    """Fail on the first unreadable image before any model loads (one line, naming it)."""
    from .images import check_url, load_image
    from .video import VideoError, is_video_path

    for i, image in enumerate(images):
        index = i if len(images) > 1 else None
        if image[:8].lower().startswith(("http://", "https:/")):
            check_url(image, index)
        elif is_video_path(image):
            if not Path(image).expanduser().is_file():
                raise VideoError(f"video file {image!r} not found", index)
        else:
            load_image(image, index)


def _inputs(args: argparse.Namespace) -> Any:
    """The images as given, videos (by their file names) as Video, all as one group with --together."""
    from .groups import Images
    from .video import Video, is_video_path

    items: list[Any] = [
        Video(i, fps=args.fps, max_frames=args.max_frames) if is_video_path(i) else i for i in args.images
    ]
    if args.together:
        return Images(*items)
    return items[0] if len(items) == 1 else items


def _window_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--window`` (seconds or ``auto``) and ``--refine``, as call options."""
    options: dict[str, Any] = {}
    if args.window is not None:
        try:
            options["window"] = args.window if args.window == "auto" else float(args.window)
        except ValueError:
            raise ConfigurationError(f"--window takes seconds or 'auto', not {args.window!r}") from None
    if args.refine:
        options["refine"] = True
    return options


def _show(result: Result, name: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"image": name, **result.to_dict()}, ensure_ascii=False, default=str))
        return
    print(f"== {name}")
    if result.error:
        print(f"error: {result.error}")
    elif isinstance(result, Detections):
        for det in result.detections:
            print(f"{det.label}\t" + " ".join(f"{v:.1f}" for v in det.xyxy))
    elif isinstance(result, Points):
        for point in result.points:
            print(f"{point.label}\t{point.xy[0]:.1f} {point.xy[1]:.1f}")
    elif isinstance(result, MultiLabelClassification):
        print(", ".join(result.labels) or "(none)")
    elif isinstance(result, Classification):
        print(result.label)
    elif isinstance(result, Extraction):
        print(json.dumps(result.to_dict()["data"], ensure_ascii=False, indent=2))
    elif isinstance(result, Events):
        for event in result.events:
            print(f"{event.label}\t{event.start:.1f}-{event.end:.1f} s")
        if not result.events:
            print("(none)")
    elif isinstance(result, TextResult):
        print(result.text)
    else:  # a custom task's result: its own fields
        print(json.dumps(own_data(result), ensure_ascii=False, indent=2, default=str))
    if result.thinking:
        print(f"(thinking: {len(result.thinking)} characters)")


def _save_drawing(result: Result, name: str, index: int, folder: Path) -> Path | None:
    drawable = isinstance(result, (Detections, Points, Events)) or (
        isinstance(result, TextResult) and bool(result.regions)
    )
    if not drawable or not result.ok:
        return None
    stem = Path(name).stem if not name.lower().startswith(("http://", "https://")) else f"image{index}"
    target = folder / f"{index:04d}-{stem}.png"
    result.draw().save(target)  # type: ignore[attr-defined]
    return target


def _shell(message: str) -> str:
    for python_words, shell_words in _SHELL_WORDS:
        message = message.replace(python_words, shell_words)
    return " ".join(message.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 a failed image or request, 2 bad usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:  # `qwen-vlm run TASK ...` is `qwen-vlm TASK ...`
        argv = argv[1:]
    if argv[:1] == ["evaluate"]:
        from .evaluation.command import main as evaluate_main

        return evaluate_main(argv[1:])
    if argv[:1] == ["finetune"]:
        from ._cli_finetune import main as finetune_main

        return finetune_main(argv[1:])
    if argv[:1] == ["parse-document"]:
        from ._cli_documents import main as documents_main

        return documents_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        task = task_of(args)
        params = task_params(args, task)
        args.images = _expand(args.images)
        _check_images(args.images)  # before any model load or request
        if args.export and not args.output:
            raise ConfigurationError("--export needs --output DIR, the folder to write the dataset to")
        folder = Path(args.output) if args.output else None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        from .client import QwenVLM

        vlm = QwenVLM(args.model, constrained=args.constrained, cache=args.cache, **client_options(args))
        single = len(args.images) == 1 or args.together
        out = vlm.run(
            task,
            _inputs(args),
            **params,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            enable_thinking=args.thinking,
            **_window_options(args),
        )
        results: list[Result] = [out] if single else out
    except QwenVLMError as exc:
        return report_error("qwen-vlm", exc, _shell)
    except OSError as exc:  # --output not writable...
        print(f"qwen-vlm: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    names = [" + ".join(args.images)] if args.together else args.images
    for index, (name, result) in enumerate(zip(names, results, strict=True)):
        _show(result, name, args.json)
        if folder is not None and not args.export:
            saved = _save_drawing(result, name, index, folder)
            if saved is not None and not args.json:
                print(f"(drawn: {saved})")
    if args.export and folder is not None:
        return _export(results, folder, args.export)
    return 0 if all(r.ok for r in results) else 1


def _export(results: list[Result], folder: Path, format: str) -> int:
    from .exporting import export

    try:
        report = export(results, folder, format)  # type: ignore[arg-type]
    except ConfigurationError as exc:
        print(f"qwen-vlm: {_shell(str(exc))}", file=sys.stderr)
        return 2
    failed = len(report.failed)
    print(f"(exported {report.exported} images as {format} to {folder}; {failed} failed, see report.json)")
    return 0 if not report.failed else 1


def run() -> None:
    """Console-script entry point."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())


if __name__ == "__main__":
    run()
