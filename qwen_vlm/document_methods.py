"""The sync client's ``parse_document`` (:class:`~qwen_vlm.QwenVLM` has it).

The pages are planned and read by :mod:`qwen_vlm.engine.pages`; each page is a call of its own through
the client's ``_call`` (store, retries, concurrency). ``async_document_methods.py`` is generated from the
region below by ``scripts/generate_async_client.py`` (a test fails when it is stale).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, overload

from typing_extensions import Unpack

from .engine.call import CallOptions
from .engine.pages import page_side, plan_documents, read_documents, resolve_format
from .errors import BatchError, ConfigurationError
from .image_refs import ImageRef
from .results import Document
from .tasks import Task

__all__ = ["DocumentMethods", "run_documents"]

#: A PDF (path or bytes) or one image; a list of them for several documents.
Source = str | os.PathLike[str] | bytes | Any
#: Asks about page images: ``(task, images, options) -> one Page per image``.
AskPages = Callable[[Task, list[Any], dict[str, Any]], list[Any]]


def run_documents(
    client: Any,
    source: Any,
    format: str | Task | None,
    pages: Any,
    longest_side: int | None,
    options: dict[str, Any],
    ask: AskPages,
) -> Any:
    """``parse_document`` for either client: checks, plan, pages read, strict mode (``ask`` sends).

    Raises:
        ConfigurationError: A bad format, option or page selection (before anything is sent).
        DocumentError: A single document that cannot be read.
        BatchError: With ``strict``, when a page failed (carrying every document).
    """
    single = not isinstance(source, (list, tuple))
    sources: Sequence[Any] = [source] if single else list(source)
    task = resolve_format(format, client.model)
    options = dict(options)
    progress = options.pop("progress", None)
    strict = bool(options.pop("strict", False))
    if any(name in options for name in ("window", "window_overlap", "refine")):
        raise ConfigurationError("window= and refine= are for videos, not parse_document")
    client._settings(task, {}, options)  # every option checked before anything is read
    page_side(task, longest_side)
    jobs = plan_documents(sources, single, pages)
    inner = {**options, "progress": False, "strict": False}
    backend = client.backend
    capabilities = client.capabilities
    size_of = capabilities.input_size  # resizes and encodes a page once, ahead of sending it
    documents = read_documents(
        jobs,
        task,
        lambda images, opts: ask(task, images, opts),
        options=inner,
        longest_side=longest_side,
        workers=max(1, int(backend.max_concurrency)),
        batch=max(1, int(backend.max_batch_size)),
        progress=progress,
        model=client.model,
        warm=None
        if size_of is None
        else (lambda image: size_of(ImageRef(None, _image=image, _size=image.size))),
        factor=client.info.spec.factor,
        budget=capabilities.pixel_budget if longest_side is None else None,  # as asked, when asked
    )
    if strict:
        failed = [k for k, document in enumerate(documents) if not document.ok]
        if failed:
            exceptions = [p.exception for d in documents for p in d.pages if p.exception is not None]
            raise BatchError(documents, failed, exceptions)
    return documents[0] if single else documents


class DocumentMethods:
    """``parse_document``, for :class:`~qwen_vlm.QwenVLM`."""

    def _call(self, task: Any, images: Any, params: dict[str, Any], options: CallOptions) -> Any:
        raise NotImplementedError  # the client's own

    def _call_documents(
        self, source: Any, format: Any, pages: Any, longest_side: int | None, options: dict[str, Any]
    ) -> Any:
        """Pages asked about in this thread pool, each page a ``_call``."""
        return run_documents(
            self,
            source,
            format,
            pages,
            longest_side,
            options,
            lambda task, images, opts: self._call(task, images, {}, opts),  # type: ignore[arg-type]
        )

    # <twin:begin> The async twin's methods are generated from the lines up to <twin:end>
    # (scripts/generate_async_client.py; a test fails when async_document_methods.py is stale).
    @overload
    def parse_document(
        self,
        source: list[Any] | tuple[Any, ...],
        *,
        format: str | Task | None = None,
        pages: int | range | Sequence[int] | None = None,
        longest_side: int | None = None,
        **options: Unpack[CallOptions],
    ) -> list[Document]: ...
    @overload
    def parse_document(
        self,
        source: Source,
        *,
        format: str | Task | None = None,
        pages: int | range | Sequence[int] | None = None,
        longest_side: int | None = None,
        **options: Unpack[CallOptions],
    ) -> Document: ...
    def parse_document(
        self,
        source: Any,
        *,
        format: str | Task | None = None,
        pages: int | range | Sequence[int] | None = None,
        longest_side: int | None = None,
        **options: Unpack[CallOptions],
    ) -> Any:
        """Read a PDF (or an image) page by page into a :class:`Document`: Markdown with its layout.

        Args:
            source: A PDF (a path, ``pathlib.Path`` or bytes) or one image (anything ``detect`` takes);
                a list of them gives a list of documents, in order.
            format: ``"qwenvl-html"``, ``"qwenvl-markdown"``, ``"olmocr"``, ``"dots"``, ``"markdown"``,
                or your own format (a :class:`~qwen_vlm.tasks.documents.DocumentFormat`). Default: the
                model's own (olmOCR and dots.ocr checkpoints theirs, other Qwen-VL models QwenVL HTML).
            pages: Which pages (1-based): an int, a range or a list (default: all). A page out of range
                is a :class:`~qwen_vlm.ConfigurationError` before anything is sent.
            longest_side: Pixels of a rendered page's longest side (default 1288 for ``olmocr`` and
                ``markdown``, as olmOCR renders; 1600 for the others; a default the client's pixel
                budget would shrink is lowered to fit it, so pages go as rendered).
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``,
                ``cache`` (see :class:`CallOptions`): each page is stored as it settles, so a job run
                again sends only the pages not yet stored.

        Returns:
            A :class:`Document` (``.pages``, ``.markdown``, ``.to_html()``, ``.save(path)``); a document
            that cannot be read, in a list, is a Document with ``error`` set.
        """
        return self._call_documents(source, format, pages, longest_side, dict(options))

    # <twin:end>
