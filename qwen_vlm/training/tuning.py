"""Fine-tuning a Qwen-VL model on chat-format records, with TRL's ``SFTTrainer`` and a PEFT LoRA adapter.

``finetune`` reads what ``export(..., format="sft")`` wrote (or any ``messages`` JSONL), checks every
record and image before training starts, and trains with TRL's ``SFTTrainer`` — a LoRA adapter on the
language model by default (PEFT), QLoRA where bitsandbytes and a GPU are there, or the whole model with
``lora=False`` — the loss on the assistant's answers only (:mod:`.collate`). The images are resized
within the same pixel bounds the export computed its coordinates with (``report.json``), and the tuned
client is made with them too (:meth:`FinetuneResult.client`). Several GPUs: run your script with
``accelerate launch``, as TRL supports.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, DatasetError, MissingDependencyError
from ..options import check_bool, check_int, check_number
from .collate import SFTCollator, answer_of, prompt_of
from .sft import model_info

__all__ = ["LANGUAGE_LINEAR", "FinetuneResult", "finetune"]

#: The LoRA target modules by default: the language model's attention and MLP projections (a regex
#: PEFT matches on full module names; the vision tower is left as it is).
LANGUAGE_LINEAR = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@dataclass(frozen=True)
class FinetuneResult:
    """What a fine-tune produced.

    Attributes:
        model: The base model trained.
        output_dir: Where it was saved.
        adapter: The LoRA adapter's folder (``None`` for a full fine-tune).
        merged: The merged (or fully tuned) weights' folder, when written.
        losses: ``(step, training loss)`` as logged.
        validation_losses: ``(step, validation loss)``, when a validation set was given.
        min_pixels: The pixel bounds images were resized within.
        max_pixels: Likewise.
        records: Training records.
        seconds: Wall time of the training.
    """

    model: str
    output_dir: Path
    adapter: Path | None
    merged: Path | None
    losses: tuple[tuple[int, float], ...]
    validation_losses: tuple[tuple[int, float], ...] = ()
    min_pixels: int | None = None
    max_pixels: int | None = None
    records: int = 0
    seconds: float = field(default=0.0, compare=False)

    def client(self, **options: Any) -> Any:
        """A local :class:`~qwen_vlm.QwenVLM` of the tuned model, with the training's pixel bounds."""
        from ..client import QwenVLM

        bounds = {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels}
        options = {**{k: v for k, v in bounds.items() if v is not None}, **options}
        if self.merged is not None:
            return QwenVLM(str(self.merged), **options)
        return QwenVLM(self.model, adapter=str(self.adapter), **options)


def _load_records(
    train: Any, validation: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Path, dict[str, Any]]:
    """Records (and the report) from an export folder or JSONL files; every one checked.

    Raises:
        DatasetError: Nothing to train on, a malformed record, an image that cannot be read.
    """
    path = Path(train).expanduser()
    report: dict[str, Any] = {}
    if path.is_dir():
        if (path / "report.json").is_file():
            report = json.loads((path / "report.json").read_text())
        files = [path / "train.jsonl"]
        held = path / "validation.jsonl"
        validation = validation if validation is not None else (held if held.is_file() else None)
        root = path
    else:
        files, root = [path], path.parent
    if not files[0].is_file():
        raise DatasetError(
            f"{files[0]} not found: pass the folder export(..., format='sft') wrote, or a JSONL"
        )
    records = _read(files[0])
    held_out = _read(Path(validation)) if validation is not None else []
    if not records:
        raise DatasetError(f"nothing to train on: {files[0]} holds no records")
    from PIL import Image

    for k, record in enumerate([*records, *held_out]):
        try:
            prompt_of(record), answer_of(record)
            image = Path(record["images"][0])
            with Image.open(image if image.is_absolute() else root / image) as opened:
                opened.verify()
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise DatasetError(f"record {k + 1} is not a messages record with an image ({exc!r})") from None
        except OSError as exc:
            raise DatasetError(f"record {k + 1}: its image cannot be read ({exc})") from None
    return records, held_out, root, report


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path} is not JSON lines ({exc})") from None


def finetune(
    train: Any,
    *,
    model: str,
    output_dir: Any,
    validation: Any = None,
    lora: bool = True,
    rank: int = 8,
    alpha: int = 16,
    dropout: float = 0.05,
    target_modules: str | list[str] = LANGUAGE_LINEAR,
    modules_to_save: list[str] | None = None,
    epochs: float = 3,
    learning_rate: float = 2e-4,
    batch_size: int = 1,
    gradient_accumulation: int = 8,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    qlora: bool = False,
    merge: bool = False,
    seed: int = 0,
    logging_steps: int = 1,
) -> FinetuneResult:
    """Fine-tune ``model`` on chat records with TRL's ``SFTTrainer`` (LoRA by default).

    Args:
        train: The folder ``export(..., format="sft")`` wrote, or a ``messages`` JSONL file.
        model: The base model (a hub id or a local folder).
        output_dir: Where the adapter (or weights) and the processor are saved.
        validation: A ``messages`` JSONL of held-out records (default: the export's ``validation.jsonl``).
        lora: Train a LoRA adapter (PEFT); ``False`` trains every weight.
        rank: LoRA rank (maestro's default, 8).
        alpha: LoRA alpha (16).
        dropout: LoRA dropout (0.05).
        target_modules: Modules LoRA adapts (default: the language model's projections, as a regex).
        modules_to_save: Modules trained in full beside the adapter and saved with it (PEFT's
            ``modules_to_save``, e.g. ``["lm_head"]``).
        epochs: Passes over the training records (3).
        learning_rate: Peak learning rate (2e-4, as maestro and TRL's VLM examples use for LoRA).
        batch_size: Records per device step (1).
        gradient_accumulation: Steps per optimizer update (8).
        min_pixels: Image pixel bounds (default: the export's, from its ``report.json``, else the
            processor's). Coordinates of Qwen2.5-VL targets are only right within the bounds they were
            written for.
        max_pixels: Likewise.
        qlora: 4-bit quantised base (bitsandbytes, CUDA only).
        merge: Also save the adapter merged into the weights (``output_dir/merged``).
        seed: Random seed.
        logging_steps: Steps between loss records.

    Returns:
        A :class:`FinetuneResult` (``.client()`` gives the tuned model as a client).

    Raises:
        DatasetError: No records, a malformed record or an unreadable image (before training starts).
        ConfigurationError: A bad option, QLoRA without a GPU, a model whose family is unknown.
        MissingDependencyError: Without the ``train`` extra (trl, peft, datasets, accelerate).
    """
    _check(rank, alpha, batch_size, gradient_accumulation, epochs, learning_rate, dropout, lora)
    info = model_info(model)
    records, held_out, root, report = _load_records(train, validation)
    if report and report.get("family") not in (None, info.family):
        raise ConfigurationError(
            f"the records were written for {report['family']} coordinates, not {info.family} ({model!r}); "
            "export them again for this model"
        )
    low = min_pixels or report.get("min_pixels")
    high = max_pixels or report.get("max_pixels")
    trl, peft, datasets, torch, transformers = _imports()
    if qlora and not (torch.cuda.is_available() and _has("bitsandbytes")):
        raise ConfigurationError("QLoRA needs bitsandbytes and a CUDA GPU; use lora=True without qlora")
    processor = transformers.AutoProcessor.from_pretrained(model)
    size = dict(processor.image_processor.size)
    if low:
        size["shortest_edge"] = int(low)
    if high:
        size["longest_edge"] = int(high)
    out = Path(output_dir)
    _clear(out)
    config = _config(trl, torch, out, (epochs, batch_size, gradient_accumulation, learning_rate, seed))
    config = dataclasses.replace(
        config, logging_steps=logging_steps, eval_strategy="epoch" if held_out else "no"
    )
    lora_config = dict(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules)
    trainer = trl.SFTTrainer(
        model=_load_model(transformers, model, qlora, torch),
        args=config,
        train_dataset=datasets.Dataset.from_list(records),
        eval_dataset=datasets.Dataset.from_list(held_out) if held_out else None,
        data_collator=SFTCollator(processor, root, {"size": size}),
        processing_class=processor,
        peft_config=peft.LoraConfig(**lora_config, modules_to_save=modules_to_save) if lora else None,
    )
    trainer.remove_callback(transformers.PrinterCallback)  # losses come back in the result, not on stdout
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    trainer.save_model(str(out))
    processor.save_pretrained(str(out))
    history = trainer.state.log_history
    return FinetuneResult(
        model=model,
        output_dir=out,
        adapter=out if lora else None,
        merged=_merged(trainer.model, processor, out, lora, merge),
        losses=tuple((int(h["step"]), float(h["loss"])) for h in history if "loss" in h),
        validation_losses=tuple((int(h["step"]), float(h["eval_loss"])) for h in history if "eval_loss" in h),
        min_pixels=int(low) if low else None,
        max_pixels=int(high) if high else None,
        records=len(records),
        seconds=seconds,
    )


def _config(trl: Any, torch: Any, out: Path, run: tuple[float, int, int, float, int]) -> Any:
    """TRL's ``SFTConfig``: our collator's batches as they are, nothing saved but the end, no reporters.

    ``run``: epochs, batch size, gradient accumulation, learning rate, seed.
    """
    epochs, batch, accumulation, rate, seed = run
    return trl.SFTConfig(
        output_dir=str(out),
        num_train_epochs=float(epochs),
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        learning_rate=rate,
        save_strategy="no",
        report_to=[],
        seed=seed,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
        disable_tqdm=True,
    )


def _check(
    rank: int,
    alpha: int,
    batch: int,
    accumulation: int,
    epochs: float,
    rate: float,
    dropout: float,
    lora: bool,
) -> None:
    """Every option checked before anything is loaded.

    Raises:
        ConfigurationError: An option out of range.
    """
    for name, value in (("rank", rank), ("alpha", alpha), ("batch_size", batch)):
        check_int(name, value, optional=False, minimum=1)
    check_int("gradient_accumulation", accumulation, optional=False, minimum=1)
    check_number("epochs", epochs, exclusive_minimum=True)
    check_number("learning_rate", rate, exclusive_minimum=True, maximum=1.0)
    check_number("dropout", dropout, maximum=1.0)
    check_bool("lora", lora, optional=False)


def _clear(out: Path) -> None:
    """Remove a previous run's adapter or weights from ``out`` (a stale adapter would be loaded)."""
    if not out.is_dir():
        return
    for pattern in (
        "adapter_model.*",
        "adapter_config.json",
        "model*.safetensors",
        "model.safetensors.index.json",
    ):
        for stale in out.glob(pattern):
            stale.unlink()


def _imports() -> tuple[Any, Any, Any, Any, Any]:
    """trl, peft, datasets, torch and transformers (the ``train`` extra)."""
    import importlib

    try:
        return tuple(
            importlib.import_module(name) for name in ("trl", "peft", "datasets", "torch", "transformers")
        )  # type: ignore[return-value]
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "trl", "train", "Fine-tuning (finetune)") from None


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _load_model(transformers: Any, model: str, qlora: bool, torch: Any) -> Any:
    auto = transformers.AutoModelForImageTextToText
    if not qlora:
        return auto.from_pretrained(model, dtype=torch.float32 if not torch.cuda.is_available() else "auto")
    quantised = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)
    return auto.from_pretrained(model, quantization_config=quantised, device_map="auto")


def _merged(model: Any, processor: Any, out: Path, lora: bool, merge: bool) -> Path | None:
    """The weights with the adapter merged in (``merge=True``), or the fully tuned weights."""
    if not lora:
        return out
    if not merge:
        return None
    target = out / "merged"
    model.merge_and_unload().save_pretrained(str(target))
    processor.save_pretrained(str(target))
    return target
