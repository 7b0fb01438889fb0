"""Running one async action per object, each as soon as the objects it depends on are done.

This is level-by-level ordering without the barrier between levels: an object starts when its own
dependencies finished, not when its whole level did. How many requests are in flight is bounded by the
clients (one semaphore each), so thousands of waiting tasks cost nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


async def run_all(coros: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise that failure itself (not a group)."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_wrap(c)) for c in coros]
    except BaseExceptionGroup as eg:
        raise _first(eg) from None
    return [t.result() for t in tasks]


async def _wrap(coro: Awaitable[T]) -> T:
    return await coro


def _first(eg: BaseExceptionGroup[BaseException]) -> BaseException:
    """The most telling exception of a group: anything but a cancellation, depth first."""
    for exc in eg.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return eg.exceptions[0]


async def in_order(items: Iterable[str], after: Mapping[str, Iterable[str]],
                   action: Callable[[str], Awaitable[None]]) -> None:
    """Run `action(item)` for every item, each once every item in `after[item]` (restricted to `items`)
    has finished. The dependencies must form a DAG over `items`."""
    keys = list(items)
    done = {k: asyncio.Event() for k in keys}

    async def one(key: str) -> None:
        for dep in after.get(key, ()):
            if dep in done and dep != key:
                await done[dep].wait()
        await action(key)
        done[key].set()

    await run_all(one(k) for k in keys)
