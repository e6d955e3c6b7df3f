"""Many concurrent callers, one round of work: each caller awaits its own result, and one task
runs what has queued meanwhile as one batch (one database session, one statement), as the
access-log writer does for disclosures (gateway/audit/writer.py). While one batch runs, the
next gathers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    def __init__(
        self,
        run: Callable[[list[In]], Awaitable[Sequence[Out | BaseException]]],
        *,
        max_batch: int = 100,
        name: str = "batcher",
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.name = name
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: In) -> Out:
        """`item`'s result (or its exception) once its batch has run. A caller that stops
        waiting (a timeout) does not stop the batch."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=self.name)
        done: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieved)  # its caller may have stopped waiting
        await self._queue.put((item, done))
        return await asyncio.shield(done)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self._run([item for item, _ in batch])
            except Exception as error:  # every caller of the batch hears of it
                results = [error] * len(batch)
            for (_, done), result in zip(batch, results, strict=True):
                if done.done():
                    continue
                if isinstance(result, BaseException):
                    done.set_exception(result)
                else:
                    done.set_result(result)


def _retrieved(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()
