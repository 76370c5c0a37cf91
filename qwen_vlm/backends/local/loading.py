"""Finding and loading a checkpoint: repo ids and folders, the model family, device and dtype, LoRA.

One loading path for every family: ``AutoModelForImageTextToText`` + ``AutoProcessor`` (the model card's
recipe). A hub that cannot be reached fails in seconds with a clear message, not minutes of retries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ...errors import ConfigurationError, MissingDependencyError, ModelNotFoundError, OutOfMemoryError
from ...models import REGISTRY, Family, family_from_model_type

__all__ = [
    "check_device",
    "checkpoint_id",
    "config_family",
    "load",
    "offline",
    "pick_device",
    "require",
    "torch_dtype",
]


def require(package: str, purpose: str, extra: str = "local") -> Any:
    """Import a package of an extra, or raise :class:`MissingDependencyError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingDependencyError(package, extra, purpose) from None


def pick_device(torch: Any) -> str:
    """The best available device: CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def config_family(model: str, revision: str | None, local_files_only: bool | None) -> Family | None:
    """Read ``model_type`` from a local directory's config.json, or through the hub cache.

    ``model`` has been through :func:`checkpoint_id`: a path-like id is an existing folder by now.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise ConfigurationError(
                f"{model!r} is a directory without config.json; is it a model checkpoint?"
            )
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"{str(config)!r} is not a readable JSON file ({type(exc).__name__}: {exc}); "
                "is the checkpoint complete?"
            ) from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{str(config)!r} does not hold a JSON object; is it a model config?")
        model_type = str(data.get("model_type", ""))
        family = family_from_model_type(model_type)
        if family is None:
            raise ConfigurationError(
                f"{model!r} is a {model_type!r} checkpoint, not a Qwen-VL one (qwen2_vl, qwen2_5_vl, "
                "qwen3_vl, qwen3_vl_moe, qwen3_5, qwen3_5_moe)"
            )
        return family
    if model in REGISTRY:
        return None
    transformers = require("transformers", "The local backend")
    try:
        config = transformers.AutoConfig.from_pretrained(
            model, revision=revision, trust_remote_code=False, local_files_only=bool(local_files_only)
        )
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(_fetch_failed(model, exc)) from None
    return family_from_model_type(getattr(config, "model_type", ""))


def _hub_host() -> tuple[str, int]:
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face Hub (or ``HF_ENDPOINT``) opens within ``timeout``."""
    import socket

    try:
        socket.create_connection(_hub_host(), timeout=timeout).close()
        return True
    except OSError:
        return False


def _in_cache(model: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(model, "config.json", revision=revision)
    return isinstance(found, str)


def _fetch_failed(model: str, exc: BaseException) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True")
    reason = (
        "the Hugging Face Hub is switched off (HF_HUB_OFFLINE=1)" if offline else "it could not be fetched"
    )
    return (
        f"cannot load model {model!r}: {reason} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
        "Check the repo id and your network, or download the checkpoint elsewhere and pass its local "
        "directory: QwenVLM('/path/to/checkpoint')"
    )


def _looks_like_path(model: str) -> bool:
    return (
        model.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or model in (".", "..")
        or os.path.isabs(model)
        or "\\" in model
        or model.count("/") > 1
    )


def checkpoint_id(model: str) -> str:
    """A repo id unchanged, or a local folder with ``~`` expanded.

    Raises:
        ModelNotFoundError: For a path-like id (``/x``, ``./x``, ``~/x``...) whose folder does not exist.
    """
    path = Path(model).expanduser()
    try:
        exists = path.exists()
    except (OSError, ValueError):
        exists = False
    if exists or _looks_like_path(model):
        if not exists:
            raise ModelNotFoundError(
                f"no checkpoint folder at {model!r} ({path}): it does not exist. Pass the folder that holds "
                "config.json and the weights, or a Hugging Face repo id such as 'Qwen/Qwen3-VL-2B-Instruct'"
            )
        if not path.is_dir():
            raise ModelNotFoundError(
                f"{model!r} is a file, not a checkpoint folder; pass the folder that holds config.json"
            )
        return str(path)
    return model


def offline(model: str, revision: str | None, local_files_only: bool | None) -> bool:
    """Whether to load from local files only: asked for, ``HF_HUB_OFFLINE``, or the hub out of reach.

    Raises:
        ModelNotFoundError: When the hub is out of reach and the model is not in the local cache.
    """
    if local_files_only is None:
        local_files_only = os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True")
    if local_files_only or Path(model).expanduser().is_dir() or _hub_reachable():
        return local_files_only
    # Fail in seconds with a clear message instead of minutes of download retries.
    if not _in_cache(model, revision):
        host, _ = _hub_host()
        raise ModelNotFoundError(
            f"cannot download model {model!r}: the Hugging Face Hub ({host}) is not reachable from "
            "this machine and the model is not in the local cache. Connect to the internet, set "
            "HF_ENDPOINT to a mirror, or download the checkpoint elsewhere and pass its local "
            "directory: QwenVLM('/path/to/checkpoint')"
        )
    return True


def check_device(torch: Any, device: str | None) -> None:
    """Refuse an unknown device, or one this machine does not have.

    Raises:
        ConfigurationError: Naming the device and what is available.
    """
    if device is None:
        return
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise ConfigurationError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(f"device {device!r} was asked for, but CUDA is not available here")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigurationError(f"device {device!r} was asked for, but Apple MPS is not available here")


def torch_dtype(torch: Any, dtype: str, device: str | None) -> Any:
    """The dtype to load with: ``"auto"`` is the checkpoint's own, but float32 on CPU.

    Raises:
        ConfigurationError: For an unknown dtype name.
    """
    if dtype == "auto":
        # Checkpoints are bfloat16; CPUs run float32 much faster and exactly.
        return torch.float32 if device == "cpu" else "auto"
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise ConfigurationError(f"unknown dtype {dtype!r}; use 'auto', 'bfloat16', 'float16' or 'float32'")
    return value


def load(
    torch: Any,
    transformers: Any,
    model_id: str,
    *,
    revision: str | None,
    local_only: bool,
    dtype: Any,
    attn: str | None,
    device: str | None,
    device_map: Any,
    adapter: str | None,
) -> tuple[Any, Any]:
    """Load the processor (left padding) and the model (with a LoRA adapter, on its device, in eval mode).

    Raises:
        ModelNotFoundError: When the checkpoint or adapter cannot be fetched or read.
        OutOfMemoryError: When the weights do not fit.
    """
    common: dict[str, Any] = {"revision": revision, "local_files_only": local_only}
    kwargs: dict[str, Any] = {**common, "dtype": dtype, "trust_remote_code": False, "use_safetensors": True}
    if attn is not None:
        kwargs["attn_implementation"] = attn
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        processor = transformers.AutoProcessor.from_pretrained(model_id, trust_remote_code=False, **common)
        model = transformers.AutoModelForImageTextToText.from_pretrained(model_id, **kwargs)
    except OSError as exc:
        raise ModelNotFoundError(_fetch_failed(model_id, exc)) from None
    except torch.OutOfMemoryError as exc:
        raise OutOfMemoryError(f"out of memory loading {model_id!r}: {exc}", batch_size=0) from None
    if adapter is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter, revision=revision)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(_fetch_failed(adapter, exc)) from None
    if device_map is None and device is not None:
        model = model.to(device)
    model.eval()
    processor.tokenizer.padding_side = "left"
    return model, processor
