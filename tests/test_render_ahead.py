"""engine.ahead: pages handed to the workers a turn at a time, rendering in the background."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import pytest

from qwen_vlm.engine.ahead import BACKGROUND_NICENESS, RenderAhead, in_background


def _in_thread(function: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(function()), daemon=True)
    thread.start()
    return thread, out


def test_the_renderer_waits_at_two_turns_until_only_one_is_left() -> None:
    ahead = RenderAhead(2)
    for k in range(3):
        assert ahead.wait_for_room()  # fewer than two turns wait: no waiting
        ahead.put(k)
    ahead.put(3)
    waiter, out = _in_thread(ahead.wait_for_room)
    waiter.join(0.2)
    assert waiter.is_alive()  # four pages wait: two turns
    assert ahead.take(1) == [0]
    waiter.join(0.2)
    assert waiter.is_alive()  # three still wait: more than one turn
    assert ahead.take(1) == [1]
    waiter.join(5)
    assert out == [True]
    # then it renders on without waiting until two turns wait again
    assert ahead.wait_for_room()
    ahead.put(4)
    assert ahead.wait_for_room()


def test_a_worker_waits_for_its_page_then_takes_what_is_already_there() -> None:
    ahead = RenderAhead(4)
    worker, out = _in_thread(lambda: ahead.take(3))
    worker.join(0.2)
    assert worker.is_alive()
    ahead.put("p1")
    worker.join(5)
    assert out == [["p1"]]
    for item in ("p2", "p3", "p4", "p5"):
        ahead.put(item)
    assert ahead.take(3) == ["p2", "p3", "p4"]
    ahead.finish()
    assert ahead.take(3) == ["p5"]  # what is left after the end
    assert ahead.take(3) == []


def test_stop_wakes_the_renderer_and_every_worker() -> None:
    ahead = RenderAhead(1)
    ahead.put("a")
    ahead.put("b")
    renderer, rendered = _in_thread(ahead.wait_for_room)
    empty = RenderAhead(1)
    workers = [_in_thread(lambda: empty.take(1)) for _ in range(3)]
    time.sleep(0.1)
    ahead.stop()
    empty.stop()
    renderer.join(5)
    assert rendered == [False]
    for thread, taken in workers:
        thread.join(5)
        assert taken == [[]]
    assert ahead.stopped and ahead.take(1) == []  # pages left are not taken after a stop


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_rendering_threads_run_nicer_and_threads_they_start_inherit_it() -> None:
    seen: dict[str, int] = {}

    def child() -> None:
        seen["child"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def render() -> None:
        me = threading.get_native_id()
        seen["before"] = os.getpriority(os.PRIO_PROCESS, me)
        in_background()
        seen["after"] = os.getpriority(os.PRIO_PROCESS, me)
        started = threading.Thread(target=child)
        started.start()
        started.join()

    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=render)
    thread.start()
    thread.join()
    assert seen["after"] == min(19, seen["before"] + BACKGROUND_NICENESS)
    assert seen["child"] == seen["after"]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller  # only that thread
