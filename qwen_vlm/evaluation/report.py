"""What an evaluation found: one :class:`EvaluationRun` per client, side by side in an :class:`Evaluation`."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigurationError, MissingDependencyError
from .samples import BOXES

__all__ = ["Evaluation", "EvaluationRun"]


@dataclass(frozen=True)
class EvaluationRun:
    """One client's results on the dataset.

    Attributes:
        name: The client's name in tables (its model id, or the name you gave it).
        model: The model id.
        backend: The backend's class name.
        metrics: ``map50_95``, ``map50``, ``map75``, ``mar100`` (detect); ``accuracy``, ``macro_f1``
            (classify; ``micro_f1`` too for classify_multi); ``cer`` (ocr).
        per_class: AP@50:95 per class (detect) or F1 per class (classify).
        images: How many images were evaluated.
        failures: How many of them failed (counted as misses, never skipped).
        seconds: Wall time of the whole run.
        prompt_tokens: Tokens sent, summed over the images that reported usage.
        completion_tokens: Tokens generated, likewise.
        cost: Total cost where the server reported it, else ``None``.
        ranked: Detection: every box had a confidence to rank by (else all scored 1.0).
        pr_curve: Detection: ``(recall, precision)`` at IoU 0.5, averaged over classes.
        per_image: One dict per image (name, failure, counts or CER).
        results: The results themselves, in dataset order.
    """

    name: str
    model: str
    backend: str
    metrics: dict[str, float]
    per_class: dict[str, float]
    images: int
    failures: int
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    cost: float | None = None
    ranked: bool | None = None
    pr_curve: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    per_image: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    results: tuple[Any, ...] = field(default=(), repr=False)

    @property
    def seconds_per_image(self) -> float:
        """Wall time per image (with the client's batching and concurrency)."""
        return self.seconds / max(1, self.images)

    def row(self) -> dict[str, Any]:
        """This run as one table row."""
        return {
            "client": self.name,
            "model": self.model,
            "backend": self.backend,
            **self.metrics,
            "images": self.images,
            "failures": self.failures,
            "seconds_per_image": self.seconds_per_image,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
        }


@dataclass(frozen=True)
class Evaluation:
    """Several clients evaluated on the same labelled images, side by side.

    Attributes:
        task: The task evaluated (``"detect"``, ``"classify"``, ``"classify_multi"``, ``"ocr"``).
        dataset: What the images and labels came from.
        classes: The dataset's classes, in table order.
        runs: One :class:`EvaluationRun` per client, in the order given.
        truth: What the answers were scored against: ``"boxes"`` (mAP), ``"label"``, ``"labels"``
            (accuracy, F1), ``"text"`` (CER), ``"target"`` (GUI grounding accuracy) or ``"document"``
            (olmOCR-bench pass rates; ``per_image`` holds one row per test).
    """

    task: str
    dataset: str
    classes: tuple[str, ...]
    runs: tuple[EvaluationRun, ...]
    truth: str = BOXES

    @property
    def metrics(self) -> dict[str, float]:
        """The first (or only) client's metrics: ``{"map50_95": ..., "map50": ...}`` and so on."""
        return self.runs[0].metrics

    def __getitem__(self, name: str) -> EvaluationRun:
        for run in self.runs:
            if run.name == name:
                return run
        raise KeyError(f"no client named {name!r}; the runs are {[r.name for r in self.runs]}")

    def __iter__(self) -> Iterator[EvaluationRun]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def to_dataframe(self, per: Literal["client", "image", "class"] = "client") -> Any:
        """A pandas DataFrame: one row per client, per client and image, or per client and class.

        Raises:
            MissingDependencyError: If pandas is not installed.
            ConfigurationError: For an unknown ``per``.
        """
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependencyError("pandas", "pandas", "Evaluation.to_dataframe()") from None
        if per == "client":
            return pd.DataFrame([run.row() for run in self.runs])
        if per == "image":
            return pd.DataFrame([{"client": run.name, **row} for run in self.runs for row in run.per_image])
        if per == "class":
            return pd.DataFrame(
                [
                    {"client": r.name, "class": c, "value": v}
                    for r in self.runs
                    for c, v in r.per_class.items()
                ]
            )
        raise ConfigurationError(f"per must be 'client', 'image' or 'class', not {per!r}")

    def plot(self) -> Any:
        """A matplotlib figure of each client's precision-recall curve at IoU 0.5 (detection only).

        Raises:
            MissingDependencyError: If matplotlib is not installed.
            ConfigurationError: For a task that has no such curve.
        """
        if self.truth != BOXES:
            raise ConfigurationError("precision-recall curves are drawn for detection evaluations")
        try:
            import matplotlib

            matplotlib.use("Agg", force=False)
            from matplotlib.figure import Figure
        except ImportError:
            raise MissingDependencyError("matplotlib", "eval", "Evaluation.plot()") from None
        figure = Figure(figsize=(5, 3.6), dpi=100)
        axes = figure.add_subplot()
        for run in self.runs:
            if run.pr_curve is not None:
                recall, precision = run.pr_curve
                label = f"{run.name} (AP50 {run.metrics.get('map50', 0):.2f})"
                axes.plot(recall, precision, label=label if run.ranked else f"{label}, unranked")
        axes.set_xlabel("recall")
        axes.set_ylabel("precision")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
        axes.set_title(f"precision-recall at IoU 0.5 — {self.dataset}", fontsize=9)
        axes.legend(fontsize=7, loc="lower left")
        figure.tight_layout()
        return figure

    def _repr_html_(self) -> str:
        names = list(self.runs[0].metrics) if self.runs else []
        head = "".join(
            f"<th>{html.escape(n)}</th>" for n in ["client", *names, "s/image", "tokens", "cost", "failures"]
        )
        rows = []
        for run in self.runs:
            cells = [html.escape(run.name), *(f"{run.metrics[n]:.3f}" for n in names)]
            cells += [f"{run.seconds_per_image:.2f}", str(run.prompt_tokens + run.completion_tokens)]
            cells += ["-" if run.cost is None else f"{run.cost:.4f}", f"{run.failures}/{run.images}"]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        picture = self._plot_html() if self.truth == BOXES else ""
        title = f"<b>{html.escape(self.task)}</b> on {html.escape(self.dataset)}"
        return f"<div>{title}<table><tr>{head}</tr>{''.join(rows)}</table>{picture}</div>"

    def _plot_html(self) -> str:
        try:
            import base64
            import io

            buffer = io.BytesIO()
            self.plot().savefig(buffer, format="png")
            data = base64.b64encode(buffer.getvalue()).decode("ascii")
            return f"<img src='data:image/png;base64,{data}'/>"
        except Exception:  # a display hook must never raise: the table alone is shown
            return ""

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{r.name}: " + ", ".join(f"{k}={v:.3f}" for k, v in r.metrics.items()) for r in self.runs
        )
        return f"Evaluation({self.task}, {self.dataset}; {parts})"
