"""Several images in one question: :class:`Images`.

A plain list keeps meaning a batch (one question per image). ``Images(a, b)`` is *one* input made of
several pictures, asked about together — two labels to compare, a reference and a query, the pages of
a document. A batch of groups is a list of ``Images``.
"""

from __future__ import annotations

from collections.abc import Iterator

from .errors import ConfigurationError
from .images import ImageInput, is_image_input
from .video import Video

__all__ = ["MAX_GROUP_IMAGES", "Images", "is_single_input"]

#: Most images one group may hold (a guard; servers and GPUs have their own, lower limits).
MAX_GROUP_IMAGES = 64


class Images:
    """An ordered group of images asked about in one question.

    Args:
        *images: Two or more images (anything a task method accepts as one image), in the order the
            model should see them; a single list or tuple of them works too.

    Raises:
        ConfigurationError: For an empty group, a nested group, or more than :data:`MAX_GROUP_IMAGES`.

    Example:
        >>> from qwen_vlm import Images
        >>> group = Images("label_a.jpg", "label_b.jpg")
        >>> len(group)
        2
    """

    __slots__ = ("items",)

    def __init__(self, *images: ImageInput) -> None:
        if len(images) == 1 and isinstance(images[0], (list, tuple)):
            images = tuple(images[0])
        if not images:
            raise ConfigurationError("Images() needs at least one image")
        if len(images) > MAX_GROUP_IMAGES:
            raise ConfigurationError(
                f"Images() holds at most {MAX_GROUP_IMAGES} images, got {len(images)}; split the question"
            )
        for k, image in enumerate(images):
            if isinstance(image, (Images, list, tuple)):
                raise ConfigurationError(
                    f"image {k + 1} of the group is a {type(image).__name__}; groups hold images, not groups"
                )
        self.items: tuple[ImageInput, ...] = tuple(images)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[ImageInput]:
        return iter(self.items)

    def __getitem__(self, index: int) -> ImageInput:
        return self.items[index]

    def __repr__(self) -> str:
        return f"Images({len(self.items)} images)"


def is_single_input(obj: object) -> bool:
    """Whether ``obj`` is one input (an image, a group or a video), as opposed to a batch of them."""
    return isinstance(obj, (Images, Video)) or is_image_input(obj)
