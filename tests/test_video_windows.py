"""Long videos: per-family frame budgets, windows merged in absolute time, and scan-then-zoom.

A real loopback chat-completions server plays the model: it reads the times of the frames it was sent
(the note before a video's frames) and answers the scripted events it can see in them, in seconds of the
video, at the precision its frames allow — as a model does.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer, Reply, chat_server, completion

from qwen_vlm import ConfigurationError, Events, QwenVLM, TextResult, Video, video_budget
from qwen_vlm.engine.windows import spans

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")
pytest.importorskip("openai")

Q3 = "Qwen/Qwen3-VL-8B-Instruct"
#: What happens in the two-minute test video (seconds).
TRUTH = {"door opens": [(10.0, 16.0)], "car passes": [(40.0, 70.0)], "light flashes": [(100.0, 106.0)]}


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 120-second MP4 at 2 frames per second (32x32)."""
    path = tmp_path_factory.mktemp("long") / "two-minutes.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=2)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for k in range(240):
            frame = np.full((32, 32, 3), k, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def frame_times(body: dict[str, Any]) -> list[float]:
    note = body["messages"][-1]["content"][0]["text"]
    return [float(t) for t in re.search(r"\(seconds\): ([\d., ]+)\.", note).group(1).split(", ")]  # type: ignore[union-attr]


def seen_events(body: dict[str, Any]) -> str:
    """The scripted events the frames show: from the first frame inside each to the last."""
    if body["messages"][-1]["content"][0]["type"] == "video_url":  # the server sampled the file itself
        return json.dumps([{"event": k, "start": s, "end": e} for k, [(s, e)] in TRUTH.items()])
    times = frame_times(body)
    answer = []
    for label, spans_ in TRUTH.items():
        for start, end in spans_:
            inside = [t for t in times if start <= t <= end]
            if inside:
                answer.append({"event": label, "start": inside[0], "end": inside[-1]})
    return json.dumps(answer)


def client(server: ChatServer, **options: Any) -> QwenVLM:
    """A client of a server without video input (frames go as images, their times said first)."""
    return QwenVLM(Q3, backend="openai", base_url=server.url, server="generic", **options)


@pytest.fixture
def server() -> Any:
    with chat_server() as s:
        s.script = lambda n, body: Reply(body=completion(seen_events(body)))
        yield s


def test_budgets_follow_qwens_recipes() -> None:
    q25, q3 = video_budget("Qwen/Qwen2.5-VL-7B-Instruct"), video_budget("qwen3_vl")
    assert (q25.factor, q25.max_frames, q25.frame_max_pixels, q25.total_pixels) == (28, 768, 602112, 90316800)
    assert (q3.factor, q3.frame_min_pixels, q3.total_pixels, q3.context_tokens) == (
        32,
        131072,
        117964800,
        262144,
    )
    assert video_budget("qwen2_vl").total_pixels == 24576 * 28 * 28
    # the more frames, the smaller each (qwen-vl-utils: total_pixels / frames * 2, within 128..768 tokens)
    assert q25.frame_pixels(8) == 602112 and q25.frame_pixels(768) == 90316800 // 768 * 2
    assert video_budget("qwen2_vl").frame_pixels(768) == int(100352 * 1.05)  # never under 128 tokens
    width, height = q3.frame_size((1920, 1080), 768)
    assert width % 32 == 0 and height % 32 == 0 and width * height <= q3.frame_pixels(768)
    assert q3.tokens((1920, 1080), 768) == 384 * (width // 32) * (height // 32)
    with pytest.raises(ConfigurationError, match="unknown model"):
        video_budget("llava")


def test_impossible_budgets_are_refused_before_anything_is_sent(server: ChatServer, long_video: Path) -> None:
    vlm = client(server)
    with pytest.raises(ConfigurationError, match="at most 768"):
        vlm.ask(Video(long_video, max_frames=1000), "what?")
    with pytest.raises(ConfigurationError, match="less than one visual token"):
        vlm.ask(Video(long_video, max_pixels=100), "what?")
    q2 = QwenVLM("Qwen/Qwen2-VL-7B-Instruct", backend="openai", base_url=server.url, server="generic")
    with pytest.raises(ConfigurationError, match="context of 32768"):
        q2.ask(Video(long_video, max_frames=700), "what?")
    assert server.requests == []


def test_the_result_says_how_many_frames_and_pixels_were_sent(server: ChatServer, long_video: Path) -> None:
    vlm = client(server)
    result = vlm.locate_events(Video(long_video, fps=0.1, max_frames=12), list(TRUTH))
    assert result.usage is not None and result.usage.video_frames == 12
    sent = server.requests[0]["messages"][-1]["content"][1:-1]
    assert len(sent) == 12
    # every frame went at the family's video frame size (32x32 frames are raised to 128 tokens' worth)
    width, height = video_budget(Q3).frame_size((32, 32), 12)
    assert result.usage.video_pixels == 12 * width * height
    import base64
    import io

    from PIL import Image

    first = Image.open(io.BytesIO(base64.b64decode(sent[0]["image_url"]["url"].split(",", 1)[1])))
    assert first.size == (width, height)


def test_windows_cover_the_video_with_overlaps() -> None:
    assert spans(0, 120, 30, 5) == [(0, 30), (25, 55), (50, 80), (75, 105), (100, 120)]
    assert spans(0, 20, 30, 5) == [(0, 20)]
    assert spans(10, 70, 30, 0) == [(10, 40), (40, 70)]


def test_events_come_back_in_absolute_time_merged_across_window_borders(
    server: ChatServer, long_video: Path
) -> None:
    vlm = client(server, max_concurrent_requests=4)
    video = Video(long_video, fps=1, max_frames=32)
    result = vlm.locate_events(video, list(TRUTH), window=30, window_overlap=5)
    assert isinstance(result, Events) and result.ok
    windows = sorted((frame_times(body)[0], frame_times(body)[-1]) for body in server.requests)
    assert windows == [(0.0, 30.0), (25.0, 55.0), (50.0, 80.0), (75.0, 105.0), (100.0, 119.5)]
    # "car passes" (40-70 s) is cut by the border at 55 s: seen as 40-55 and 50-70, it is one event
    assert sorted(e.label for e in result) == sorted(TRUTH) and result.duration == 120.0
    for event in result:  # in the video's time, as precise as ~1 s frame spacing allows
        ((start, end),) = TRUTH[event.label]
        assert abs(event.start - start) <= 1.0 and abs(event.end - end) <= 1.0, event
    assert (
        result.source is video
        and result.usage is not None
        and result.usage.video_frames
        == sum(len(body["messages"][-1]["content"]) - 2 for body in server.requests)
    )
    assert "[window 2: 0:25.0-0:55.0]" in result.text
    # the whole video's frames, for drawing: the union of the windows'
    assert video._clip is not None and video._clip.timestamps[0] == 0.0 and video._clip.timestamps[-1] > 110
    result.draw()


def test_auto_windows_follow_the_frame_budget(server: ChatServer, long_video: Path) -> None:
    vlm = client(server)
    result = vlm.locate_events(Video(long_video, fps=0.5, max_frames=16), ["door opens"], window="auto")
    assert len(server.requests) == 5  # 32-second windows (16 frames at 0.5 fps), overlapping by 3.2 s
    door = [e for e in result if e.label == "door opens"]
    assert len(door) == 1 and abs(door[0].start - 10) <= 2 and abs(door[0].end - 16) <= 2


def error(events: Events) -> float:
    """How far the events' times are from the truth, in seconds, all told."""
    return sum(abs(e.start - TRUTH[e.label][0][0]) + abs(e.end - TRUTH[e.label][0][1]) for e in events)


def test_refine_looks_again_around_each_event_at_a_higher_rate(server: ChatServer, long_video: Path) -> None:
    vlm = client(server)
    coarse = vlm.locate_events(Video(long_video, fps=0.25, max_frames=32), list(TRUTH))
    spacing = 120 / len(frame_times(server.requests[0]))
    assert sorted(e.label for e in coarse) == sorted(TRUTH)
    server.requests.clear()
    fine = vlm.locate_events(Video(long_video, fps=0.25, max_frames=32), list(TRUTH), refine=True)
    closer = sorted(server.requests[1:], key=lambda body: frame_times(body)[0])
    assert len(closer) == len(coarse) == 3  # one closer look per event found
    for body, event in zip(closer, sorted(coarse, key=lambda e: e.start), strict=False):
        times = frame_times(body)  # around the event, padded by two frames' spacing, at 4x the rate
        assert event.start - 2.5 * spacing <= times[0] <= event.start
        assert event.end <= times[-1] <= event.end + 2.5 * spacing
        assert max(b - a for a, b in itertools.pairwise(times)) <= spacing / 4 + 0.5
    assert [e.label for e in fine] == [e.label for e in sorted(coarse, key=lambda e: e.start)]
    for event in fine:  # the closer look's times, as precise as its 1 s frame spacing allows
        ((start, end),) = TRUTH[event.label]
        assert abs(event.start - start) <= 1.0 and abs(event.end - end) <= 1.0, event
    assert error(fine) < error(coarse)
    assert "closer look 1" in fine.text and fine.usage is not None
    assert fine.usage.video_frames == sum(len(frame_times(b)) for b in server.requests)


def test_windows_on_ask_and_caption_give_each_parts_answer_under_its_times(
    server: ChatServer, long_video: Path
) -> None:
    server.script = lambda n, body: Reply(body=completion(f"from {frame_times(body)[0]:g} s"))
    vlm = client(server)
    answer = vlm.ask(Video(long_video, fps=0.5), "what happens?", window=60, window_overlap=0)
    assert isinstance(answer, TextResult) and answer.ok
    assert answer.text.index("from 0 s") < answer.text.index("from 60 s")
    assert len(server.requests) == 2
    # a server that samples video files itself gets a window's frames: it cannot sample a part of a file
    vllm = QwenVLM(Q3, backend="openai", base_url=server.url, server="vllm")
    vllm.ask(Video(long_video, fps=0.5), "what happens?", window=60, window_overlap=0)
    kinds = {p["type"] for body in server.requests[2:] for p in body["messages"][-1]["content"]}
    assert kinds == {"text", "image_url"} and len(server.requests) == 4


def test_window_misuse_is_refused(server: ChatServer, long_video: Path, tmp_path: Path) -> None:
    vlm = client(server)
    with pytest.raises(ConfigurationError, match="shorter than window"):
        vlm.locate_events(Video(long_video), ["x"], window=10, window_overlap=10)
    with pytest.raises(ConfigurationError, match="refine=True applies to locate_events"):
        vlm.ask(Video(long_video), "x", refine=True)
    with pytest.raises(ConfigurationError, match="not with stream"):
        vlm.stream("ask", Video(long_video), question="x", window=10)
    with pytest.raises(ConfigurationError, match="window_overlap= needs window="):
        vlm.ask(Video(long_video), "x", window_overlap=3)
    with pytest.raises(ConfigurationError, match="fewer than the 2 frames"):  # not millions of windows
        vlm.ask(Video(long_video, fps=2), "x", window=1e-6)
    assert server.requests == []
    # in a list, a video that cannot be read is that video's failure; the others are windowed
    good, bad = vlm.locate_events(
        [Video(long_video, fps=0.2), Video(tmp_path / "gone.mp4")], ["door opens"], window=60
    )
    assert good.ok and not bad.ok and "not found" in (bad.error or "")
    assert server.requests and all(len(frame_times(b)) > 0 for b in server.requests)


def test_the_command_line_takes_window_and_refine(
    server: ChatServer, long_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qwen_vlm.cli import main

    common = ["--backend", "openai", "--base-url", server.url, "--model", Q3, "--fps", "0.25", "--json"]
    code = main(["locate_events", str(long_video), "--events", ",".join(TRUTH), "--window", "50", *common])
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and len(record["events"]) == 3 and len(server.requests) == 3
    assert {e["label"] for e in record["events"]} == set(TRUTH)
    code = main(["locate_events", str(long_video), "--events", "door opens", "--refine", *common])
    assert code == 0 and len(server.requests) == 3 + 1 + 3
    assert main(["locate_events", str(long_video), "--events", "x", "--window", "soon", *common]) == 2
    assert "--window takes seconds" in capsys.readouterr().err


def test_windows_on_the_local_backend(long_video: Path, checkpoints: dict[str, Path]) -> None:
    """Frames of each window through the checkpoint's processor, at their times in the whole video."""
    vlm = QwenVLM(str(checkpoints["qwen2_5_vl"]))
    video = Video(long_video, fps=0.25, max_frames=8)
    result = vlm.locate_events(video, ["door opens"], window=60, max_tokens=8)
    assert isinstance(result, Events) and result.text.count("[window") == 3
    assert result.usage is not None and result.usage.video_frames >= len(result.timestamps) >= 16
    assert video._clip is not None and video._clip.timestamps[-1] > 100
    assert result.timestamps == video._clip.timestamps


def test_windows_are_stored_one_by_one(server: ChatServer, long_video: Path, tmp_path: Path) -> None:
    vlm = QwenVLM(Q3, backend="openai", base_url=server.url, server="generic", cache=tmp_path / "store.db")
    first = vlm.locate_events(Video(long_video, fps=0.25), list(TRUTH), window=50)
    sent = len(server.requests)
    assert sent == 3
    again = vlm.locate_events(Video(long_video, fps=0.25), list(TRUTH), window=50)
    assert len(server.requests) == sent and again.events == first.events  # every window from the store
    longer = vlm.locate_events(Video(long_video, fps=0.25), list(TRUTH), window=50, refine=True)
    assert len(server.requests) == sent + len(first)  # only the closer looks are new
    assert len(longer) == len(first)
