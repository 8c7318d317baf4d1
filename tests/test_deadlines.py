"""messaging/deadlines.py: asyncio.timeout's contract, at the sweep's resolution."""

import asyncio
import time

import pytest

from messaging import deadlines


async def test_within__block_outlives_its_deadline__timeout_error_and_the_task_goes_on():
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with deadlines.within(0.2):
            await asyncio.sleep(30)
    waited = time.monotonic() - started
    assert 0.2 <= waited < 0.2 + deadlines.SWEEP_SECONDS + 1.0
    # our cancellation was taken back: the task is not left cancelling, and can wait again
    assert asyncio.current_task().cancelling() == 0
    await asyncio.sleep(0)


async def test_within__block_ends_in_time__its_value_and_no_later_cancellation():
    async with deadlines.within(0.2) as block:
        await asyncio.sleep(0.01)
    assert not block.expired
    await asyncio.sleep(0.2 + 2 * deadlines.SWEEP_SECONDS)  # past the deadline: nothing fires


async def test_within__cancelled_from_outside__cancelled_error_not_timeout():
    inside = asyncio.Event()

    async def waits():
        async with deadlines.within(30):
            inside.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(waits())
    await asyncio.wait_for(inside.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_within__nested__the_inner_deadline_fires_alone():
    async with deadlines.within(30):
        with pytest.raises(TimeoutError):
            async with deadlines.within(0.1):
                await asyncio.sleep(30)
        await asyncio.sleep(0.01)  # the outer block still runs


async def test_within__many_tasks__only_the_late_ones_time_out():
    async def wait(seconds: float, deadline: float) -> str:
        try:
            async with deadlines.within(deadline):
                await asyncio.sleep(seconds)
        except TimeoutError:
            return "late"
        return "in time"

    outcomes = await asyncio.gather(*(wait(0.01, 5) for _ in range(50)), *(wait(30, 0.2) for _ in range(50)))
    assert outcomes == ["in time"] * 50 + ["late"] * 50


async def test_within__nothing_held__the_sweep_stops():
    async with deadlines.within(5):
        pass
    sweep = deadlines._sweeps[asyncio.get_running_loop()]
    deadline = time.monotonic() + 5
    while sweep._armed and time.monotonic() < deadline:
        await asyncio.sleep(deadlines.SWEEP_SECONDS)
    assert not sweep._armed
