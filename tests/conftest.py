"""Fixtures shared by the test modules that run tiny random-weight checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny checkpoints of every family (built once per session, offline): family name → folder."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from qwen_vlm.tiny import build_tiny_checkpoint

    root = tmp_path_factory.mktemp("tiny")
    families = ("qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen2_vl")
    paths = {family: build_tiny_checkpoint(root / family, family) for family in families}
    paths["qwen3_vl_thinking"] = build_tiny_checkpoint(root / "thinking", "qwen3_vl", thinking=True)
    return paths


@pytest.fixture
def generate_inputs() -> Callable[[Any], dict[str, Any]]:
    """``generate_inputs(vlm)``: a dict that fills with what the local model's ``generate`` is given."""

    def watch(vlm: Any) -> dict[str, Any]:
        model = vlm.backend.model
        seen: dict[str, Any] = {}
        original = model.generate

        def capture(**kwargs: Any) -> Any:
            seen.update(kwargs)
            return original(**kwargs)

        model.generate = capture
        return seen

    return watch


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray instance (2 CPUs) for one test module, rows kept in order, no progress bars."""
    import os

    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()
