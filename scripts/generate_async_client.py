"""Generate AsyncQwenVLM's task methods from QwenVLM's (as huggingface_hub does for its async client).

    python scripts/generate_async_client.py          # rewrite qwen_vlm/async_client.py
    python scripts/generate_async_client.py --check  # exit 1 when it is stale (run by the test suite)

The region between ``# <twin:begin>`` and ``# <twin:end>`` in ``qwen_vlm/client.py`` is copied into the
same region of ``qwen_vlm/async_client.py`` with every method made ``async`` and every
``return self._call(...)`` awaited, then formatted with ruff.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYNC = ROOT / "qwen_vlm" / "client.py"
ASYNC = ROOT / "qwen_vlm" / "async_client.py"
BEGIN, END = "    # <twin:begin>", "    # <twin:end>"
NOTICE = "    # <twin:begin> generated from client.py by scripts/generate_async_client.py: do not edit"


def region(text: str) -> tuple[int, int]:
    start = text.index(BEGIN)
    start = text.index("\n", start) + 1
    while text[start:].startswith("    # "):  # the marker's own comment lines
        start = text.index("\n", start) + 1
    return start, text.index(END)


def transform(methods: str) -> str:
    methods = re.sub(r"(?m)^(    )def ", r"\1async def ", methods)
    methods = methods.replace("return self._call(", "return await self._call(")
    return methods


def generate() -> str:
    sync = SYNC.read_text()
    start, end = region(sync)
    methods = transform(sync[start:end])
    current = ASYNC.read_text()
    a_start = current.index(BEGIN)
    a_end = current.index(END)
    text = current[:a_start] + NOTICE + "\n" + methods + current[a_end:]
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(ASYNC), "-"],
        input=text, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    return formatted


def main() -> int:
    fresh = generate()
    if "--check" in sys.argv:
        if ASYNC.read_text() != fresh:
            print("qwen_vlm/async_client.py is stale: run python scripts/generate_async_client.py")
            return 1
        return 0
    ASYNC.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
