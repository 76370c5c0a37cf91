"""The local transformers backend, end to end on tiny random-weight checkpoints built offline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("transformers")

from qwen_vlm import (  # noqa: E402
    AsyncQwenVLM,
    Classification,
    ConfigurationError,
    Detections,
    Extraction,
    MissingDependencyError,
    ModelNotFoundError,
    MultiLabelClassification,
    Points,
    QwenVLM,
    TextResult,
)
from qwen_vlm.geometry import smart_resize  # noqa: E402
from qwen_vlm.image_refs import ImageRef  # noqa: E402
from qwen_vlm.tiny import build_tiny_checkpoint, scripted  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Non-square, and its smart resize changes the aspect ratio (640x300 → 644x308 at factor 28).
IMG = Image.new("RGB", (640, 300), (200, 30, 40))
FAMILIES = ("qwen2_5_vl", "qwen3_vl", "qwen3_5")
MIN_PIXELS, MAX_PIXELS = 64 * 64, 32 * 32 * 256


@pytest.fixture(scope="session")
def clients(checkpoints: dict[str, Path]) -> dict[str, QwenVLM]:
    return {family: QwenVLM(str(checkpoints[family]), device="cpu") for family in FAMILIES}


def forced(path: Path, text: str, **options: Any) -> QwenVLM:
    return QwenVLM(str(path), device="cpu", generate_kwargs=scripted(text), **options)


# ----------------------------------------------------------------------------- every task
@pytest.mark.parametrize("family", FAMILIES)
def test_every_task_end_to_end(family: str, clients: dict[str, QwenVLM]) -> None:
    vlm = clients[family]
    assert vlm.info.family == family and not vlm.info.registered
    small = {"max_tokens": 6}
    results = [
        (vlm.prompt(IMG, "Say something.", **small), TextResult),
        (vlm.ocr(IMG, **small), TextResult),
        (vlm.ask(IMG, "What colour?", **small), TextResult),
        (vlm.caption(IMG, **small), TextResult),
        (vlm.caption(IMG, detailed=True, **small), TextResult),
        (vlm.classify(IMG, ["red", "blue"], **small), Classification),
        (vlm.classify_multi(IMG, ["red", "blue"], **small), MultiLabelClassification),
        (vlm.detect(IMG, ["square"], **small), Detections),
        (vlm.point(IMG, ["square"], **small), Points),
        (vlm.extract(IMG, {"colour": "the colour"}, **small), Extraction),
    ]
    for result, kind in results:
        assert isinstance(result, kind)
        assert result.model == vlm.model
        assert result.usage is not None and 0 < result.usage.completion_tokens <= 7
        assert result.usage.prompt_tokens > 20  # the image tokens are in the prompt
        assert result.error is None or isinstance(result.error, str)  # random weights: noise is reported
    assert len(vlm.run("object-detection", [IMG, IMG], classes=["x"], max_tokens=4)) == 2
    assert len(vlm.run("structured-answering", [IMG, IMG], output_structure={"a": "b"}, max_tokens=4)) == 2


@pytest.mark.parametrize("family", FAMILIES)
def test_scripted_answers_parse_end_to_end(family: str, checkpoints: dict[str, Path]) -> None:
    assert forced(checkpoints[family], '{"label": "red"}').classify(IMG, ["red", "blue"]).label == "red"
    extracted = forced(checkpoints[family], '{"colour": "red"}').extract(IMG, {"colour": "the colour"})
    assert extracted.data == {"colour": "red"}
    assert forced(checkpoints[family], "A red rectangle.").caption(IMG).text == "A red rectangle."


# ----------------------------------------------------------------------------- coordinates
def test_qwen25_detection_uses_the_processors_resized_size(checkpoints: dict[str, Path]) -> None:
    resized = smart_resize(640, 300, factor=28, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    assert resized == (644, 308)  # the aspect changes: 2.133 → 2.091
    answer = '```json\n[{"bbox_2d": [161, 77, 483, 231], "label": "cat"}]\n```'  # the centre half of 644x308
    # A fenced answer, as Qwen writes it when free: the parser's path (a grammar would refuse the fence).
    detections = forced(checkpoints["qwen2_5_vl"], answer).detect(IMG, ["cat"], constrained=False)
    assert detections.error is None
    (det,) = detections
    assert det.label == "cat" and det.raw_box == (161, 77, 483, 231)
    assert det.xyxy == pytest.approx((161 * 640 / 644, 77 * 300 / 308, 483 * 640 / 644, 231 * 300 / 308))
    assert det.xyxy == pytest.approx((160, 75, 480, 225), abs=0.1)


def test_qwen25_min_max_pixels_override_reaches_the_conversion(checkpoints: dict[str, Path]) -> None:
    answer = '[{"bbox_2d": [0, 0, 280, 140], "label": "x"}]'  # beyond the input size: clamped when read
    vlm = forced(checkpoints["qwen2_5_vl"], answer, max_pixels=280 * 140, constrained=False)
    resized = smart_resize(640, 300, factor=28, min_pixels=MIN_PIXELS, max_pixels=280 * 140)
    (det,) = vlm.detect(IMG, ["x"])
    assert det.xyxy == pytest.approx((0, 0, 280 * 640 / resized[0], min(300, 140 * 300 / resized[1])))


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen3_5"])
def test_qwen3_detection_and_points_on_the_1000_grid(family: str, checkpoints: dict[str, Path]) -> None:
    answer = '[{"bbox_2d": [250, 250, 750, 750], "label": "cat"}]'
    (det,) = forced(checkpoints[family], answer).detect(IMG, ["cat"])
    assert det.xyxy == pytest.approx((160, 75, 480, 225))
    (point,) = forced(checkpoints[family], '[{"point_2d": [500, 500], "label": "cat"}]').point(IMG, ["cat"])
    assert point.xy == pytest.approx((320, 150))


def test_qwen2_vl_box_tokens_survive_decoding(checkpoints: dict[str, Path]) -> None:
    answer = "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(250,250),(750,750)<|box_end|>"
    (det,) = forced(checkpoints["qwen2_vl"], answer).detect(IMG, ["cat"])
    assert det.label == "cat" and det.xyxy == pytest.approx((160, 75, 480, 225))


# ----------------------------------------------------------------------------- parity and batching
@pytest.mark.parametrize("family", FAMILIES)
def test_sdk_text_equals_the_model_card_recipe(family: str, checkpoints: dict[str, Path]) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = checkpoints[family]
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(path)
    messages = [
        {"role": "user", "content": [{"type": "image", "image": IMG}, {"type": "text", "text": "Hi?"}]}
    ]
    inputs = processor.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    recipe = processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0]
    sdk = QwenVLM(str(path), device="cpu").prompt(IMG, "Hi?", max_tokens=12)
    assert sdk.text == recipe.strip()


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_equals_single_under_greedy(family: str, clients: dict[str, QwenVLM]) -> None:
    vlm = clients[family]
    images = [
        IMG,
        Image.new("RGB", (200, 400), (10, 200, 30)),
        Image.new("RGB", (333, 333), (10, 20, 230)),
        Image.new("RGB", (500, 120), (240, 240, 0)),
        Image.new("RGB", (90, 90), (0, 0, 0)),
    ]
    singles = [vlm.ask(image, "What is this?", max_tokens=10).text for image in images]
    batched = [r.text for r in vlm.ask(images, "What is this?", max_tokens=10)]
    assert batched == singles
    assert vlm.backend.max_batch_size == 4  # 5 images ran as a batch of 4 and a batch of 1


def test_mixed_requests_in_one_batch(clients: dict[str, QwenVLM]) -> None:
    vlm = clients["qwen3_vl"]
    short = vlm.ask(IMG, "q", max_tokens=3)
    long = vlm.ask(IMG, "q", max_tokens=9)
    assert short.usage is not None and short.usage.completion_tokens <= 3
    assert long.text.startswith(short.text) or short.usage.completion_tokens < 3


def test_one_client_is_safe_to_share_between_threads(clients: dict[str, QwenVLM]) -> None:
    import threading

    vlm = clients["qwen3_vl"]
    expected = vlm.ask(IMG, "q", max_tokens=5).text
    out: list[str] = []
    threads = [
        threading.Thread(target=lambda: out.append(vlm.ask(IMG, "q", max_tokens=5).text)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [expected] * 4


async def test_async_client_on_the_local_backend(checkpoints: dict[str, Path]) -> None:
    vlm = AsyncQwenVLM(
        str(checkpoints["qwen3_vl"]), device="cpu", generate_kwargs=scripted('{"label": "red"}')
    )
    results = await vlm.classify([IMG, IMG], ["red", "blue"])
    assert [r.label for r in results] == ["red", "red"]


# ----------------------------------------------------------------------------- thinking and sampling
def test_qwen35_enable_thinking_reaches_the_template(checkpoints: dict[str, Path]) -> None:
    vlm = forced(checkpoints["qwen3_5"], "the square is red</think>Red.")
    on = vlm.caption(IMG, enable_thinking=True)
    assert (on.thinking, on.text) == ("the square is red", "Red.")
    off = forced(checkpoints["qwen3_5"], "Red.").caption(IMG, enable_thinking=False)
    assert (off.thinking, off.text) == (None, "Red.")
    cut = forced(checkpoints["qwen3_5"], "still thinking about it").caption(IMG, enable_thinking=True)
    assert cut.thinking == "still thinking about it" and cut.text == ""
    assert cut.error is not None and "max_tokens" in cut.error


def test_thinking_checkpoint_prefills_think(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl_thinking"]), device="cpu", family="qwen3_vl",
                  generate_kwargs=scripted("hmm, red</think>A red square."))  # fmt: skip
    result = vlm.caption(IMG)
    assert (result.thinking, result.text) == ("hmm, red", "A red square.")


def test_temperature_samples(clients: dict[str, QwenVLM]) -> None:
    vlm = clients["qwen3_vl"]
    greedy = {vlm.ask(IMG, "q", max_tokens=8).text for _ in range(2)}
    assert len(greedy) == 1
    torch.manual_seed(0)
    sampled = {vlm.ask(IMG, "q", max_tokens=8, temperature=1.5).text for _ in range(4)}
    assert len(sampled) > 1


# ----------------------------------------------------------------------------- loading options
def test_lazy_loading(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", lazy=True)
    assert "not loaded" in repr(vlm.backend)
    assert vlm.capabilities.pixel_budget is None  # the processor's bounds are not known yet
    vlm.caption(IMG, max_tokens=2)
    assert "loaded" in repr(vlm.backend) and "not loaded" not in repr(vlm.backend)
    budget = vlm.capabilities.pixel_budget  # now they are, and they are what the processor resizes to
    ref = ImageRef(None, _image=IMG, _size=IMG.size)
    assert budget is not None and budget.fit(640, 300) == vlm.backend.input_size(ref)  # type: ignore[attr-defined]


def test_dtype_and_attention_options(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", dtype="bfloat16", attn_implementation="eager")
    assert vlm.backend.model.dtype == torch.bfloat16  # type: ignore[attr-defined]
    assert vlm.caption(IMG, max_tokens=3).usage is not None
    with pytest.raises(ConfigurationError, match="unknown dtype"):
        QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", dtype="float99")


def test_lora_adapter(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForImageTextToText

    base = AutoModelForImageTextToText.from_pretrained(checkpoints["qwen3_vl"])
    config = peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    torch.manual_seed(1)
    peft.get_peft_model(base, config).save_pretrained(tmp_path / "adapter")
    plain = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu")
    tuned = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", adapter=str(tmp_path / "adapter"))
    assert type(tuned.backend.model).__name__ == "PeftModel"  # type: ignore[attr-defined]
    assert tuned.ask(IMG, "q", max_tokens=12).text != plain.ask(IMG, "q", max_tokens=12).text
    # Prefix reuse and class scores go through the adapter too.
    tuned_scores = tuned.classify(IMG, ["red", "blue"]).scores
    assert tuned_scores is not None and tuned_scores != plain.classify(IMG, ["red", "blue"]).scores
    assert tuned.ask(IMG, "q", max_tokens=12).text == tuned.ask(IMG, "q", max_tokens=12).text


# ----------------------------------------------------------------------------- errors
def test_openrouter_slug_on_local_fails_before_loading() -> None:
    with pytest.raises(ConfigurationError, match="served by backend"):
        QwenVLM("qwen/qwen3-vl-8b-instruct", backend="local")


def test_unfetchable_repo_suggests_a_local_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match=r"HF_HUB_OFFLINE=1.*local directory") as info:
        QwenVLM("Qwen/Qwen3-VL-2B-Instruct", device="cpu")
    assert "QwenVLM('/path/to/checkpoint')" in str(info.value)
    with pytest.raises(ModelNotFoundError, match="cannot load model 'someone/not-a-model'"):
        QwenVLM("someone/not-a-model", device="cpu")


def test_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"without config\.json"):
        QwenVLM(str(tmp_path), device="cpu")
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ConfigurationError, match="not a Qwen-VL one"):
        QwenVLM(str(tmp_path), device="cpu")


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "peft", None)  # makes `import peft` fail
    with pytest.raises(MissingDependencyError, match=r'pip install "qwen-vlm\[peft\]"'):
        QwenVLM("Qwen/Qwen3-VL-2B-Instruct", device="cpu", adapter="x")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "qwen-vlm\[local\]"'):
        QwenVLM("Qwen/Qwen3-VL-2B-Instruct")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no checkpoint folder at .*nope.*does not exist"):
        QwenVLM(str(tmp_path / "nope"), device="cpu")


def test_out_of_memory_is_typed_with_the_batch_size(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", batch_size=3)
    model = vlm.backend.model  # type: ignore[attr-defined]

    def oom(**kwargs: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    original = model.generate
    model.generate = oom
    try:
        results = vlm.caption([IMG] * 3)
    finally:
        model.generate = original
    assert all(
        r.error is not None and "OutOfMemoryError" in r.error and "batch of 3" in r.error for r in results
    )


def test_bad_local_options(checkpoints: dict[str, Path]) -> None:
    path = str(checkpoints["qwen3_vl"])
    with pytest.raises(ConfigurationError, match="batch_size"):
        QwenVLM(path, batch_size=0)
    with pytest.raises(ConfigurationError, match="either device"):
        QwenVLM(path, device="cpu", device_map="auto")
    with pytest.raises(ConfigurationError, match="do not apply"):
        QwenVLM(path, privacy="zdr")
    with pytest.raises(ConfigurationError, match="unknown device 'gpu'"):
        QwenVLM(path, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="CUDA is not available"):
            QwenVLM(path, device="cuda")
    with pytest.raises(ConfigurationError, match="unknown dtype"):
        QwenVLM(path, device="cpu", dtype="float99", lazy=True)


def test_unreachable_hub_fails_fast_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connections are refused at once
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(ModelNotFoundError, match=r"Hub \(127\.0\.0\.1\) is not reachable.*local directory"):
        QwenVLM("Qwen/Qwen3.5-2B")
    assert time.monotonic() - start < 10


def test_testing_module_reexports_the_builders() -> None:
    from qwen_vlm import testing, tiny

    assert testing.build_tiny_checkpoint is tiny.build_tiny_checkpoint
    assert testing.scripted is tiny.scripted


@pytest.mark.parametrize("family", ["qwen3_vl_moe", "qwen3_5_moe"])
def test_moe_checkpoints_load_through_the_same_path(family: str, tmp_path: Path) -> None:
    path = build_tiny_checkpoint(tmp_path / family, family)  # type: ignore[arg-type]
    answer = '[{"bbox_2d": [250, 250, 750, 750], "label": "cat"}]'
    vlm = forced(path, answer)
    assert vlm.info.family == family
    assert type(vlm.backend.model).__name__.endswith("MoeForConditionalGeneration")  # type: ignore[attr-defined]
    (det,) = vlm.detect(IMG, ["cat"])
    assert det.xyxy == pytest.approx((160, 75, 480, 225))
    assert len(vlm.ask([IMG, IMG], "q", max_tokens=4)) == 2


@pytest.mark.parametrize("family", ("qwen2_5_vl", "qwen3_vl"))
def test_a_tasks_system_message_equals_the_recipe_with_it(family: str, checkpoints: dict[str, Path]) -> None:
    """A task's system() goes where the template puts a system turn; prefixes are not shared across it."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from qwen_vlm import Task, TextResult

    class Sys(Task):
        name = "system-test"

        def system(self, params: Any) -> str:
            return str(params["system"])

        def prompt(self, params: Any) -> str:
            return "Hi?"

        def parse(self, answer: Any) -> TextResult:
            return TextResult()

    path = checkpoints[family]
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(path)
    vlm = QwenVLM(str(path), device="cpu")
    for system in ("You are a screen reader.", "Answer in French.", "You are a screen reader."):
        messages = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {"role": "user", "content": [{"type": "image", "image": IMG}, {"type": "text", "text": "Hi?"}]},
        ]
        inputs = processor.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
        recipe = processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0]
        assert vlm.run(Sys(), IMG, system=system, max_tokens=12).text == recipe.strip()


@pytest.mark.parametrize("family", FAMILIES)
def test_the_size_a_prompt_states_is_the_processors(family: str, checkpoints: dict[str, Path]) -> None:
    """Capabilities.input_size (a prompt can state it) equals the size the processor really produced."""
    vlm = QwenVLM(str(checkpoints[family]), device="cpu", min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    stated = vlm.capabilities.input_size
    assert stated is not None
    for size in ((640, 300), (97, 1500), (1920, 1080)):
        image = Image.new("RGB", size)
        detections = vlm.detect(image, ["x"], max_tokens=4)
        from qwen_vlm.image_refs import prepare_images

        (ref,) = prepare_images([image], single=True, keep_going=False)
        assert detections.image_size == size
        assert (
            stated(ref)
            == vlm.backend.generate(  # type: ignore[attr-defined]
                [
                    __import__("qwen_vlm").GenerationRequest(
                        image=ref, prompt="Hi", max_tokens=1, needs_geometry=True
                    )
                ]
            )[0].input_size
        )
