"""``python -m qwen_vlm``: the ``qwen-vlm`` command."""

from .cli import run

if __name__ == "__main__":
    run()
