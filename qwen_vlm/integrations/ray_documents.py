"""Documents over a Ray Data dataset: documents as rows, pages as the unit of work.

:func:`parse_documents` turns a dataset with one document per row (PDF paths, PDF bytes as
:func:`ray.data.read_binary_files` gives them, or images) into one row per document, reading each page
as its own piece of work::

    import ray
    from qwen_vlm.integrations.ray_documents import parse_documents, to_documents

    ds = ray.data.read_binary_files("s3://bucket/reports/", include_paths=True)
    out = parse_documents(ds, "allenai/olmOCR-2-7B-1025", source_column="bytes", concurrency=4,
                          client_options={"backend": "openai", "base_url": "http://vllm:8000/v1"})
    out.write_parquet("s3://bucket/markdown/")          # markdown, pages (JSON), ok, error per document
    documents = to_documents(out.take_all())            # back to qwen_vlm.Document objects

Three stages, streamed by Ray: CPU tasks open each document and render its pages (one row per page, a
PNG), actors holding one :class:`~qwen_vlm.QwenVLM` each read batches of pages (with the retries
``parse_document`` makes: turned pages, loops), and a group-by on the document puts its pages back in
order. A page is therefore the unit Ray schedules, retries and (with ``client_options={"cache": ...}``)
stores: a job run again sends only the pages not yet stored. ``group=False`` stops after the pages: one
row per page.

A document that cannot be read (not a PDF or an image, damaged, locked, a page out of range) is a row
with ``error`` set, never a failed job. Importing this module does not import ray.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..client import QwenVLM
from ..engine.pages import format_name, page_side, read_pages, render_page, resolve_format
from ..errors import ConfigurationError, MissingDependencyError, QwenVLMError
from ..geometry import PixelBudget
from ..pdf import PdfFile, open_document, page_numbers
from ..results import Document, Page
from ..store.codec import decode, encode
from ..tasks import Task
from .ray import common_row, common_types

__all__ = ["DOCUMENT_COLUMNS", "PAGE_COLUMNS", "DocumentPagePredictor", "parse_documents", "to_documents"]

#: Columns each page row gets (``group=False``), besides the input row's own.
PAGE_COLUMNS = (
    "document",
    "page",
    "page_count",
    "markdown",
    "text",
    "error",
    "error_type",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "rotation",
    "attempts",
    "result",
)
#: Columns each document row gets, besides the input row's own.
DOCUMENT_COLUMNS = (
    "document",
    "page_count",
    "markdown",
    "pages",
    "ok",
    "error",
    "failed_pages",
    "prompt_tokens",
    "completion_tokens",
)
_IMAGE = "__qwen_vlm_page_image"


def _key(source: Any) -> str:
    """A document's identity: its path, or a digest of its bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(bytes(source)).hexdigest()
    return str(source)


def _page_types() -> dict[str, Any]:
    import pyarrow as pa

    count = pa.int64()
    return {
        "document": pa.string(),
        "page": count,
        "page_count": count,
        "markdown": pa.string(),
        **common_types(),
        "rotation": count,
        "attempts": count,
        "result": pa.string(),
    }


class _Renderer:
    """Documents (one per row) to pages (one per row, a PNG): runs as Ray CPU tasks."""

    def __init__(self, column: str, pages: Any, side: int, factor: int, budget: PixelBudget | None) -> None:
        self.column, self.pages, self.side, self.factor, self.budget = column, pages, side, factor, budget

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa

        carried = [n for n in table.column_names if n != self.column or pa.types.is_string(table[n].type)]
        rows: list[dict[str, Any]] = []
        for index, row in enumerate(table.to_pylist()):
            source = row[self.column]
            common = {"__row": index, "document": _key(source)}
            try:
                opened = open_document(source)
                count = opened.page_count if isinstance(opened, PdfFile) else 1
                name = opened.name if isinstance(opened, PdfFile) else "the image"
                numbers = page_numbers(self.pages, count, name)
            except (QwenVLMError, ValueError) as exc:
                rows.append(
                    {**common, "page": 0, "page_count": 0, "error": str(exc), "error_type": _kind(exc)}
                )
                continue
            for number in numbers:
                entry: dict[str, Any] = {**common, "page": number, "page_count": count}
                try:
                    image = render_page(opened, number, self.side, self.factor, self.budget)
                    buffer = io.BytesIO()
                    image.save(buffer, format="PNG", compress_level=1)
                    entry[_IMAGE] = buffer.getvalue()
                except QwenVLMError as exc:
                    entry.update(error=str(exc), error_type=_kind(exc))
                rows.append(entry)
            if isinstance(opened, PdfFile):
                opened.close()
        kept = table.select(carried).take(pa.array([r["__row"] for r in rows], pa.int64()))
        types = _page_types()
        columns = {n: kept[n] for n in carried}
        for name in ("document", "page", "page_count", "error", "error_type"):
            columns[name] = pa.array([r.get(name) for r in rows], types[name])
        columns[_IMAGE] = pa.array([r.get(_IMAGE) for r in rows], pa.binary())
        return pa.table(columns)


def _kind(exc: BaseException) -> str:
    return type(exc).__name__


class DocumentPagePredictor:
    """A callable class for ``Dataset.map_batches``: one client per actor, reading rendered pages.

    Args:
        format: The document format (a task; resolved by :func:`parse_documents`).
        model: The model id.
        call_options: Per-call options (``max_tokens``, ``temperature``, ``enable_thinking``).
        **client_options: ``QwenVLM`` options (``backend``, ``base_url``, ``cache``...).
    """

    def __init__(
        self, format: Task, model: str | None, call_options: Mapping[str, Any], **client_options: Any
    ) -> None:
        self.task = format
        self.options = {**dict(call_options), "progress": False, "strict": False}
        self.vlm = QwenVLM(model, **client_options)

    def __call__(self, table: Any) -> Any:
        """Read one batch of page rows (a ``pyarrow.Table``); page columns added, the image dropped."""
        import pyarrow as pa
        from PIL import Image

        rows = table.to_pylist()
        todo = [k for k, row in enumerate(rows) if row.get(_IMAGE) is not None]
        images = [Image.open(io.BytesIO(rows[k][_IMAGE])).convert("RGB") for k in todo]
        numbers = [int(rows[k]["page"]) for k in todo]
        ask = lambda batch, options: self.vlm.run(self.task, batch, **options)  # noqa: E731
        read = read_pages(images, numbers, ask, self.options) if todo else []
        for k, page in zip(todo, read, strict=True):
            rows[k].update(_page_row(page))
        types = _page_types()
        own = set(types) | {_IMAGE}
        columns = {n: table[n] for n in table.column_names if n not in own}
        for name, kind in types.items():
            columns[name] = pa.array([row.get(name) for row in rows], kind)
        return pa.table(columns)


def _page_row(page: Page) -> dict[str, Any]:
    return {
        "markdown": page.markdown,
        **common_row(page),
        "rotation": page.rotation,
        "attempts": page.attempts,
        "result": encode(page),
    }


def _assemble(table: Any, format: str, model: str) -> Any:
    """A document's page rows (one group of the group-by) as its document row."""
    import pyarrow as pa

    rows = sorted(table.to_pylist(), key=lambda row: int(row["page"]))
    document = _document(rows, format, model)
    carried = [n for n in table.column_names if n not in _page_types()]
    columns = {n: table[n].slice(0, 1) for n in carried}
    usage = [p.usage for p in document.pages if p.usage is not None]
    values = {
        "document": (rows[0]["document"], pa.string()),
        "page_count": (document.page_count, pa.int64()),
        "markdown": (document.markdown if document.error is None else None, pa.string()),
        "pages": (json.dumps([json.loads(encode(p)) for p in document.pages]), pa.string()),
        "ok": (document.ok, pa.bool_()),
        "error": (document.error, pa.string()),
        "failed_pages": ([p.number for p in document.pages if not p.ok], pa.list_(pa.int64())),
        "prompt_tokens": (sum(u.prompt_tokens or 0 for u in usage) if usage else None, pa.int64()),
        "completion_tokens": (sum(u.completion_tokens or 0 for u in usage) if usage else None, pa.int64()),
    }
    for name, (value, kind) in values.items():
        columns[name] = pa.array([value], kind)
    return pa.table(columns)


def _document(rows: list[dict[str, Any]], format: str, model: str) -> Document:
    """A document from its page rows (``page`` 0: the document could not be read)."""
    if rows and int(rows[0]["page"]) == 0:
        return Document(source=rows[0]["document"], format=format, model=model, error=rows[0]["error"])
    pages = []
    for row in rows:
        if row.get("result"):
            pages.append(_page(row["result"]))
        else:  # a page that could not be rendered
            pages.append(Page(number=int(row["page"]), error=row["error"], attempts=0, format=format))
    count = int(rows[0]["page_count"]) if rows else 0
    return Document(pages=tuple(pages), source=rows[0]["document"] if rows else None, format=format,
                    model=model, page_count=count)  # fmt: skip


def _page(encoded: str) -> Page:
    page = decode(encoded)
    if not isinstance(page, Page):
        raise ConfigurationError("a 'result' value that is not a document page")
    return page


def to_documents(rows: Iterable[Mapping[str, Any]], *, format: str = "", model: str = "") -> list[Document]:
    """:class:`~qwen_vlm.Document` objects from :func:`parse_documents`' output rows, in order.

    Document rows, or page rows (``group=False``); documents come in the order they first appear.

    Args:
        rows: Dicts, as ``Dataset.take_all()`` or ``pyarrow.Table.to_pylist()`` give them.
        format: The format name to record (page rows do not carry it).
        model: The model id to record.

    Raises:
        ConfigurationError: Rows that are neither.
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if "document" not in row:
            raise ConfigurationError("rows without a 'document' column: not parse_documents' output")
        grouped.setdefault(str(row["document"]), []).append(dict(row))
    documents = []
    for group in grouped.values():
        first = group[0]
        if "pages" in first:  # one document row
            pages = tuple(_page(json.dumps(p)) for p in json.loads(first["pages"] or "[]"))
            found = [p.format for p in pages if p.format]
            documents.append(
                Document(pages=pages, source=first["document"], format=format or (found[0] if found else ""),
                         model=model, page_count=int(first["page_count"] or 0), error=first["error"])
            )  # fmt: skip
        else:
            documents.append(_document(sorted(group, key=lambda r: int(r["page"])), format, model))
    return documents


def parse_documents(
    dataset: Any,
    model: str | None = None,
    *,
    source_column: str = "path",
    format: str | Task | None = None,
    pages: int | range | list[int] | None = None,
    longest_side: int | None = None,
    group: bool = True,
    batch_size: int = 4,
    concurrency: int | tuple[int, int] = 1,
    num_gpus: float | None = None,
    num_cpus: float | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    enable_thinking: bool | None = None,
    client_options: Mapping[str, Any] | None = None,
    ray_remote_args: Mapping[str, Any] | None = None,
) -> Any:
    """Read every document of a Ray Data dataset, page by page (lazy: nothing runs until consumed).

    Args:
        dataset: A ``ray.data.Dataset`` with one document per row.
        model: The model id (``None``: the backend's default).
        source_column: The column holding each document: a PDF path, PDF bytes, or an image.
        format: The document format, as for ``parse_document`` (default: the model's own).
        pages: Which pages of each document (1-based; default all). A page a document does not have
            makes that document's row an error.
        longest_side: Pixels of a rendered page's longest side (default: the format's, lowered to fit
            the client's pixel budget, as ``parse_document`` does).
        group: One row per document (default); ``False``: one row per page (``document``, ``page``...).
        batch_size: Pages per call of one actor.
        concurrency: Actors reading pages (or a ``(min, max)`` range); each holds one client.
        num_gpus: GPUs per actor (the local backend on GPU nodes).
        num_cpus: CPUs per actor.
        max_tokens: Per-page token budget.
        temperature: Sampling temperature (a looping page is asked again at 0.2 or more).
        enable_thinking: Switch reasoning on or off.
        client_options: ``QwenVLM`` options (``backend``, ``base_url``, ``max_concurrent_requests``,
            ``cache``: each page is stored as it settles, so a job run again sends only the rest).
        ray_remote_args: More ``map_batches`` arguments for the actors (``max_restarts``...).

    Returns:
        The new dataset: the input columns (a binary source column dropped) plus
        :data:`DOCUMENT_COLUMNS` (``group=True``) or :data:`PAGE_COLUMNS` (``group=False``).

    Raises:
        MissingDependencyError: If ray is not installed.
        ConfigurationError: A bad format, option or ``pages=`` (checked before any task starts).
    """
    try:
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError("ray", "ray", "qwen_vlm.integrations.ray_documents") from None
    options = dict(client_options or {})
    probe_options = {k: v for k, v in options.items() if k != "cache"}
    if probe_options.get("backend", "local") == "local":
        probe_options["lazy"] = True  # the driver only needs the model's facts, not its weights
    probe = QwenVLM(model, **probe_options)
    task = resolve_format(format, probe.model)
    side = page_side(task, longest_side)
    try:  # the selection's shape, checked now (each document's own range: in its row)
        if pages is not None:
            page_numbers(pages, max([pages] if isinstance(pages, int) else [1, *pages]), "the documents")
    except (ConfigurationError, TypeError, ValueError):
        raise ConfigurationError(
            f"pages={pages!r}: pages are an int, a range or a list of page numbers from 1"
        ) from None
    calls = {"max_tokens": max_tokens, "temperature": temperature, "enable_thinking": enable_thinking}
    call_options = {k: v for k, v in calls.items() if v is not None}
    probe._settings(task, {}, dict(call_options))  # type: ignore[arg-type]  # checked here, not per actor
    resources = {k: v for k, v in (("num_gpus", num_gpus), ("num_cpus", num_cpus)) if v is not None}
    budget = probe.capabilities.pixel_budget if longest_side is None else None  # as parse_document
    rendered = dataset.map_batches(
        _Renderer(source_column, pages, side, probe.info.spec.factor, budget),
        batch_size=1,
        batch_format="pyarrow",
    )
    read = rendered.map_batches(
        DocumentPagePredictor,
        fn_constructor_args=(task, model, call_options),
        fn_constructor_kwargs=options,
        batch_size=batch_size,
        batch_format="pyarrow",
        concurrency=concurrency,
        **resources,
        **dict(ray_remote_args or {}),
    )
    if not group:
        return read
    name, model_id = format_name(task), probe.model

    def assemble(table: Any) -> Any:  # map_groups wants a function (it reads __name__)
        return _assemble(table, name, model_id)

    return read.groupby("document").map_groups(assemble, batch_format="pyarrow")
