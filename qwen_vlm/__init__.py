"""qwen_vlm: run Qwen vision-language models on images and get typed results.

>>> from qwen_vlm import QwenVLM                       # doctest: +SKIP
>>> vlm = QwenVLM("Qwen/Qwen3-VL-2B-Instruct")         # doctest: +SKIP
>>> vlm.detect("cats.jpg", ["cat"])                    # doctest: +SKIP

Importing this package loads neither torch, transformers nor openai; they load when a backend that needs
them is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .backends import Backend, Capabilities, GenerationRequest, GenerationResponse
from .client import AsyncQwenVLM, CallOptions, QwenVLM
from .errors import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    BatchError,
    ConfigurationError,
    DatasetError,
    ImageError,
    ImageResizedError,
    InsufficientCreditsError,
    MissingDependencyError,
    ModelNotFoundError,
    OutOfMemoryError,
    OutputParseError,
    QwenVLMError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TokenLimitError,
    TruncatedOutputError,
)
from .groups import Images
from .interop import to_dataframe
from .models import ModelInfo, list_models
from .pdf import DocumentError
from .results import (
    BLOCK_CATEGORIES,
    Action,
    Block,
    Classification,
    Detection,
    Detections,
    Document,
    Event,
    Events,
    Extraction,
    MultiLabelClassification,
    Page,
    Point,
    Points,
    Result,
    Target,
    TextRegion,
    TextResult,
    Usage,
)
from .tasks import Answer, Task, get_task, parse, register_task
from .video import Video, VideoError
from .video_budget import VideoBudget, video_budget

__all__ = [
    "BLOCK_CATEGORIES",
    "Action",
    "Answer",
    "AsyncQwenVLM",
    "AuthenticationError",
    "Backend",
    "BackendError",
    "BadRequestError",
    "BatchError",
    "Block",
    "CallOptions",
    "Capabilities",
    "Classification",
    "ConfigurationError",
    "DatasetError",
    "Detection",
    "Detections",
    "Document",
    "DocumentError",
    "Evaluation",
    "Event",
    "Events",
    "ExportReport",
    "Extraction",
    "FinetuneResult",
    "GenerationRequest",
    "GenerationResponse",
    "ImageError",
    "ImageResizedError",
    "Images",
    "InsufficientCreditsError",
    "MissingDependencyError",
    "ModelInfo",
    "ModelNotFoundError",
    "MultiLabelClassification",
    "OutOfMemoryError",
    "OutputParseError",
    "Page",
    "Point",
    "Points",
    "QwenVLM",
    "QwenVLMError",
    "RateLimitError",
    "RequestTimeoutError",
    "Result",
    "ServerError",
    "Target",
    "Task",
    "TextRegion",
    "TextResult",
    "TokenLimitError",
    "TruncatedOutputError",
    "Usage",
    "Video",
    "VideoBudget",
    "VideoError",
    "__version__",
    "evaluate",
    "export",
    "finetune",
    "get_task",
    "list_models",
    "parse",
    "register_task",
    "to_dataframe",
    "to_detection_dataset",
    "video_budget",
]

if TYPE_CHECKING:
    from .evaluation import Evaluation, evaluate
    from .exporting import ExportReport, export, to_detection_dataset
    from .training import FinetuneResult, finetune

#: Public names loaded on first use (PEP 562), so `import qwen_vlm` stays light.
_LAZY = {
    "Evaluation": "evaluation",
    "evaluate": "evaluation",
    "ExportReport": "exporting",
    "export": "exporting",
    "to_detection_dataset": "exporting",
    "finetune": "training",
    "FinetuneResult": "training",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qwen_vlm' has no attribute {name!r}")
