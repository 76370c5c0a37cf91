"""Progress bars for batches (tqdm)."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(total: int, progress: bool | None, desc: str, unit: str = "img") -> Any:
    """A tqdm bar for a batch, or ``None``.

    Shown when asked, or by default for batches in notebooks and terminals; a widget in Jupyter when
    ipywidgets is installed, text otherwise.
    """
    show = (
        progress
        if progress is not None
        else (total > 1 and ("ipykernel" in sys.modules or sys.stderr.isatty()))
    )
    if not show:
        return None
    import importlib.util

    if "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]  # a widget (the `notebook` extra)
    else:
        # Text bar: tqdm.auto without ipywidgets warns "IProgress not found" in every notebook.
        from tqdm.std import tqdm  # type: ignore[import-untyped]
    return tqdm(total=total, desc=desc, unit=unit)
