"""Batches for fine-tuning: the prompt exactly as the SDK sends it, loss on the assistant's answer only.

Each record is rendered the way the local backend renders a request — the chat template over one user
message (the image, then the prompt) with the generation prompt added — and the answer follows it,
closed by the model's end-of-turn token. Every label before the answer (system line, image tokens,
prompt, the assistant header) and every pad is ``-100``: only the answer, and the token that ends it,
carry loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = ["SFTCollator", "answer_of", "prompt_of"]

#: The label that carries no loss (PyTorch's cross-entropy ``ignore_index``).
IGNORE = -100


def prompt_of(record: Mapping[str, Any]) -> str:
    """The user turn's text of a ``messages`` record."""
    content = record["messages"][0]["content"]
    if isinstance(content, str):
        return content.replace("<image>", "")
    return "".join(part.get("text") or "" for part in content if part.get("type") == "text")


def answer_of(record: Mapping[str, Any]) -> str:
    """The assistant turn's text of a ``messages`` record."""
    content = record["messages"][1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content if part.get("type") == "text")


class SFTCollator:
    """Turns ``messages`` records into a batch with labels (for TRL's ``SFTTrainer``).

    Args:
        processor: The model's processor.
        root: The folder image paths are relative to.
        image_kwargs: Processor options for images (the pixel bounds).
    """

    def __init__(self, processor: Any, root: Path, image_kwargs: Mapping[str, Any]) -> None:
        self.processor = processor
        self.root = root
        self.image_kwargs = dict(image_kwargs)
        self.end = processor.tokenizer.eos_token or "<|im_end|>"
        processor.tokenizer.padding_side = "right"

    def texts(self, record: Mapping[str, Any]) -> tuple[str, str]:
        """``(prompt, whole)``: the rendered prompt, and the prompt followed by the answer."""
        message = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt_of(record)}]}
        ]
        prompt = self.processor.apply_chat_template(message, tokenize=False, add_generation_prompt=True)
        return prompt, prompt + answer_of(record) + self.end

    def image(self, record: Mapping[str, Any]) -> Image.Image:
        """The record's image (a path relative to ``root``, or absolute)."""
        path = Path(record["images"][0])
        return Image.open(path if path.is_absolute() else self.root / path).convert("RGB")

    def __call__(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """A batch: the processor's inputs and ``labels`` (``-100`` outside the answers)."""
        pairs = [self.texts(r) for r in records]
        images = [[self.image(r)] for r in records]
        batch = self.processor(
            text=[whole for _, whole in pairs],
            images=images,
            padding=True,
            return_tensors="pt",
            **self.image_kwargs,
        )
        prompts = self.processor(
            text=[prompt for prompt, _ in pairs],
            images=images,
            padding=True,
            return_tensors="pt",
            **self.image_kwargs,
        )
        labels = batch["input_ids"].clone()
        labels[batch["attention_mask"] == 0] = IGNORE
        for row, length in enumerate(prompts["attention_mask"].sum(dim=1).tolist()):
            labels[row, : int(length)] = IGNORE  # right-padded: the prompt is the first `length` tokens
        return {**batch, "labels": labels}
