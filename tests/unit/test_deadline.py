from __future__ import annotations

import asyncio

from correlator.deadline import deadline_scope, expired, remaining


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_scope_means_no_deadline() -> None:
    assert remaining() is None
    assert not expired()


def test_remaining_counts_down_and_floors_at_zero() -> None:
    clock = FakeClock()
    with deadline_scope(5.0, clock=clock):
        assert remaining(clock=clock) == 5.0
        clock.now += 2.0
        assert remaining(clock=clock) == 3.0
        clock.now += 10.0
        assert remaining(clock=clock) == 0.0
        assert expired(clock=clock)
    assert remaining(clock=clock) is None


def test_nested_scope_never_extends_the_outer_deadline() -> None:
    clock = FakeClock()
    with deadline_scope(2.0, clock=clock):
        with deadline_scope(60.0, clock=clock):
            assert remaining(clock=clock) == 2.0
        with deadline_scope(1.0, clock=clock):
            assert remaining(clock=clock) == 1.0
        assert remaining(clock=clock) == 2.0


async def test_tasks_inherit_the_scope() -> None:
    clock = FakeClock()

    async def child() -> float | None:
        return remaining(clock=clock)

    with deadline_scope(4.0, clock=clock):
        got = await asyncio.create_task(child())
    assert got == 4.0
    assert await asyncio.create_task(child()) is None
