"""The async client's screen methods, ``ground`` and ``act`` (:class:`~qwen_vlm.AsyncQwenVLM` has them).

Generated from ``screen_methods.py`` by ``scripts/generate_async_client.py``: edit that file, not this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from typing_extensions import Unpack

from .engine.call import CallOptions
from .engine.core import ImageBatch
from .images import ImageInput
from .results import Action, Target

__all__ = ["AsyncScreenMethods"]


class AsyncScreenMethods:
    """``ground`` and ``act``, for :class:`~qwen_vlm.AsyncQwenVLM`."""

    async def _call(self, task: Any, images: Any, params: dict[str, Any], options: CallOptions) -> Any:
        raise NotImplementedError  # the client's own

    # <twin:begin> generated from screen_methods.py by scripts/generate_async_client.py: do not edit
    @overload
    async def ground(
        self, image: ImageBatch, instruction: str, **options: Unpack[CallOptions]
    ) -> list[Target]: ...
    @overload
    async def ground(self, image: ImageInput, instruction: str, **options: Unpack[CallOptions]) -> Target: ...
    async def ground(self, image: Any, instruction: str, **options: Unpack[CallOptions]) -> Any:
        """Find the one element an instruction names on a screenshot (ScreenSpot style).

        Args:
            image: A screenshot, or a list of them (then a list of results, same order).
            instruction: What to find, e.g. ``"the Save button"``.
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            A :class:`Target`: ``xy`` in pixels of the screenshot (a box answer gives its centre and
            keeps the box), with a confidence where token probabilities come back.
        """
        return await self._call("ground", image, {"instruction": instruction}, options)

    @overload
    async def act(
        self,
        image: ImageBatch,
        instruction: str,
        *,
        history: Sequence[Any] | None = None,
        platform: str = "desktop",
        **options: Unpack[CallOptions],
    ) -> list[Action]: ...
    @overload
    async def act(
        self,
        image: ImageInput,
        instruction: str,
        *,
        history: Sequence[Any] | None = None,
        platform: str = "desktop",
        **options: Unpack[CallOptions],
    ) -> Action: ...
    async def act(
        self,
        image: Any,
        instruction: str,
        *,
        history: Sequence[Any] | None = None,
        platform: str = "desktop",
        **options: Unpack[CallOptions],
    ) -> Any:
        """The model's next action on a screen, as the family's computer-use tool call, typed.

        Args:
            image: A screenshot, or a list of them (then a list of results, same order).
            instruction: The task, e.g. ``"Open the settings and turn on dark mode"``.
            history: The actions already taken (:class:`Action` objects, or step descriptions), oldest
                first; sent as the cookbooks do.
            platform: ``"desktop"`` (the ``computer_use`` tool) or ``"mobile"`` (``mobile_use``).
            **options: ``max_tokens``, ``temperature``, ``enable_thinking``, ``strict``, ``progress``
                (see :class:`CallOptions`).

        Returns:
            An :class:`Action` (``kind``, ``point``/``end`` in pixels of the screenshot, ``content``,
            ``keys``...), or one with ``error`` set when the answer held no valid call.
        """
        params = {"instruction": instruction, "history": history, "platform": platform}
        return await self._call("act", image, params, options)

    # <twin:end>
