"""Pages rendered ahead of the workers: a hand-off that refills a turn at a time, in the background.

``parse_document``'s renderer hands pages to the workers through :class:`RenderAhead`. A worker takes
its next page when an answer comes back, and sends it right then: those moments are when the machine is
busiest (answers read, requests built and sent). Refilling one page per take would put rendering and
encoding exactly there. Instead the renderer keeps between one and two turns of pages waiting (a turn:
one page for each request in flight): when two turns wait it stops until the workers have taken one,
then renders the next turn's pages in one go, in the quiet middle of the turn. It also runs at a lower
OS priority (:func:`in_background`), so when it does overlap a send it gives way.

On a 2-core machine, with 50 pages and 8 in flight against a server answering in 500 ms
(``benchmarks/bench_documents.py``), the two together took the run from 3.59 s to 3.57 s side by side
(the bare openai SDK sending pre-encoded pages: 3.55 s).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import deque
from typing import Any

__all__ = ["BACKGROUND_NICENESS", "RenderAhead", "in_background"]

#: How much nicer (lower OS priority) the rendering threads run than the thread that starts them.
BACKGROUND_NICENESS = 10


def in_background() -> None:
    """Lower the calling thread's OS priority by :data:`BACKGROUND_NICENESS` (Linux; elsewhere nothing).

    Threads it starts afterwards inherit the lower priority. Linux's ``setpriority`` with a thread id
    reaches that one thread; other systems take it as a process id, so they are left alone. Never
    raises: a priority that cannot be changed leaves the thread as it was.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        niceness = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, niceness + BACKGROUND_NICENESS))


class RenderAhead:
    """Rendered pages waiting for a worker: filled a turn at a time, taken as answers come back.

    Args:
        turn: Pages a turn takes (requests in flight times pages per request).
    """

    def __init__(self, turn: int) -> None:
        self.turn = max(1, turn)
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # workers wait here for pages
        self._room = threading.Condition(self._lock)  # the renderer waits here for room
        self._finished = False
        self._stopped = False

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopped

    def wait_for_room(self) -> bool:
        """Before rendering a page: when two turns wait, wait until only one does. False once stopped."""
        with self._lock:
            if len(self._items) >= 2 * self.turn:
                self._room.wait_for(lambda: self._stopped or len(self._items) <= self.turn)
            return not self._stopped

    def put(self, item: Any) -> None:
        """Hand a page (or a page's failure) to the workers."""
        with self._lock:
            self._items.append(item)
            self._ready.notify()

    def finish(self) -> None:
        """No more pages: workers take what is left, then get none."""
        with self._lock:
            self._finished = True
            self._ready.notify_all()

    def stop(self) -> None:
        """Stop now: the renderer and every worker stop waiting; nothing more is taken."""
        with self._lock:
            self._stopped = True
            self._ready.notify_all()
            self._room.notify_all()

    def take(self, most: int) -> list[Any]:
        """The next page (waiting for it), and up to ``most - 1`` more already waiting; none at the end."""
        with self._lock:
            self._ready.wait_for(lambda: self._stopped or self._finished or bool(self._items))
            if self._stopped:
                return []
            taken = [self._items.popleft() for _ in range(min(max(1, most), len(self._items)))]
            if len(self._items) <= self.turn:
                self._room.notify()
            return taken
