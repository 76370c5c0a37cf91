"""The examples in the docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module", ["qwen_vlm.testing", "qwen_vlm.interop", "qwen_vlm.tiny", "qwen_vlm.client"]
)
def test_docstring_examples(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if module == "qwen_vlm.tiny":
        pytest.importorskip("torch")
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if module == "qwen_vlm.interop":
        pytest.importorskip("pandas")
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if module != "qwen_vlm.client":  # the client's examples need a model (+SKIP)
        assert result.attempted > 0
