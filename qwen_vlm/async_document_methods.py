"""The async client's ``parse_document`` (:class:`~qwen_vlm.AsyncQwenVLM` has it).

The method below is generated from ``document_methods.py`` by ``scripts/generate_async_client.py``; the
rest is written here: the pages are planned and rendered in a worker thread, and each page's call runs
on the client's event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from typing_extensions import Unpack

from .document_methods import Source, run_documents
from .engine.call import CallOptions
from .results import Document
from .tasks import Task

__all__ = ["AsyncDocumentMethods"]


class AsyncDocumentMethods:
    """``parse_document``, for :class:`~qwen_vlm.AsyncQwenVLM`."""

    async def _call(self, task: Any, images: Any, params: dict[str, Any], options: CallOptions) -> Any:
        raise NotImplementedError  # the client's own

    async def _call_documents(
        self, source: Any, format: Any, pages: Any, longest_side: int | None, options: dict[str, Any]
    ) -> Any:
        """The page pipeline in a worker thread; each page's call on this event loop."""
        import asyncio  # not at import time: `import qwen_vlm` stays light

        loop = asyncio.get_running_loop()

        def ask(task: Task, images: list[Any], opts: dict[str, Any]) -> list[Any]:
            call = self._call(task, images, {}, opts)  # type: ignore[arg-type]
            return asyncio.run_coroutine_threadsafe(call, loop).result()  # type: ignore[no-any-return]

        return await asyncio.to_thread(run_documents, self, source, format, pages, longest_side, options, ask)

    # <twin:begin> generated from document_methods.py by scripts/generate_async_client.py: do not edit
    @overload
    async def parse_document(
        self,
        source: list[Any] | tuple[Any, ...],
        *,
        format: str | Task | None = None,
        pages: int | range | Sequence[int] | None = None,
        longest_side: int | None = None,
        **options: Unpack[CallOptions],
    ) -> list[Document]: ...
    @overload
    async def parse_document(
        self,
        source: Source,
        *,
        format: str | Task | None = None,
        pages: int | range | Sequence[int] | None = None,
        longest_side: int | None = None,
        **options: Unpack[CallOptions],
    ) -> Document: ...
    async def parse_document(
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
        return await self._call_documents(source, format, pages, longest_side, dict(options))

    # <twin:end>
