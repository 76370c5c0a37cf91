"""`import qwen_vlm` stays light: no torch, transformers or openai."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, qwen_vlm, qwen_vlm.testing\n"
        "heavy = [m for m in ('torch', 'transformers', 'openai', 'torchvision', 'qwen_vl_utils', 'numpy')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_importtime_shows_no_heavy_module() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import qwen_vlm"], capture_output=True, text=True
    )
    modules = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert "qwen_vlm" in modules
    assert not modules & {"torch", "transformers", "openai", "torchvision"}


def test_public_api_names() -> None:
    import qwen_vlm

    for name in ("QwenVLM", "AsyncQwenVLM", "parse", "Detections", "Detection", "Points", "TextResult"):
        assert name in qwen_vlm.__all__
    assert qwen_vlm.__version__


def test_the_new_extras_and_the_store_load_on_first_use() -> None:
    code = (
        "import sys, qwen_vlm\n"
        "lazy = ['pycocotools', 'sklearn', 'jiwer', 'supervision', 'matplotlib', 'yaml', 'sqlite3',\n"
        "        'asyncio', 'qwen_vlm.evaluation', 'qwen_vlm.exporting', 'qwen_vlm.store']\n"
        "print(','.join(m for m in lazy if m in sys.modules))\n"
        "qwen_vlm.evaluate, qwen_vlm.export, qwen_vlm.to_detection_dataset\n"
        "print('qwen_vlm.evaluation' in sys.modules and 'qwen_vlm.exporting' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["", "True"]
