"""Video input and temporal grounding: frames sampled like transformers' recipe, answers in video seconds."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer, Reply, chat_server, completion
from PIL import Image

from qwen_vlm import ConfigurationError, Events, QwenVLM, Video, VideoError
from qwen_vlm.video import read_video

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
FAMILIES = ("qwen2_5_vl", "qwen3_vl", "qwen3_5")


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-second, 10 fps clip written with PyAV: the red channel rises frame by frame."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(40):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, :, 0] = k * 6
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def frames(count: int) -> list[Image.Image]:
    return [Image.new("RGB", (64, 48), (k * 40, 0, 0)) for k in range(count)]


# ----------------------------------------------------------------------------- Video and its reader
def test_video_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="fps"):
        Video("a.mp4", fps=0)
    with pytest.raises(ConfigurationError, match="max_frames"):
        Video("a.mp4", max_frames=1)
    with pytest.raises(ConfigurationError, match="3 timestamps for 2 frames"):
        Video(frames(2), timestamps=[0, 1, 2])
    with pytest.raises(ConfigurationError, match="increasing"):
        Video(frames(2), timestamps=[1, 1])
    with pytest.raises(ConfigurationError, match="a list of frames"):
        Video("a.mp4", timestamps=[0.0])
    with pytest.raises(ConfigurationError, match="file path, an http"):
        Video(42)  # type: ignore[arg-type]


def test_a_file_is_sampled_evenly_with_its_own_times(clip_path: Path) -> None:
    clip = read_video(Video(clip_path, fps=2))
    assert len(clip.frames) == 8 and clip.fps == 10.0 and clip.total_frames == 40
    assert clip.indices == (0, 6, 11, 17, 22, 28, 33, 39)
    assert clip.timestamps == pytest.approx([k / 10 for k in clip.indices])
    assert clip.frames[-1].getpixel((5, 5))[0] > clip.frames[0].getpixel((5, 5))[0] + 150
    assert len(read_video(Video(clip_path, fps=2, max_frames=4)).frames) == 4


def test_unreadable_videos_are_typed_errors(clip_path: Path, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="not found"):
        read_video(Video(tmp_path / "none.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoError, match="cannot read video"):
        read_video(Video(junk))


# ----------------------------------------------------------------------------- local backend
def local(path: Path, **options: Any) -> QwenVLM:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return QwenVLM(str(path), device="cpu", **options)


@pytest.mark.parametrize("family", FAMILIES)
def test_local_inputs_equal_the_transformers_recipe(
    family: str, clip_path: Path, checkpoints: dict[str, Path], generate_inputs: Any
) -> None:
    import torch
    from transformers.video_utils import load_video

    vlm = local(checkpoints[family])
    backend: Any = vlm.backend
    seen = generate_inputs(vlm)
    assert vlm.ask(Video(clip_path, fps=2), "What changes?", max_tokens=4).ok
    processor = backend.processor
    video, metadata = load_video(
        str(clip_path),
        backend="pyav",
        sample_indices_fn=functools.partial(processor.video_processor.sample_frames, fps=2),
    )
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What changes?"}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    recipe = processor(
        text=[text],
        videos=[video],
        video_metadata=[metadata],
        do_sample_frames=False,
        cap_pixels_per_frame=True,
        return_tensors="pt",
    )
    assert torch.equal(seen["input_ids"], recipe["input_ids"])
    assert torch.equal(seen["pixel_values_videos"], recipe["pixel_values_videos"])
    assert torch.equal(seen["video_grid_thw"], recipe["video_grid_thw"])
    if family == "qwen2_5_vl":  # absolute time: one temporal patch = 2 frames at 2 fps = 1 s
        assert seen["second_per_grid_ts"].tolist() == recipe["second_per_grid_ts"].tolist() == [1.0]
    else:  # the frames' times are in the prompt
        assert "<0.3 seconds>" in processor.tokenizer.decode(seen["input_ids"][0])


@pytest.mark.parametrize(
    ("family", "written"),
    [
        ("qwen2_5_vl", (0.5, 1.5)),  # counts from the first frame it saw (10.0 s)
        ("qwen3_vl", (10.5, 11.5)),  # reads the frames' absolute times from the prompt
        ("qwen3_5", (10.5, 11.5)),
    ],
)
def test_scripted_spans_come_back_in_seconds_of_the_video(
    family: str, written: tuple[float, float], checkpoints: dict[str, Path]
) -> None:
    from qwen_vlm.tiny import scripted

    answer = f'[{{"event": "red appears", "start": {written[0]}, "end": {written[1]}}}]'
    vlm = local(checkpoints[family], generate_kwargs=scripted(answer))
    video = Video(frames(4), timestamps=[10.0, 10.5, 11.0, 11.5])
    result = vlm.locate_events(video, ["red appears"])
    assert isinstance(result, Events) and result.ok
    (event,) = result
    assert (event.label, event.start, event.end) == ("red appears", 10.5, 11.5)
    assert event.raw == written and result.timestamps == (10.0, 10.5, 11.0, 11.5)
    picture = result.draw()
    assert picture.width >= 4 * 48 and result._repr_png_() is not None


@pytest.mark.parametrize("family", FAMILIES)
def test_video_tasks_end_to_end(family: str, clip_path: Path, checkpoints: dict[str, Path]) -> None:
    vlm = local(checkpoints[family])
    caption = vlm.caption(Video(clip_path), max_tokens=6)
    events = vlm.locate_events(Video(clip_path), ["red appears", "it goes dark"], max_tokens=80)
    assert caption.ok and events.ok  # constrained: the answer always parses
    assert all(0 <= e.start <= e.end <= 4.0 for e in events)
    assert all(e.label in ("red appears", "it goes dark") for e in events)


def test_video_batches_and_misuse(clip_path: Path, checkpoints: dict[str, Path], tmp_path: Path) -> None:
    vlm = local(checkpoints["qwen3_vl"])
    good, bad = vlm.caption([Video(clip_path), Video(tmp_path / "gone.mp4")], max_tokens=4)
    assert good.ok and isinstance(bad.exception, VideoError) and bad.exception.index == 1
    with pytest.raises(VideoError):
        vlm.caption(Video(tmp_path / "gone.mp4"))
    with pytest.raises(ConfigurationError, match="does not take a Video"):
        vlm.detect(Video(clip_path), ["cat"])
    with pytest.raises(ConfigurationError, match="locate_events needs a Video"):
        vlm.locate_events(Image.new("RGB", (32, 32)), ["x"])


# ----------------------------------------------------------------------------- remote backend
@pytest.fixture
def server() -> Any:
    pytest.importorskip("openai")
    with chat_server() as s:
        yield s


def test_remote_video_goes_as_timed_frames(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(body=completion('[{"event": "red", "start": 10.5, "end": 11.0}]'))
    vlm = QwenVLM("Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=server.url)
    result = vlm.locate_events(Video(frames(4), timestamps=[10.0, 10.5, 11.0, 11.5]), ["red"])
    parts = server.requests[0]["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", *["image_url"] * 4, "text"]
    assert "10.0, 10.5, 11.0, 11.5" in parts[0]["text"] and "red" in parts[-1]["text"]
    (event,) = result
    assert (event.start, event.end) == (10.5, 11.0)  # times were given absolute: no shift


def test_remote_video_over_the_image_limit_is_refused_before_sending(server: ChatServer) -> None:
    vlm = QwenVLM(
        "Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=server.url, max_images_per_request=3
    )
    with pytest.raises(ConfigurationError, match="max_frames"):
        vlm.ask(Video(frames(4)), "what?")
    assert server.requests == []


def test_video_and_group_results_fill_tables(clip_path: Path) -> None:
    from qwen_vlm import Event, Images, parse
    from qwen_vlm.interop import to_rows
    from qwen_vlm.results.base import source_name

    events = Events(events=(Event("red", 1.0, 2.0),), queries=("red",), duration=4.0, source=Video(clip_path))
    assert to_rows([events], per="object") == [
        {"image": 0, "source": str(clip_path), "object": 0, "label": "red", "start": 1.0, "end": 2.0}
    ]
    assert to_rows([events])[0]["events"] == 1 and events.to_dict()["source"] == str(clip_path)
    assert source_name(Images("a.jpg", Image.new("RGB", (2, 2)))) == "a.jpg + -"
    boxes = parse("detect", '[{"bbox_2d": [0, 0, 500, 500], "label": "cat"}]', image_size=(100, 100))
    assert "member" not in to_rows([boxes], per="object")[0]


def test_a_video_file_goes_as_video_url_where_the_server_takes_it(
    server: ChatServer, clip_path: Path
) -> None:
    import base64

    server.script = lambda n, body: Reply(body=completion('[{"event": "red", "start": 1.0, "end": 2.0}]'))
    vllm = QwenVLM(
        "Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=server.url, server="vllm",
        max_images_per_request=1,
    )  # fmt: skip
    (event,) = vllm.locate_events(Video(clip_path, fps=1), ["red"])
    parts = server.requests[-1]["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["video_url", "text"]
    url = parts[0]["video_url"]["url"]
    assert (
        url.startswith("data:video/mp4;base64,")
        and base64.b64decode(url.split(",", 1)[1]) == clip_path.read_bytes()
    )
    assert server.requests[-1]["mm_processor_kwargs"] == {"fps": 1.0}
    assert (event.start, event.end) == (1.0, 2.0)
    generic = QwenVLM("Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=server.url, server="generic")
    generic.caption(Video(clip_path, fps=1))
    kinds = [p["type"] for p in server.requests[-1]["messages"][0]["content"]]
    assert kinds[0] == "text" and kinds.count("image_url") == 4 and "video_url" not in kinds


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p: Video(p.parent), VideoError, "is not a file"),
        (lambda p: Video("ftp://host/clip.mp4"), VideoError, "unsupported URL scheme 'ftp'"),
        (lambda p: Video("http://127.0.0.1:9/clip.mp4"), VideoError, "downloading"),
        (lambda p: Video([frames(1)[0], None]), VideoError, "frame 2 of 2: unsupported image type"),
        (lambda p: Video([frames(1)[0], Image.new("RGB", (8, 8))]), VideoError, "same size"),
    ],
)
def test_bad_videos_fail_typed_before_anything_runs(
    make: Any, error: type[Exception], message: str, clip_path: Path
) -> None:
    with pytest.raises(error, match=message) as caught:
        read_video(make(clip_path))
    assert str(caught.value).startswith("video: ") and "image:" not in str(caught.value)


def test_a_bad_member_of_a_group_is_named_once() -> None:
    from qwen_vlm import ImageError, Images
    from qwen_vlm.engine.inputs import prepare_inputs

    with pytest.raises(ImageError) as caught:
        prepare_inputs([Images(frames(1)[0], None)], single=True, keep_going=False)
    assert str(caught.value) == (
        "image: image 2 of 2 in the group: unsupported image type NoneType; pass a PIL image, a path, "
        "bytes, a numpy HxWx3 uint8 array, a data: URL or an http(s) URL"
    )


def test_max_pixels_bounds_each_frame(checkpoints: dict[str, Path]) -> None:
    vlm = local(checkpoints["qwen3_vl"])
    big = [Image.new("RGB", (640, 480), (k * 30, 0, 0)) for k in range(4)]
    full = vlm.caption(Video(big), max_tokens=2).usage
    small = vlm.caption(Video(big, max_pixels=64 * 64 * 4), max_tokens=2).usage
    assert full is not None and small is not None and small.prompt_tokens < full.prompt_tokens / 2
