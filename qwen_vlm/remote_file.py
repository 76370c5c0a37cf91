"""A remote file read through HTTP range requests: seekable, so a video's reader fetches only what it reads.

:class:`RangedFile` is a read-only, seekable file over an http(s) URL. It asks the server for the file's
size with a one-byte range request; a server that answers ranges gets one request per block read (blocks
of :data:`BLOCK_BYTES`, the most recent :data:`MAX_BLOCKS` kept), so sampling a few frames of a large video
reads a small part of it. :func:`open_ranged` returns ``None`` for a server without range support (the
caller then downloads the file whole, within the usual cap). The URL checks of :mod:`qwen_vlm.images`
apply first.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import Any

from .errors import ImageError
from .images import DOWNLOAD_TIMEOUT, check_url

__all__ = ["BLOCK_BYTES", "MAX_BLOCKS", "RangedFile", "open_ranged"]

#: Bytes fetched per range request.
BLOCK_BYTES = 256 * 1024
#: Blocks kept in memory (the most recently read): at most ``BLOCK_BYTES * MAX_BLOCKS`` bytes.
MAX_BLOCKS = 64


def _get(url: str, start: int, end: int) -> tuple[int, dict[str, str], bytes]:
    """``GET`` bytes ``start``..``end`` (inclusive): the status, headers and body."""
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "qwen-vlm", "Range": f"bytes={start}-{end}"})
    with urllib.request.urlopen(request, timeout=min(DOWNLOAD_TIMEOUT, 10.0)) as response:
        if response.status != 206:  # the server ignored the range: do not read the whole file here
            return response.status, dict(response.headers), b""
        return response.status, dict(response.headers), response.read(end - start + 1)


class RangedFile(io.RawIOBase):
    """A remote file, read block by block through range requests (``size``: its length in bytes).

    Attributes:
        requests: Range requests made so far.
        fetched: Bytes received so far.
    """

    def __init__(self, url: str, size: int, index: int | None = None) -> None:
        super().__init__()
        self.url, self.size, self.index = url, size, index
        self.position = 0
        self.requests = 0
        self.fetched = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def readable(self) -> bool:
        """Always."""
        return True

    def seekable(self) -> bool:
        """Always."""
        return True

    def tell(self) -> int:
        """The current position."""
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (``SEEK_SET``, ``SEEK_CUR``, ``SEEK_END``); nothing is fetched."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def _block(self, number: int) -> bytes:
        if number in self._blocks:
            self._blocks.move_to_end(number)
            return self._blocks[number]
        start = number * BLOCK_BYTES
        end = min(self.size, start + BLOCK_BYTES) - 1
        try:
            status, _, body = _get(self.url, start, end)
        except Exception as exc:
            raise ImageError(
                f"reading {self.url[:100]} failed ({type(exc).__name__}: {exc})", self.index
            ) from None
        if status != 206 or len(body) != end - start + 1:
            raise ImageError(f"{self.url[:100]}: the server stopped answering byte ranges", self.index)
        self.requests += 1
        self.fetched += len(body)
        self._blocks[number] = body
        while len(self._blocks) > MAX_BLOCKS:
            self._blocks.popitem(last=False)
        return body

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the current position (fetching the blocks it spans)."""
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), max(0, self.size - self.position))
        done = 0
        while done < wanted:
            number, offset = divmod(self.position, BLOCK_BYTES)
            block = self._block(number)
            piece = block[offset : offset + wanted - done]
            view[done : done + len(piece)] = piece
            done += len(piece)
            self.position += len(piece)
        return done


def open_ranged(url: str, index: int | None = None) -> io.BufferedReader | None:
    """A seekable reader of ``url`` through range requests, or ``None`` when the server does not take them.

    Raises:
        ImageError: A malformed URL, or a failed request.
    """
    import urllib.error

    check_url(url, index)
    try:
        status, headers, _ = _get(url, 0, 0)
    except urllib.error.HTTPError as exc:
        raise ImageError(f"downloading {url[:100]} failed with HTTP {exc.code}", index) from None
    except Exception as exc:
        raise ImageError(f"downloading {url[:100]} failed ({type(exc).__name__}: {exc})", index) from None
    content_range = {k.lower(): v for k, v in headers.items()}.get("content-range", "")
    total = content_range.rsplit("/", 1)[-1] if status == 206 else ""
    if not total.isdigit() or int(total) <= 0:
        return None
    return io.BufferedReader(RangedFile(url, int(total), index), buffer_size=64 * 1024)
