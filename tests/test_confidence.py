"""A confidence on every box and point: the definition, the local backend, servers, and its uses.

confidence = P(label) x GM(coordinate tokens): the product of the probabilities of the tokens holding
the label's characters, times the geometric mean of those holding the coordinates' digits.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qwen_vlm import ConfigurationError, Detection, Detections, Points, QwenVLM, parse
from qwen_vlm.interop import to_rows
from qwen_vlm.logprobs import TokenLogprobs, merge_pieces, pieces_from_bytes
from qwen_vlm.tasks.confidence import with_confidences

Q3 = "Qwen/Qwen3-VL-8B-Instruct"
SIZE = (1000, 500)


def by_hand(tokens: list[tuple[str, float]], label: str | None, numbers: list[str], after: int = 0) -> float:
    """The definition applied with str.find on the concatenated tokens (independent of the library)."""
    text = "".join(t for t, _ in tokens)
    starts = [sum(len(t) for t, _ in tokens[:k]) for k in range(len(tokens))]

    def holding(start: int, end: int) -> set[int]:
        return {k for k, s in enumerate(starts) if s < end and s + len(tokens[k][0]) > start}

    coordinate: set[int] = set()
    cursor = after
    for number in numbers:
        at = text.index(number, cursor)
        coordinate |= holding(at, at + len(number))
        cursor = at + len(number)
    lp = sum(tokens[k][1] for k in coordinate) / len(coordinate)
    if label is not None:
        at = text.index(f'"{label}"', after) + 1
        lp += sum(tokens[k][1] for k in holding(at, at + len(label)) - coordinate)
    return math.exp(lp)


def tokens_of(text: str, size: int = 3, seed: int = 0) -> list[tuple[str, float]]:
    """``text`` cut into pieces of ``size`` characters, each with a different log-probability."""
    pieces = [text[k : k + size] for k in range(0, len(text), size)]
    return [(p, -0.05 * ((k * 7 + seed) % 11) - 0.01) for k, p in enumerate(pieces)]


# ----------------------------------------------------------------------------------- the definition
def test_the_definition_on_hand_made_tokens() -> None:
    answer = (
        '[{"bbox_2d": [100, 120, 500, 600], "label": "cat"}, {"label": "dog", "bbox_2d": [600, 10, 900, 70]}]'
    )
    tokens = tokens_of(answer)
    logprobs = merge_pieces(tokens)
    result = parse("detect", answer, Q3, image_size=SIZE)
    assert all(d.confidence is None for d in result)  # parse() on plain text: no probabilities, no score
    scored = with_confidences(tuple(result), answer, logprobs)
    cat = by_hand(tokens, "cat", ["100", "120", "500", "600"])
    dog = by_hand(tokens, "dog", ["600", "10", "900", "70"], after=answer.index('{"label": "dog"'))
    assert scored[0].confidence == pytest.approx(cat, rel=1e-9)
    assert scored[1].confidence == pytest.approx(dog, rel=1e-9)
    assert scored[0].confidence != scored[1].confidence and all(0 < d.confidence < 1 for d in scored)


def test_thinking_before_the_answer_and_a_point_written_as_an_object() -> None:
    answer = '[{"point_2d": {"x": 250, "y": 40}, "label": "a"}]'
    generated = "<think>maybe [250, 40]?</think>\n\n" + answer
    tokens = tokens_of(generated, size=2)
    result = parse("point", answer, Q3, image_size=SIZE)
    scored = with_confidences(tuple(result), answer, merge_pieces(tokens))
    expected = by_hand(tokens, "a", ["250", "40"], after=generated.index("</think>"))
    assert scored[0].confidence == pytest.approx(expected, rel=1e-9)


def test_qwen2_vl_box_tokens() -> None:
    answer = "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(100,120),(500,600)<|box_end|>"
    tokens = [
        ("<|object_ref_start|>", -0.1),
        ("cat", -0.5),
        ("<|object_ref_end|>", -0.1),
        ("<|box_start|>", -0.2),
        *[(c, -0.01 * k) for k, c in enumerate("(100,120),(500,600)")],
        ("<|box_end|>", -0.3),
    ]
    result = parse("detect", answer, "Qwen/Qwen2-VL-7B-Instruct", image_size=SIZE)
    scored = with_confidences(tuple(result), answer, merge_pieces(tokens))
    digits = [lp for t, lp in tokens[4:-1] if t.isdigit()]
    assert scored[0].confidence == pytest.approx(math.exp(-0.5 + sum(digits) / len(digits)))


def test_a_group_answer_scores_each_object_on_its_image() -> None:
    answer = (
        '[{"image": 2, "bbox_2d": [0, 0, 100, 100], "label": "x"}, '
        '{"image": 1, "bbox_2d": [5, 5, 9, 9], "label": "y"}]'
    )
    tokens = tokens_of(answer, size=4)
    lp = merge_pieces(tokens)
    from qwen_vlm.models import resolve_model
    from qwen_vlm.tasks import Answer, Delivery, get_task, read_answer

    result = read_answer(
        get_task("object-detection"),
        Answer(answer, {"classes": None}, resolve_model(Q3, "openai"), image_size=(200, 100),
               image_sizes=((200, 100), (300, 300)), logprobs=lp, images=2),
        Delivery(),
    )  # fmt: skip
    found = {d.label: d for d in result}
    assert found["x"].image == 1 and found["y"].image == 0
    assert found["x"].confidence == pytest.approx(by_hand(tokens, "x", ["0", "0", "100", "100"]))
    assert found["y"].confidence == pytest.approx(
        by_hand(tokens, "y", ["5", "5", "9", "9"], after=answer.index('{"image": 1'))
    )


def test_split_characters_are_one_piece() -> None:
    cat = "猫".encode()
    joined = pieces_from_bytes([(b'"', -0.1), (cat[:1], -0.2), (cat[1:], -0.3), (b'"', -0.4)])
    assert joined.text == '"猫"' and joined.logprobs == pytest.approx((-0.1, -0.5, -0.4))
    assert list(TokenLogprobs(("ab", "cd", "e"), (0, 0, 0)).covering(1, 3)) == [0, 1]


def test_unlocatable_objects_get_none_never_a_made_up_score() -> None:
    answer = "[[100, 120, 500, 600]]"  # a bare list of numbers: no key to find
    result = parse("detect", answer, Q3, image_size=SIZE)
    scored = with_confidences(tuple(result), answer, merge_pieces(tokens_of(answer)))
    assert len(scored) == 1 and scored[0].confidence is None


# ----------------------------------------------------------------------------------- its uses
def scored_detections() -> Detections:
    dets = (
        Detection("cat", (0, 0, 10, 10), (0, 0, 10, 10), confidence=0.9),
        Detection("dog", (5, 5, 20, 20), (5, 5, 20, 20), confidence=0.3),
        Detection("cat", (1, 1, 2, 2), (1, 1, 2, 2), confidence=None),
    )
    return Detections(detections=dets, image_size=(40, 40), classes=("cat", "dog"))


def test_filter_keeps_what_passes_and_drops_unknowns() -> None:
    dets = scored_detections()
    assert dets.filter(min_confidence=0.5).confidences == [0.9]
    assert dets.filter(min_confidence=0.0).confidences == [0.9, 0.3]
    with pytest.raises(ConfigurationError):
        dets.filter(min_confidence=1.5)
    assert isinstance(dets.filter(min_confidence=0.5), Detections)
    assert "confidence=0.90" in repr(dets[0])


def test_arrays_tables_supervision_and_drawing_carry_it() -> None:
    np = pytest.importorskip("numpy")
    dets = scored_detections()
    array = dets.confidence_array()
    assert array.shape == (3,) and array[0] == pytest.approx(0.9) and np.isnan(array[2])
    rows = to_rows([dets], per="object")
    assert [r["confidence"] for r in rows] == [0.9, 0.3, None]
    sv = pytest.importorskip("supervision")
    known = dets.filter(min_confidence=0.0).to_supervision()
    assert isinstance(known, sv.Detections) and list(known.confidence) == pytest.approx([0.9, 0.3])
    assert dets.to_supervision().confidence is None  # one unknown: no made-up column
    plain = Detections(detections=dets.detections[:1], image_size=(40, 40))
    unscored = Detections(detections=(Detection("cat", (0, 0, 10, 10)),), image_size=(40, 40))
    canvas = Image.new("RGB", (40, 40))
    assert plain.draw(canvas).tobytes() != unscored.draw(canvas).tobytes()  # "cat 0.90" is written


# ----------------------------------------------------------------------------------- local backend
IMG = Image.effect_noise((320, 200), 60).convert("RGB")
# As the grammar writes JSON (", " and ": " separators), so the scripted answer passes it unchanged.
ANSWERS = {
    family: json.dumps([{"bbox_2d": list(a), "label": "cat"}, {"bbox_2d": list(b), "label": "dog"}])
    for family, (a, b) in {
        "qwen3_vl": ((100, 120, 500, 600), (600, 100, 900, 700)),
        "qwen3_5": ((100, 120, 500, 600), (600, 100, 900, 700)),
        "qwen2_5_vl": ((10, 20, 100, 90), (120, 30, 200, 100)),
    }.items()
}


def reference_logprobs(vlm: QwenVLM, seen: dict[str, Any], answer: str) -> list[tuple[str, float]]:
    """Each generated token's text and log-probability, from ``generate``'s own raw logits."""
    import torch
    from transformers import LogitsProcessorList

    from qwen_vlm.tiny import ScriptedLogitsProcessor

    backend: Any = vlm.backend
    tokenizer = backend.processor.tokenizer
    kwargs = {k: v for k, v in seen.items() if k not in ("logits_processor", "streamer")}
    kwargs["logits_processor"] = LogitsProcessorList([ScriptedLogitsProcessor(tokenizer, answer)])
    with torch.inference_mode():
        out = backend.model.generate(**kwargs, output_logits=True, return_dict_in_generate=True)
    new = out.sequences[0, seen["input_ids"].shape[1] :].tolist()
    values = [torch.log_softmax(out.logits[k][0].float(), -1)[t].item() for k, t in enumerate(new)]
    return [(tokenizer.decode([t]), v) for t, v in zip(new, values, strict=True)][
        : len(tokenizer.encode(answer))
    ]


@pytest.mark.local
@pytest.mark.parametrize("family", sorted(ANSWERS))
@pytest.mark.parametrize("constrained", [True, False])
def test_local_confidences_equal_the_definition_on_generates_scores(
    checkpoints: dict[str, Path], generate_inputs: Any, family: str, constrained: bool
) -> None:
    from qwen_vlm.tiny import scripted

    answer = ANSWERS[family]
    vlm = QwenVLM(
        str(checkpoints[family]), device="cpu", generate_kwargs=scripted(answer), prefix_cache_mb=0,
        constrained=constrained,
    )  # fmt: skip
    seen = generate_inputs(vlm)
    result = vlm.detect(IMG, ["cat", "dog"], max_tokens=120)
    assert result.ok and result.text == answer and len(result) == 2
    tokens = reference_logprobs(vlm, seen, answer)
    assert "".join(t for t, _ in tokens) == answer
    numbers = re.findall(r"\d+", answer.replace("bbox_2d", ""))
    expected = [
        by_hand(tokens, "cat", numbers[:4]),
        by_hand(tokens, "dog", numbers[4:], after=answer.index("}, {") + 2),
    ]
    assert [d.confidence for d in result] == pytest.approx(expected, rel=1e-4)
    assert all(0.0 <= c <= 1.0 for c in result.confidences) and expected[0] != expected[1]


@pytest.mark.local
@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl", "qwen3_5", "qwen2_vl"])
def test_every_family_scores_points_and_boxes(checkpoints: dict[str, Path], family: str) -> None:
    from qwen_vlm.tiny import scripted

    if family == "qwen2_vl":
        answer = "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(100,120),(500,600)<|box_end|>"
        task = "detect"
    else:
        answer = '[{"point_2d": [40, 50], "label": "cat"}, {"point_2d": [70, 20], "label": "cat"}]'
        task = "point"
    vlm = QwenVLM(str(checkpoints[family]), device="cpu", generate_kwargs=scripted(answer))
    result = vlm.run(task, IMG, classes=["cat"], max_tokens=120)
    assert result.ok and len(result) >= 1
    assert all(c is not None and 0.0 <= c <= 1.0 for c in result.confidences)
    if len(result) > 1:
        assert len(set(result.confidences)) == len(result)
    streamed = vlm.stream(task, IMG, classes=["cat"], max_tokens=120)
    list(streamed)
    assert streamed.result.confidences == pytest.approx(result.confidences)


@pytest.mark.local
def test_min_confidence_and_a_batch_on_the_local_backend(checkpoints: dict[str, Path]) -> None:
    from qwen_vlm.tiny import scripted

    answer = ANSWERS["qwen3_vl"]
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", generate_kwargs=scripted(answer))
    batch = vlm.detect([IMG, IMG.rotate(90, expand=True)], ["cat", "dog"], max_tokens=120)
    assert all(len(r) == 2 and None not in r.confidences for r in batch)
    single = vlm.detect(IMG, ["cat", "dog"], max_tokens=120)
    assert single.confidences == pytest.approx(batch[0].confidences, rel=1e-4)  # batched or not
    low, high = sorted(single.confidences)  # type: ignore[type-var]
    kept = vlm.detect(IMG, ["cat", "dog"], max_tokens=120, min_confidence=(low + high) / 2)
    assert len(kept) == 1 and kept.confidences == pytest.approx([high])
    with pytest.raises(ConfigurationError, match="min_confidence applies to detect and point"):
        vlm.caption(IMG, min_confidence=0.5)  # type: ignore[call-arg]


def test_points_filter_too() -> None:
    from qwen_vlm import Point

    points = Points(points=(Point("a", (1, 1), confidence=0.2), Point("b", (2, 2), confidence=0.8)))
    assert points.filter(min_confidence=0.5).labels == ["b"]


# ----------------------------------------------------------------------------------- servers
ANSWER = (
    '[{"bbox_2d": [100, 120, 500, 600], "label": "cat"}, {"bbox_2d": [600, 100, 900, 700], "label": "猫"}]'
)


def _server_client(chat: Any, **options: Any) -> QwenVLM:
    return QwenVLM("Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=chat.url, api_key="x", **options)


@pytest.fixture
def chat() -> Any:
    pytest.importorskip("openai")
    from chat_server import chat_server

    with chat_server() as server:
        yield server


def test_a_server_with_logprobs_gives_the_definition_of_its_tokens(chat: Any) -> None:
    from chat_server import Reply, completion

    tokens = tokens_of(ANSWER, size=2)
    chat.script = lambda n, body: Reply(
        body=completion(ANSWER, logprobs=tokens if body.get("logprobs") else None)
    )
    result = _server_client(chat).detect(IMG, ["cat", "猫"])
    assert chat.requests[0]["logprobs"] is True and "top_logprobs" not in chat.requests[0]
    expected = [
        by_hand(tokens, "cat", ["100", "120", "500", "600"]),
        by_hand(tokens, "猫", ["600", "100", "900", "700"], after=ANSWER.index("}, {")),
    ]
    assert result.confidences == pytest.approx(expected, rel=1e-9)


def test_bytes_split_inside_a_character_are_joined(chat: Any) -> None:
    from chat_server import Reply

    head, tail = ANSWER.split("猫")
    cat = "猫".encode()
    items = [{"token": c, "logprob": -0.01, "bytes": list(c.encode()), "top_logprobs": []} for c in head]
    items += [
        {"token": "bytes:\\xe7", "logprob": -0.2, "bytes": list(cat[:1]), "top_logprobs": []},
        {"token": "bytes:\\x8c\\xab", "logprob": -0.3, "bytes": list(cat[1:]), "top_logprobs": []},
    ]
    items += [{"token": c, "logprob": -0.02, "bytes": list(c.encode()), "top_logprobs": []} for c in tail]
    from chat_server import completion

    body = completion(ANSWER)
    body["choices"][0]["logprobs"] = {"content": items}
    chat.script = lambda n, b: Reply(body=body)
    result = _server_client(chat).detect(IMG, ["cat", "猫"])
    assert result[1].confidence == pytest.approx(math.exp(-0.5 - 0.01))


def test_a_streamed_answer_carries_its_logprobs(chat: Any) -> None:
    from chat_server import Reply, chunk

    tokens = tokens_of(ANSWER, size=5)
    events = [chunk(t, logprobs=[(t, lp)]) for t, lp in tokens]
    events.append(chunk("", finish_reason="stop"))
    chat.script = lambda n, body: Reply(events=events)
    stream = _server_client(chat).stream("detect", IMG, classes=["cat", "猫"])
    list(stream)
    assert stream.result.confidences == pytest.approx(
        [
            by_hand(tokens, "cat", ["100", "120", "500", "600"]),
            by_hand(tokens, "猫", ["600", "100", "900", "700"], after=ANSWER.index("}, {")),
        ]
    )


def test_a_server_profile_without_logprobs_sends_none_and_gives_none(chat: Any) -> None:
    from chat_server import Reply, completion

    chat.script = lambda n, body: Reply(body=completion(ANSWER))
    vlm = _server_client(chat, server="transformers")
    result = vlm.detect(IMG, ["cat", "猫"])
    assert "logprobs" not in chat.requests[0] and result.confidences == [None, None]
    with pytest.raises(ConfigurationError, match="token probabilities"):
        vlm.detect(IMG, ["cat"], min_confidence=0.5)
    assert len(chat.requests) == 1  # refused before anything was sent
    vllm = _server_client(chat)
    vllm.caption(IMG)
    assert "logprobs" not in chat.requests[-1]  # only detection and pointing ask for them


def test_openrouter_asks_and_a_provider_without_them_gives_none(chat: Any) -> None:
    from chat_server import Reply, completion

    points = '[{"point_2d": [100, 120], "label": "cat"}, {"point_2d": [300, 400], "label": "cat"}]'
    chat.script = lambda n, body: Reply(body=completion(points))
    vlm = QwenVLM("qwen/qwen3-vl-8b-instruct", backend="openrouter", base_url=chat.url, api_key="k-123456")
    result = vlm.point(IMG, ["cat"], constrained=False)
    assert chat.requests[0]["logprobs"] is True
    assert "require_parameters" not in chat.requests[0].get("provider", {})
    assert result.ok and result.confidences == [None, None]
