"""Documents read page by page: pages rendered while earlier ones are being read, retried, assembled.

``parse_document`` plans here and runs each page as a call of its own (through the result store, so a
page is stored as soon as it settles and a job run again sends only the pages not yet stored). One
thread renders pages in order, a turn ahead (:class:`~.ahead.RenderAhead`); ``workers`` threads (the
backend's concurrency) take up to ``batch`` pages each and ask about them, so rendering hides behind
waiting for answers; a second thread prepares each rendered page (the backend's encoding of it, then
its thumbnail) while the next one is rendered, so no worker does that work between an answer and its
next request. A page is asked again when its answer says it is turned (olmOCR's
``rotation_correction``: the image turned by PIL's ``Transpose.ROTATE_<degrees>`` as olmOCR's pipeline
turns it, at most three times) or when the answer loops (once, at temperature 0.2, as olmOCR raises
the temperature of its retries).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ..errors import ConfigurationError, QwenVLMError
from ..geometry import PixelBudget
from ..options import check_int
from ..pdf import MAX_PAGE_PIXELS, DocumentError, PdfFile, open_document, page_numbers
from ..progress import progress_bar
from ..results import Document, Page
from ..tasks import Task, get_task
from ..tasks.documents import DOCUMENT_FORMATS, DocumentFormat, default_format
from .ahead import RenderAhead, in_background

__all__ = [
    "DEFAULT_LONGEST_SIDE",
    "MAX_LONGEST_SIDE",
    "DocumentJob",
    "format_name",
    "page_side",
    "plan_documents",
    "read_documents",
    "read_pages",
    "render_page",
    "resolve_format",
    "thumbnail",
]

#: Longest side pages are rendered at, by format (olmOCR's pipeline renders at 1288).
DEFAULT_LONGEST_SIDE = {"olmocr": 1288, "markdown": 1288}
#: Longest side for other formats.
LONGEST_SIDE = 1600
#: Largest ``longest_side=`` taken (a long, narrow page at 8192 x 2048 is ``MAX_PAGE_PIXELS``).
MAX_LONGEST_SIDE = 8192
#: Most times a page is turned and asked again.
MAX_ROTATIONS = 3
#: Temperature of the one retry of a page whose answer looped.
RETRY_TEMPERATURE = 0.2
#: Longest side of the picture a page keeps for display.
THUMBNAIL = 320
_TURNS = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}

#: Asks about pages: ``(images, options) -> one Page per image``.
Ask = Callable[[list[Image.Image], dict[str, Any]], list[Any]]


def resolve_format(format: str | Task | None, model: str) -> Task:
    """The task ``format`` names (``None``: the model's own format).

    Raises:
        ConfigurationError: An unknown format, or a task whose result is not a Page.
    """
    if format is None:
        return DOCUMENT_FORMATS[default_format(model)]
    if isinstance(format, str) and format in DOCUMENT_FORMATS:
        return DOCUMENT_FORMATS[format]
    try:
        task = get_task(format)
    except ConfigurationError:
        raise ConfigurationError(
            f"unknown document format {format!r}; formats: {', '.join(DOCUMENT_FORMATS)}, or a Task "
            "whose result is a Page"
        ) from None
    if not issubclass(task.result, Page):
        raise ConfigurationError(f"{task.label} is not a document format (its result is not a Page)")
    return task


@dataclass
class DocumentJob:
    """One document of a call: what it is, which pages to read, and its pages once read."""

    index: int
    source: Any
    opened: PdfFile | Image.Image | None
    numbers: list[int]
    error: QwenVLMError | None = None
    pages: dict[int, Page] = dataclasses.field(default_factory=dict)

    @property
    def count(self) -> int:
        """Pages in the whole document."""
        return self.opened.page_count if isinstance(self.opened, PdfFile) else 1

    def render(
        self, number: int, longest_side: int, factor: int = 1, budget: PixelBudget | None = None
    ) -> Image.Image:
        """Page ``number``'s image (see :func:`render_page`)."""
        assert self.opened is not None
        return render_page(self.opened, number, longest_side, factor, budget)


def render_page(
    opened: PdfFile | Image.Image,
    number: int,
    longest_side: int,
    factor: int = 1,
    budget: PixelBudget | None = None,
) -> Image.Image:
    """Page ``number``'s image (an image source is its own page 1, at its own size).

    A PDF page is rendered with its longest side ``longest_side`` rounded down to a multiple of
    ``factor`` (the model's pixels per visual token side), its other side padded with white up to a
    multiple of it: the image is then sent as rendered, without a resize. ``budget``: the backend's
    pixel budget; a page larger than it is rendered smaller, at a size within it (not rendered large
    and then resized: text drawn at its size is sharper, and nothing is done twice).

    Raises:
        DocumentError: The page cannot be rendered.
    """
    if not isinstance(opened, PdfFile):
        return opened
    fit = budget.fit if budget is not None else None
    return opened.render(number, max(factor, longest_side - longest_side % factor), factor, fit)


def page_side(task: Task, longest_side: int | None) -> int:
    """The longest side pages are rendered at: ``longest_side`` or the format's default.

    Raises:
        ConfigurationError: A ``longest_side`` that is not a positive int, or over
            :data:`MAX_LONGEST_SIDE`.
    """
    side = check_int("longest_side", longest_side)
    if side is not None and side > MAX_LONGEST_SIDE:
        raise ConfigurationError(
            f"longest_side must be at most {MAX_LONGEST_SIDE} pixels, got {side} (no Qwen-VL model "
            f"takes more than {MAX_PAGE_PIXELS:,} pixels a page; larger pages are drawn within that)"
        )
    return side or DEFAULT_LONGEST_SIDE.get(format_name(task), LONGEST_SIDE)


def plan_documents(sources: Sequence[Any], single: bool, pages: Any) -> list[DocumentJob]:
    """Every document opened and its pages chosen, before anything is sent.

    Raises:
        ConfigurationError: A page out of range (for any document), a bad ``pages=``.
        DocumentError: A single document that cannot be read (in a list: that document's failure).
    """
    jobs = []
    for i, source in enumerate(sources):
        index = None if single else i
        try:
            opened = open_document(source, index)
        except DocumentError as exc:
            if single:
                raise
            jobs.append(DocumentJob(i, source, None, [], error=exc))
            continue
        count = opened.page_count if isinstance(opened, PdfFile) else 1
        name = opened.name if isinstance(opened, PdfFile) else "the image"
        jobs.append(DocumentJob(i, source, opened, page_numbers(pages, count, name)))
    return jobs


def read_documents(
    jobs: list[DocumentJob],
    task: Task,
    ask: Ask,
    *,
    options: dict[str, Any],
    longest_side: int | None,
    workers: int,
    batch: int,
    progress: bool | None,
    model: str,
    warm: Callable[[Image.Image], Any] | None = None,
    factor: int = 1,
    budget: PixelBudget | None = None,
) -> list[Document]:
    """Every page of every job read (rendering overlapping the reading); one Document per job, in order.

    ``warm``: called by the preparing thread with each page image, so that what a backend does to an
    image before sending it (the OpenAI-compatible backend resizes and encodes it once, then reuses it) is
    done ahead, while the workers wait for answers; a worker sends a page once its ``warm`` is done.
    ``budget``: the backend's pixel budget, pages rendered within it (see :func:`render_page`).
    """
    side = page_side(task, longest_side)
    work = [(job, number) for job in jobs if job.error is None for number in job.numbers]
    workers = max(1, min(workers, -(-len(work) // batch)))  # no thread without a page to read
    ahead = RenderAhead(workers * batch)
    bar = progress_bar(len(work), progress, f"parse_document ({format_name(task)})", unit="page")
    failure: list[BaseException] = []

    def render() -> None:
        in_background()  # the prepare thread it starts too
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="qwen-vlm-prepare") as preparing:
                for job, number in work:
                    if not ahead.wait_for_room():
                        break
                    try:
                        image = job.render(number, side, factor, budget)
                        warmed = preparing.submit(warm, image) if warm is not None else None
                        small = preparing.submit(thumbnail, image)  # after: a sender waits for warm only
                        item: Any = (job, number, image, (warmed, small), None)
                    except QwenVLMError as exc:  # this page's failure
                        item = (job, number, None, None, exc)
                    ahead.put(item)
        except BaseException as exc:  # not a page's failure (out of memory...): stop everything
            failure.append(exc)
            ahead.stop()
        finally:
            ahead.finish()

    def work_loop() -> None:
        while taken := ahead.take(batch):
            try:
                _read(taken, ask, options)
            except BaseException as exc:  # a whole-call error (bad key...): stop everything
                failure.append(exc)
                ahead.stop()
                return
            if bar is not None:
                bar.update(len(taken))

    threads = [threading.Thread(target=work_loop, name=f"qwen-vlm-page-{k}") for k in range(workers)]
    for thread in threads:  # before the renderer: starting them no longer slows the first pages
        thread.start()
    renderer = threading.Thread(target=render, name="qwen-vlm-render", daemon=True)
    renderer.start()
    for thread in threads:
        thread.join()
    ahead.stop()  # a renderer waiting for room stops
    renderer.join()
    if bar is not None:
        bar.close()
    if failure:
        raise failure[0]
    return [_document(job, task, model) for job in jobs]


def format_name(task: Task) -> str:
    """The format's name (``"olmocr"``...; a custom page task's own name)."""
    return task.format if isinstance(task, DocumentFormat) else task.name


def thumbnail(image: Image.Image) -> Image.Image:
    """The picture a page keeps for display: longest side about :data:`THUMBNAIL` (a box filter: fast)."""
    return image.reduce(max(1, max(image.size) // THUMBNAIL))


def _read(items: list[Any], ask: Ask, options: dict[str, Any]) -> None:
    """Ask about rendered pages together, then settle each (turned or looping pages asked again)."""
    readable = []
    for job, number, image, prepared, error in items:
        if error is None:
            warmed, small = prepared
            try:
                if warmed is not None:
                    warmed.result()
                readable.append((job, number, image, small))
                continue
            except QwenVLMError as exc:  # the backend refused the image (too large to send...)
                error = exc
        job.pages[number] = Page(number=number, error=str(error), exception=error, attempts=0)
    if not readable:
        return
    read = read_pages(
        [image for _, _, image, _ in readable],
        [number for _, number, _, _ in readable],
        ask,
        options,
        thumbnails=[small for _, _, _, small in readable],
    )
    for (job, number, _, _), page in zip(readable, read, strict=True):
        job.pages[number] = page


def read_pages(
    images: list[Image.Image],
    numbers: list[int],
    ask: Ask,
    options: dict[str, Any],
    *,
    thumbnails: Sequence[Image.Image | Future[Image.Image]] | None = None,
) -> list[Page]:
    """Rendered pages asked about together, then each settled (turned or looping pages asked again).

    ``thumbnails``: the pages' thumbnails when already made, or being made (see :func:`thumbnail`).
    """
    first = ask(images, options)
    return [
        _settle(page, image, number, ask, options, thumbnails[k] if thumbnails is not None else None)
        for k, (image, number, page) in enumerate(zip(images, numbers, first, strict=True))
    ]


def _settle(
    page: Page,
    image: Image.Image,
    number: int,
    ask: Ask,
    options: dict[str, Any],
    small: Image.Image | Future[Image.Image] | None = None,
) -> Page:
    """A page's final result: turned and asked again while it says it is turned; asked once more on a loop."""
    rotation, attempts, sent = 0, 1, image
    turns = 0
    while page.ok and page.suggested_rotation and turns < MAX_ROTATIONS:
        rotation = (rotation + page.suggested_rotation) % 360
        sent = image.transpose(_TURNS[rotation]) if rotation else image
        page = ask([sent], options)[0]
        attempts += 1
        turns += 1
    if not page.ok and "loops" in (page.error or ""):
        page = ask(
            [sent], {**options, "temperature": max(RETRY_TEMPERATURE, options.get("temperature") or 0)}
        )[0]
        attempts += 1
    if isinstance(small, Future):
        small = small.result()
    if small is None or rotation:
        small = thumbnail(sent)
    return dataclasses.replace(
        page, number=number, rotation=rotation, attempts=attempts, image_size=sent.size, source=small
    )


def _document(job: DocumentJob, task: Task, model: str) -> Document:
    name = format_name(task)
    if job.error is not None:
        return Document(source=job.source, format=name, model=model, error=str(job.error))
    if isinstance(job.opened, PdfFile):
        job.opened.close()
    pages = tuple(job.pages[number] for number in job.numbers if number in job.pages)
    return Document(pages=pages, source=job.source, format=name, model=model, page_count=job.count)
