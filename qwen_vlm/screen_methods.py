"""The sync client's screen methods, ``ground`` and ``act`` (:class:`~qwen_vlm.QwenVLM` has them).

Kept apart from ``client.py`` to keep each module small; ``async_screen_methods.py`` is generated from the
region below by ``scripts/generate_async_client.py`` (a test fails when it is stale).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from typing_extensions import Unpack

from .engine.call import CallOptions
from .engine.core import ImageBatch
from .images import ImageInput
from .results import Action, Target

__all__ = ["ScreenMethods"]


class ScreenMethods:
    """``ground`` and ``act``, for :class:`~qwen_vlm.QwenVLM`."""

    def _call(self, task: Any, images: Any, params: dict[str, Any], options: CallOptions) -> Any:
        raise NotImplementedError  # the client's own

    # <twin:begin> The async twin's methods are generated from the lines up to <twin:end>
    # (scripts/generate_async_client.py; a test fails when async_screen_methods.py is stale).
    @overload
    def ground(self, image: ImageBatch, instruction: str, **options: Unpack[CallOptions]) -> list[Target]: ...
    @overload
    def ground(self, image: ImageInput, instruction: str, **options: Unpack[CallOptions]) -> Target: ...
    def ground(self, image: Any, instruction: str, **options: Unpack[CallOptions]) -> Any:
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
        return self._call("ground", image, {"instruction": instruction}, options)

    @overload
    def act(
        self,
        image: ImageBatch,
        instruction: str,
        *,
        history: Sequence[Any] | None = None,
        platform: str = "desktop",
        **options: Unpack[CallOptions],
    ) -> list[Action]: ...
    @overload
    def act(
        self,
        image: ImageInput,
        instruction: str,
        *,
        history: Sequence[Any] | None = None,
        platform: str = "desktop",
        **options: Unpack[CallOptions],
    ) -> Action: ...
    def act(
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
        return self._call("act", image, params, options)

    # <twin:end>
