"""Evaluation on your own labelled data: choose a model, prompt or backend by the numbers.

``qwen_vlm.evaluate(clients, dataset, task=...)`` runs every client over the same labelled images (with
the clients' own batching, concurrency, progress bars and failure marking) and scores them with
well-kept libraries: detection mAP@50:95, mAP@50 and per-class AP with pycocotools (boxes ranked by
their confidence), classification accuracy and macro-F1 with scikit-learn, OCR character error rate
with jiwer. Needs ``pip install "qwen-vlm[eval]"``.

* :mod:`.samples`: labelled data in memory; :mod:`.datasets` and :mod:`.pairs`: reading and checking it;
* :mod:`.metrics`: the metrics;
* :mod:`.run`: :func:`evaluate`;
* :mod:`.report`: :class:`Evaluation` and :class:`EvaluationRun`.
"""

from __future__ import annotations

from .datasets import load_dataset
from .report import Evaluation, EvaluationRun
from .run import evaluate
from .samples import Box, LabelledSet, Sample

__all__ = ["Box", "Evaluation", "EvaluationRun", "LabelledSet", "Sample", "evaluate", "load_dataset"]
