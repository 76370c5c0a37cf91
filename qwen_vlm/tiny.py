"""Tiny random-weight Qwen-VL checkpoints, built offline, for testing the local backend without a hub.

>>> import tempfile
>>> from pathlib import Path
>>> from qwen_vlm import QwenVLM
>>> from qwen_vlm.tiny import build_tiny_checkpoint, scripted
>>> path = build_tiny_checkpoint(Path(tempfile.mkdtemp()) / "tiny", family="qwen3_vl")
>>> answer = '[{"bbox_2d": [0, 0, 500, 500], "label": "cat"}]'      # forced, so parsing can be checked
>>> vlm = QwenVLM(path, device="cpu", generate_kwargs=scripted(answer))
>>> from PIL import Image
>>> vlm.detect(Image.new("RGB", (640, 480)), ["cat"]).xyxy
[(0.0, 0.0, 320.0, 240.0)]

The checkpoint uses the real Qwen config, model, tokenizer and processor classes, saved with
``save_pretrained`` and loaded back through the very ``from_pretrained`` path a real checkpoint takes. Its
answers are noise; :class:`ScriptedLogitsProcessor` forces a chosen answer so parsing can be tested end
to end. Needs the ``local`` extra (torch, torchvision, transformers >= 5.2 for Qwen3.5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

__all__ = ["TINY_FAMILIES", "ScriptedLogitsProcessor", "build_tiny_checkpoint", "scripted"]

TinyFamily = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe"]
TINY_FAMILIES: tuple[TinyFamily, ...] = (
    "qwen2_vl",
    "qwen2_5_vl",
    "qwen3_vl",
    "qwen3_vl_moe",
    "qwen3_5",
    "qwen3_5_moe",
)
_MOE = {"moe_intermediate_size": 32, "num_experts": 4, "num_experts_per_tok": 2}

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# ChatML as the Qwen-VL templates render it: each image as <|vision_start|><|image_pad|><|vision_end|>.
_CONTENT = (
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'video' -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
)
_MESSAGES = (
    "{%- for message in messages -%}<|im_start|>{{ message['role'] }}\n"
    + _CONTENT
    + "<|im_end|>\n{%- endfor -%}"
)
TEMPLATES: dict[str, str] = {
    # Qwen2/2.5-VL add a default system prompt; the thinking flag is ignored.
    "qwen2": (
        "{%- if messages[0]['role'] != 'system' -%}"
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{%- endif -%}"
        + _MESSAGES
        + "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
    ),
    # Qwen3-VL Instruct: no system prompt, no thinking.
    "qwen3": _MESSAGES + "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}",
    # Qwen3-VL Thinking: always pre-fills an open <think>.
    "qwen3_thinking": _MESSAGES
    + "{%- if add_generation_prompt -%}<|im_start|>assistant\n<think>\n{%- endif -%}",
    # Qwen3.5 (0.8B/2B): thinking off unless enable_thinking is true.
    "qwen3_5": _MESSAGES
    + "{%- if add_generation_prompt -%}<|im_start|>assistant\n"
    + "{%- if enable_thinking is defined and enable_thinking -%}<think>\n"
    + "{%- else -%}<think>\n\n</think>\n\n{%- endif -%}{%- endif -%}",
}

_CORPUS = [
    "You are a helpful assistant.",
    "Locate every instance that belongs to the following categories.",
    "Report bbox coordinates in JSON format.",
    '```json\n[{"bbox_2d": [12, 34, 567, 890], "label": "cat"},',
    '{"point_2d": [100, 200], "label": "dog"}]\n```',
    '{"label": "dog"} ["cat", "dog"] {"total": "8.75", "company": "ACME"} null true false',
    "Describe this image in one sentence. A red house under a yellow sun. Read all the text in the image.",
    "0123456789 ,.:;!?()[]{}<>\"'-_/\\|*#@&%+=~` abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "(10,20),(30,40) thinking step answer The answer is 42.",
]


def _transformers() -> Any:
    import importlib

    return importlib.import_module("transformers")


def _tokenizer(vocab_size: int) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tf = _transformers()
    pattern = (  # Qwen2's pre-tokenizer split
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
        r"|\s*[\r\n]+|\s+(?!\S)|\s+"
    )
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = tf.Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.add_tokens(["<think>", "</think>"])  # ordinary tokens: they survive skip_special_tokens
    return fast


def build_tiny_checkpoint(
    path: str | Path,
    family: TinyFamily = "qwen3_vl",
    *,
    thinking: bool = False,
    seed: int = 0,
    min_pixels: int = 64 * 64,
    max_pixels: int = 32 * 32 * 256,
) -> Path:
    """Write a tiny random-weight Qwen-VL checkpoint (a few MB) to ``path``.

    Args:
        path: Target directory (created).
        family: ``"qwen2_vl"``, ``"qwen2_5_vl"``, ``"qwen3_vl"``, ``"qwen3_vl_moe"``, ``"qwen3_5"`` or
            ``"qwen3_5_moe"``.
        thinking: For ``qwen3_vl``: a ``-Thinking`` style template that pre-fills ``<think>``.
        seed: Seed of the random weights.
        min_pixels: The processor's lower pixel bound (small, so images stay a few hundred tokens).
        max_pixels: The processor's upper pixel bound.

    Returns:
        The directory, loadable with ``QwenVLM(str(path))``.
    """
    import torch

    tf = _transformers()
    if family not in TINY_FAMILIES:
        raise ValueError(f"family must be one of {TINY_FAMILIES}, got {family!r}")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(400)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab = len(tokenizer) + 8
    token_ids = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    text: dict[str, Any] = {
        "vocab_size": vocab,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "max_position_embeddings": 4096,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision: dict[str, Any] = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 4,
        "out_hidden_size": 32,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    setup = _qwen2_setup if family in ("qwen2_vl", "qwen2_5_vl") else _qwen3_setup
    config, processor_cls, video_processor_cls, template, patch, mean_std = setup(
        tf, family, thinking, text, vision, token_ids
    )
    torch.manual_seed(seed)
    model = tf.AutoModelForImageTextToText.from_config(config)
    model.generation_config = tf.GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    image_processor = tf.Qwen2VLImageProcessor(
        patch_size=patch,
        merge_size=2,
        temporal_patch_size=2,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        **mean_std,
    )
    video_processor = video_processor_cls(patch_size=patch, merge_size=2, temporal_patch_size=2, **mean_std)
    processor = processor_cls(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=template,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


_Config = dict[str, Any]
_Ids = dict[str, int]
#: A family's config, processor class, video processor class, chat template, patch size, mean/std.
_Setup = tuple[Any, Any, Any, str, int, dict[str, Any]]


def _qwen2_setup(
    tf: Any, family: str, thinking: bool, text: _Config, vision: _Config, token_ids: _Ids
) -> _Setup:
    """Qwen2-VL / Qwen2.5-VL: config, processor class, video processor class, template, patch, mean/std."""
    patch = 14
    text["rope_scaling"] = {"type": "mrope", "mrope_section": [2, 1, 1]}
    if family == "qwen2_5_vl":
        vision.update(patch_size=patch, window_size=112, fullatt_block_indexes=[1])
        config = tf.Qwen2_5_VLConfig(text_config=text, vision_config=vision, **token_ids)
        processor_cls = tf.Qwen2_5_VLProcessor
    else:
        vision = {
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 32,
            "mlp_ratio": 2,
            "num_heads": 4,
            "patch_size": patch,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        }
        config = tf.Qwen2VLConfig(text_config=text, vision_config=vision, **token_ids)
        processor_cls = tf.Qwen2VLProcessor
    return config, processor_cls, tf.Qwen2VLVideoProcessor, TEMPLATES["qwen2"], patch, {}


def _qwen3_setup(
    tf: Any, family: str, thinking: bool, text: _Config, vision: _Config, token_ids: _Ids
) -> _Setup:
    """Qwen3-VL (and MoE) / Qwen3.5 (and MoE): as :func:`_qwen2_setup`."""
    patch = 16
    vision.update(patch_size=patch, num_position_embeddings=16)
    if family in ("qwen3_vl", "qwen3_vl_moe"):
        text["rope_scaling"] = {"rope_type": "default", "mrope_section": [2, 1, 1], "mrope_interleaved": True}
        vision["deepstack_visual_indexes"] = [0]
        if family == "qwen3_vl_moe":
            text.update(_MOE)
            config = tf.Qwen3VLMoeConfig(text_config=text, vision_config=vision, **token_ids)
        else:
            config = tf.Qwen3VLConfig(text_config=text, vision_config=vision, **token_ids)
        template = TEMPLATES["qwen3_thinking" if thinking else "qwen3"]
    else:
        text.update(
            num_hidden_layers=4,
            layer_types=["linear_attention", "linear_attention", "linear_attention", "full_attention"],
            linear_key_head_dim=8,
            linear_value_head_dim=8,
            linear_num_key_heads=2,
            linear_num_value_heads=4,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "partial_rotary_factor": 0.5,
                "mrope_section": [1, 1, 0],
                "mrope_interleaved": True,
            },
        )
        if family == "qwen3_5_moe":
            text.update(_MOE, shared_expert_intermediate_size=32)
            config = tf.Qwen3_5MoeConfig(text_config=text, vision_config=vision, **token_ids)
        else:
            config = tf.Qwen3_5Config(text_config=text, vision_config=vision, **token_ids)
        template = TEMPLATES["qwen3_5"]
    mean_std = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    return config, tf.Qwen3VLProcessor, tf.Qwen3VLVideoProcessor, template, patch, mean_std


class ScriptedLogitsProcessor:
    """A ``transformers`` logits processor that allows only the next token of a scripted answer.

    Generation then emits exactly ``text`` followed by ``<|im_end|>``, whatever the (random) weights say.

    Args:
        tokenizer: The checkpoint's tokenizer.
        text: The answer to force.
    """

    def __init__(self, tokenizer: Any, text: str) -> None:
        self.script = list(tokenizer.encode(text, add_special_tokens=False))
        self.script.append(tokenizer.convert_tokens_to_ids("<|im_end|>"))
        self.start: int | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """Mask every token but the script's next one."""
        import torch

        if self.start is None:
            self.start = int(input_ids.shape[1])
        step = int(input_ids.shape[1]) - self.start
        token = self.script[min(step, len(self.script) - 1)]
        forced = torch.full_like(scores, float("-inf"))
        forced[:, token] = 0.0
        return forced


def scripted(text: str) -> Any:
    """A ``generate_kwargs`` factory for :class:`~qwen_vlm.backends.local.LocalBackend` forcing ``text``.

    >>> answer = '[{"bbox_2d": [0, 0, 500, 500]}]'
    >>> vlm = QwenVLM(str(path), generate_kwargs=scripted(answer))  # doctest: +SKIP
    """

    def factory(tokenizer: Any) -> dict[str, Any]:
        processors = _transformers().LogitsProcessorList([ScriptedLogitsProcessor(tokenizer, text)])
        return {"logits_processor": processors}

    return factory
