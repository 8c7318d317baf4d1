"""Deadlines for the hot path that arm no timer per use.

`async with within(seconds):` raises TimeoutError (and cancels what the block awaited)
once `seconds` have passed, as `asyncio.timeout` does. asyncio.timeout arms a loop timer
on entry and cancels it on exit (4 µs a use on uvloop on a quiet machine, 2.6 times
within's; bench/deadlines.py), and redis-py's socket_timeout adds an asyncio.wait_for (a
task) to every send besides. An ingest request held three; with them gone it costs 6 %
fewer instructions (997k -> 937k, bench/ingest_instructions.py). Here a use costs a dict
entry: one sweep per event loop, every SWEEP_SECONDS while any
deadline is held, cancels the tasks whose deadline has passed. These deadlines guard
against clients and servers that stall (seconds, not milliseconds), so a deadline may
fire up to SWEEP_SECONDS late; nothing here needs it sooner.

Only the task that entered a block is cancelled, and only while it waits inside it (the
sweep runs while the task is suspended, and the block is left before the task can wait
anywhere else), so the CancelledError always surfaces inside the block, where __aexit__
turns it into TimeoutError, as asyncio.timeout does. A cancellation that came from
elsewhere passes through untouched.
"""

from __future__ import annotations

import asyncio
import weakref

SWEEP_SECONDS = 0.1


class _Sweep:
    """The deadlines held on one event loop, and the one timer that expires them."""

    __slots__ = ("_loop", "_held", "_armed", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._held: dict[within, float] = {}  # block -> the loop time it expires at
        self._armed = False

    def hold(self, block: within, seconds: float) -> None:
        self._held[block] = self._loop.time() + seconds
        if not self._armed:
            self._armed = True
            self._loop.call_later(SWEEP_SECONDS, self._expire_due)

    def release(self, block: within) -> None:
        self._held.pop(block, None)

    def _expire_due(self) -> None:
        now = self._loop.time()
        due = [block for block, expires_at in self._held.items() if expires_at <= now]
        for block in due:
            del self._held[block]
            block.expire()
        if self._held:
            self._loop.call_later(SWEEP_SECONDS, self._expire_due)
        else:
            self._armed = False  # an idle process keeps no timer


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweep] = weakref.WeakKeyDictionary()


class within:  # lower case: used as a context manager, like asyncio.timeout
    """`async with within(seconds):` — TimeoutError once `seconds` have passed."""

    __slots__ = ("_seconds", "_task", "_cancelling", "_sweep", "expired")

    def __init__(self, seconds: float):
        self._seconds = seconds
        self.expired = False

    async def __aenter__(self) -> within:
        self._task = task = asyncio.current_task()
        self._cancelling = task.cancelling()  # cancellations requested before: not ours
        loop = task.get_loop()
        sweep = _sweeps.get(loop)
        if sweep is None:
            sweep = _sweeps[loop] = _Sweep(loop)
        self._sweep = sweep
        sweep.hold(self, self._seconds)
        return self

    def expire(self) -> None:
        self.expired = True
        self._task.cancel()

    async def __aexit__(self, exc_type, exc, traceback) -> None:
        self._sweep.release(self)
        # Take back our cancellation, as asyncio.timeout does; a TimeoutError only if no
        # other cancellation is pending.
        if self.expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc
