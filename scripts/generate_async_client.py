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
#: (hand-written sync module, generated async twin)
PAIRS = [
    (ROOT / "qwen_vlm" / "client.py", ROOT / "qwen_vlm" / "async_client.py"),
    (ROOT / "qwen_vlm" / "screen_methods.py", ROOT / "qwen_vlm" / "async_screen_methods.py"),
    (ROOT / "qwen_vlm" / "document_methods.py", ROOT / "qwen_vlm" / "async_document_methods.py"),
]
SYNC, ASYNC = PAIRS[0]
BEGIN, END = "    # <twin:begin>", "    # <twin:end>"


def region(text: str) -> tuple[int, int]:
    start = text.index(BEGIN)
    start = text.index("\n", start) + 1
    while text[start:].startswith("    # "):  # the marker's own comment lines
        start = text.index("\n", start) + 1
    return start, text.index(END)


def transform(methods: str) -> str:
    methods = re.sub(r"(?m)^(    )def ", r"\1async def ", methods)
    methods = re.sub(r"return self\._call(\w*)\(", r"return await self._call\1(", methods)
    return methods


def generate(sync_path: Path = PAIRS[0][0], async_path: Path = PAIRS[0][1]) -> str:
    sync = sync_path.read_text()
    start, end = region(sync)
    methods = transform(sync[start:end])
    current = async_path.read_text()
    a_start = current.index(BEGIN)
    a_end = current.index(END)
    notice = f"{BEGIN} generated from {sync_path.name} by scripts/generate_async_client.py: do not edit"
    text = current[:a_start] + notice + "\n" + methods + current[a_end:]
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(async_path), "-"],
        input=text, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    return formatted


def main() -> int:
    stale = []
    for sync_path, async_path in PAIRS:
        fresh = generate(sync_path, async_path)
        if "--check" in sys.argv:
            if async_path.read_text() != fresh:
                stale.append(async_path)
        else:
            async_path.write_text(fresh)
    for path in stale:
        print(f"qwen_vlm/{path.name} is stale: run python scripts/generate_async_client.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
