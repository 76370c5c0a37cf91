"""Close the loop: training data in each family's own coordinates, and a LoRA fine-tune to evaluate.

``qwen_vlm.export(results_or_dataset, out, format="sft", model=..., task=...)`` writes chat records whose
targets the SDK's own parser reads back into the labels (:mod:`.sft`, :mod:`.targets`);
:func:`finetune` trains on them with TRL and PEFT (:mod:`.tuning`); ``evaluate([base, tuned], ...)``
compares before and after. Importing this package imports neither torch nor TRL.
"""

from __future__ import annotations

from .sft import SFT_SHAPES, export_sft
from .tuning import LANGUAGE_LINEAR, FinetuneResult, finetune

__all__ = ["LANGUAGE_LINEAR", "SFT_SHAPES", "FinetuneResult", "export_sft", "finetune"]
