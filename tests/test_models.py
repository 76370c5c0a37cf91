"""The model registry: every model of models.md, families, backend binding."""

from __future__ import annotations

import pytest

from qwen_vlm import ConfigurationError, list_models
from qwen_vlm.models import REGISTRY, family_from_model_type, infer_family, resolve_model

OPENROUTER = [
    "qwen/qwen3.5-9b",
    "qwen/qwen3.5-27b",
    "qwen/qwen3.5-35b-a3b",
    "qwen/qwen3.5-122b-a10b",
    "qwen/qwen3.5-397b-a17b",
    "qwen/qwen3.5-flash-02-23",
    "qwen/qwen3.5-plus-02-15",
    "qwen/qwen3.5-plus-20260420",
    "qwen/qwen3.6-27b",
    "qwen/qwen3.6-35b-a3b",
    "qwen/qwen3.6-flash",
    "qwen/qwen3.6-plus",
    "qwen/qwen3.7-plus",
    "qwen/qwen3.7-flash",
    "qwen/qwen3.8-27b",
    "qwen/qwen3.8-max",
    "qwen/qwen3-vl-8b-instruct",
    "qwen/qwen3-vl-8b-thinking",
    "qwen/qwen3-vl-30b-a3b-instruct",
    "qwen/qwen3-vl-30b-a3b-thinking",
    "qwen/qwen3-vl-32b-instruct",
    "qwen/qwen3-vl-235b-a22b-instruct",
    "qwen/qwen3-vl-235b-a22b-thinking",
    "qwen/qwen2.5-vl-72b-instruct",
    "qwen/qwen2.5-vl-32b-instruct",
    "qwen/qwen-2.5-vl-7b-instruct",
]
LOCAL = [
    "Qwen/Qwen2.5-VL-3B-Instruct",
    "Qwen/Qwen2.5-VL-7B-Instruct",
    "Qwen/Qwen2.5-VL-32B-Instruct",
    "Qwen/Qwen2.5-VL-72B-Instruct",
    "Qwen/Qwen3-VL-2B-Instruct",
    "Qwen/Qwen3-VL-4B-Instruct",
    "Qwen/Qwen3-VL-8B-Instruct",
    "Qwen/Qwen3-VL-32B-Instruct",
    "Qwen/Qwen3-VL-2B-Thinking",
    "Qwen/Qwen3-VL-30B-A3B-Instruct",
    "Qwen/Qwen3-VL-235B-A22B-Thinking",
    "Qwen/Qwen3.5-0.8B",
    "Qwen/Qwen3.5-2B",
    "Qwen/Qwen3.5-4B",
    "Qwen/Qwen3.5-9B",
    "Qwen/Qwen2-VL-2B-Instruct",
    "Qwen/Qwen2-VL-7B-Instruct",
    "Qwen/Qwen2-VL-72B-Instruct",
]


@pytest.mark.parametrize("slug", OPENROUTER)
def test_openrouter_models_registered(slug: str) -> None:
    info = REGISTRY[slug]
    assert "openrouter" in info.backends and "local" not in info.backends
    assert info.vision


@pytest.mark.parametrize("repo", LOCAL)
def test_local_models_registered(repo: str) -> None:
    info = REGISTRY[repo]
    assert "local" in info.backends and "openrouter" not in info.backends


def test_families_and_conventions() -> None:
    assert REGISTRY["Qwen/Qwen2.5-VL-7B-Instruct"].spec.coordinates == "absolute"
    assert REGISTRY["Qwen/Qwen2.5-VL-7B-Instruct"].spec.factor == 28
    assert REGISTRY["qwen/qwen-2.5-vl-7b-instruct"].family == "qwen2_5_vl"
    assert REGISTRY["Qwen/Qwen2-VL-2B-Instruct"].spec.box_tokens
    for model in ("Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3.5-2B", "qwen/qwen3.6-27b"):
        assert REGISTRY[model].spec.coordinates == "relative_1000"
        assert REGISTRY[model].spec.factor == 32


def test_thinking_support() -> None:
    assert (
        REGISTRY["Qwen/Qwen3.5-2B"].thinking == "hybrid" and not REGISTRY["Qwen/Qwen3.5-2B"].thinking_default
    )
    assert REGISTRY["Qwen/Qwen3.5-9B"].thinking_default
    assert REGISTRY["Qwen/Qwen3-VL-8B-Thinking"].thinking == "always"
    assert REGISTRY["Qwen/Qwen3-VL-8B-Instruct"].thinking == "none"
    for slug in ("qwen/qwen3.8-max", "qwen/qwen3-vl-8b-thinking", "qwen/qwen3-vl-235b-a22b-thinking"):
        assert REGISTRY[slug].rejects_reasoning_off
    assert REGISTRY["qwen/qwen3.6-27b"].thinking_default  # hosted models reason unless told not to


def test_text_only_models() -> None:
    assert not REGISTRY["qwen/qwen3.6-max-preview"].vision
    assert not REGISTRY["qwen/qwen3-8b"].vision


def test_backend_mismatch_lists_valid_choices() -> None:
    with pytest.raises(
        ConfigurationError, match=r"served by backend\(s\) \['openai', 'openrouter'\], not 'local'"
    ) as e:
        resolve_model("qwen/qwen3-vl-8b-instruct", "local")
    assert "Qwen/Qwen3-VL-8B-Instruct" in str(e.value)
    with pytest.raises(ConfigurationError, match="Did you mean 'qwen/qwen3-vl-8b-instruct'"):
        resolve_model("Qwen/Qwen3-VL-8B-Instruct", "openrouter")


def test_unknown_ids() -> None:
    finetune = resolve_model("/models/my-finetune", "local", config_family="qwen2_5_vl")
    assert finetune.family == "qwen2_5_vl" and not finetune.registered
    guessed = resolve_model("qwen/qwen3.9-flash", "openrouter")
    assert guessed.family == "qwen3_5_moe" and guessed.thinking_default
    thinking = resolve_model("org/Qwen3-VL-4B-Thinking-ft", "openai")
    assert thinking.thinking == "always"
    with pytest.raises(ConfigurationError, match="Pass family="):
        resolve_model("mystery-model", "openai")
    assert resolve_model("mystery-model", "openai", family="qwen3_vl").family == "qwen3_vl"
    override = resolve_model("Qwen/Qwen3-VL-8B-Instruct", "local", family="qwen2_5_vl")
    assert override.family == "qwen2_5_vl"


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl"),
        ("qwen/qwen-2.5-vl-7b-instruct", "qwen2_5_vl"),
        ("Qwen/Qwen2-VL-2B", "qwen2_vl"),
        ("Qwen/Qwen3-VL-30B-A3B-Instruct", "qwen3_vl_moe"),
        ("Qwen/Qwen3-VL-2B-Instruct", "qwen3_vl"),
        ("qwen/qwen3.8-27b", "qwen3_5"),
        ("qwen/qwen3.6-plus", "qwen3_5_moe"),
        ("llava-1.5", None),
    ],
)
def test_infer_family(name: str, family: str | None) -> None:
    assert infer_family(name) == family


def test_model_types_and_listing() -> None:
    assert family_from_model_type("qwen3_vl_moe") == "qwen3_vl_moe"
    assert family_from_model_type("llama") is None
    assert all("local" in m.backends for m in list_models("local"))
    assert len(list_models()) == len(REGISTRY)
