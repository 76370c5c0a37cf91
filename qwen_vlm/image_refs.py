"""Validated image inputs (:class:`ImageRef`): every input checked up front, its pixels read when needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import ImageError
from .images import ImageInput, check_url, load_image

__all__ = ["RELEASE_PIXELS_ABOVE", "ImageRef", "prepare_images"]


#: Batches larger than this keep re-readable inputs (paths, bytes, data URLs) compressed after checking
#: them, decoding each again when it is sent, so memory stays bounded however many images are passed.
RELEASE_PIXELS_ABOVE = 8


@dataclass
class ImageRef:
    """A validated image input.

    http(s) URLs stay undownloaded until pixels are needed. In large batches, inputs that can be read
    again (paths, bytes, ``data:`` URLs) are decoded once to check them, then kept compressed and decoded
    again on use.

    Attributes:
        index: Position in the batch (``None`` for a single image).
        url: The http(s) URL when the input was one.
        error: Why the input could not be read (only in a list; nothing is sent for it).
    """

    index: int | None
    url: str | None = None
    error: ImageError | None = None
    #: For a :class:`~qwen_vlm.Video` input: its sampled frames (this ref is the first frame's).
    clip: Any = field(default=None, repr=False)
    _image: Image.Image | None = field(default=None, repr=False)
    _source: ImageInput = field(default=None, repr=False)
    _size: tuple[int, int] | None = field(default=None, repr=False)

    @property
    def loaded(self) -> bool:
        """Whether the pixels are available without a download (in memory, or re-readable locally)."""
        return self._image is not None or self._size is not None

    def pil(self) -> Image.Image:
        """The RGB image (a URL is downloaded on first use and kept).

        Raises:
            ImageError: If the download or decoding fails.
        """
        if self._image is not None:
            return self._image
        if self.url is not None:
            self._image = load_image(self.url, self.index)
            self._size = self._image.size
            return self._image
        try:
            return load_image(self._source, self.index)
        except ImageError as exc:
            exc.whole_call = False  # it passed the check up front: failing now concerns this image only
            raise

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the original image (downloads a URL if needed)."""
        return self._size if self._size is not None else self.pil().size


def prepare_images(images: Sequence[ImageInput], *, single: bool, keep_going: bool = False) -> list[ImageRef]:
    """Validate every input up front, so a bad one fails before anything is sent or loaded.

    Args:
        images: The inputs.
        single: Whether the user passed one image (error messages then carry no index).
        keep_going: Record an unreadable input's :class:`ImageError` in its ref's ``error`` (a per-image
            failure) instead of raising.

    Returns:
        One :class:`ImageRef` per input, in order.

    Raises:
        ImageError: Naming the first bad input (unless ``keep_going``).
    """
    refs: list[ImageRef] = []
    release = len(images) > RELEASE_PIXELS_ABOVE
    for i, image in enumerate(images):
        index = None if single else i
        try:
            if isinstance(image, str) and image[:8].lower().startswith(("http://", "https:/")):
                check_url(image, index)
                refs.append(ImageRef(index, url=image))
                continue
            pixels = load_image(image, index)
        except ImageError as exc:
            if not keep_going:
                raise
            exc.whole_call = False
            refs.append(ImageRef(index, error=exc))
            continue
        rereadable = isinstance(image, (str, Path, bytes))
        if release and rereadable:
            refs.append(ImageRef(index, _source=image, _size=pixels.size))
        else:
            refs.append(ImageRef(index, _image=pixels, _size=pixels.size))
    return refs
