"""The sync and async clients cannot drift: one source for the task methods, checked here."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_vlm import AsyncQwenVLM, QwenVLM

ROOT = Path(__file__).parent.parent
# Lifecycle methods differ by nature (close vs aclose, __enter__ vs __aenter__).
SYNC_ONLY = {"__enter__", "__exit__"}
ASYNC_ONLY = {"aclose", "__aenter__", "__aexit__"}


def public(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if (not name.startswith("_") or name in SYNC_ONLY | ASYNC_ONLY) and name not in ("__init__",)
    }


def test_the_async_client_is_generated_from_the_sync_one() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_async_client.py"), "--check"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_same_public_methods_and_signatures() -> None:
    sync, asyn = public(QwenVLM), public(AsyncQwenVLM)
    assert set(sync) - SYNC_ONLY == set(asyn) - ASYNC_ONLY
    for name in sorted(set(sync) - SYNC_ONLY):
        a, b = sync[name], asyn[name]
        if isinstance(a, property):
            assert isinstance(b, property), name
            continue
        sig_a, sig_b = inspect.signature(a), inspect.signature(b)  # type: ignore[arg-type]
        if name == "stream":  # the same parameters; a Stream vs an AsyncStream
            assert sig_a.parameters == sig_b.parameters
            assert (sig_a.return_annotation, sig_b.return_annotation) == ("Stream[Any]", "AsyncStream[Any]")
            continue
        assert sig_a == sig_b, name
        if name not in ("close", "stream"):  # stream returns an (async) iterator at once, in both
            assert inspect.iscoroutinefunction(b), f"AsyncQwenVLM.{name} must be a coroutine function"
            assert not inspect.iscoroutinefunction(a), name


@pytest.mark.parametrize("name", ["detect", "extract", "caption", "classify"])
def test_the_twins_share_docstrings(name: str) -> None:
    assert inspect.getdoc(getattr(QwenVLM, name)) == inspect.getdoc(getattr(AsyncQwenVLM, name))


def test_no_client_module_is_over_400_lines() -> None:
    for module in ("engine/core.py", "client.py", "async_client.py"):
        assert len((ROOT / "qwen_vlm" / module).read_text().splitlines()) <= 400, module
