"""``qwen-vlm parse-document FILE_OR_FOLDER -o OUT``: documents to Markdown (or HTML or JSON) from the shell.

A folder is read for its PDFs and images (not recursively). One file per document is written to the
output folder, named after the document, with ``--to``'s suffix. With ``--cache`` every page is stored
as it settles: a job stopped at any moment and run again sends only the pages not yet stored. Exit
status: 0 every page read, 1 a page or document failed, 2 bad usage (nothing was sent).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._cli_options import add_model_options, client_options, report_error
from .errors import ConfigurationError, QwenVLMError

__all__ = ["main"]

#: File endings read from a folder.
DOCUMENT_EXTENSIONS = (".pdf", ".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


def _parser() -> argparse.ArgumentParser:
    from .tasks.documents import DOCUMENT_FORMATS

    p = argparse.ArgumentParser(
        prog="qwen-vlm parse-document",
        description="Read PDFs or images page by page into Markdown with layout (one file per document).",
    )
    p.add_argument("source", help="a PDF, an image, or a folder of them")
    p.add_argument("-o", "--output", required=True, help="the folder to write each document to")
    p.add_argument("--format", default=None, help=f"the answer format: {', '.join(DOCUMENT_FORMATS)}")
    p.add_argument("--pages", default=None, help="pages to read, e.g. 1-3,7 (default: all)")
    p.add_argument("--to", default="md", choices=("md", "html", "json"), help="the files written (md)")
    p.add_argument("--longest-side", type=int, default=None, help="pixels of a rendered page's longest side")
    p.add_argument("--cache", default=None, help="a result store file: each page stored as it settles")
    p.add_argument("--max-tokens", type=int, default=None)
    add_model_options(p.add_argument_group("model"))
    return p


def page_selection(text: str | None) -> list[int] | None:
    """``"1-3,7"`` as ``[1, 2, 3, 7]``.

    Raises:
        ConfigurationError: Anything else.
    """
    if text is None:
        return None
    pages: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            pages.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise ConfigurationError(
            f"--pages takes page numbers and ranges such as 1-3,7, not {text!r}"
        ) from None
    return pages


def _sources(source: str) -> list[Path]:
    path = Path(source).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in DOCUMENT_EXTENSIONS and p.is_file())
        if not found:
            raise ConfigurationError(f"{source!r} holds no PDF or image")
        return found
    return [path]


def main(argv: Sequence[str]) -> int:
    """Run ``qwen-vlm parse-document``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        sources = _sources(args.source)
        pages = page_selection(args.pages)
        from .client import QwenVLM

        vlm = QwenVLM(args.model, cache=args.cache, **client_options(args))
        options: dict[str, Any] = {"max_tokens": args.max_tokens} if args.max_tokens else {}
        documents = vlm.parse_document(
            [str(s) for s in sources],
            format=args.format,
            pages=pages,
            longest_side=args.longest_side,
            **options,
        )
    except QwenVLMError as exc:
        return report_error("qwen-vlm parse-document", exc)
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    for source, document in zip(sources, documents, strict=True):
        if document.error is not None:
            print(f"{source}: {document.error}", file=sys.stderr)
            continue
        target = document.save(folder / f"{source.stem}.{args.to}")
        failed = [p.number for p in document.pages if not p.ok]
        note = f"; pages {failed} failed" if failed else ""
        print(f"{source} -> {target} ({len(document.pages)} pages{note})")
    return 0 if all(d.ok for d in documents) else 1
