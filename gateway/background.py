"""Periodic work of a gateway process (alert scans, pruning), started and stopped with the
app's lifespan. A tick that fails is the subclass's to log; the loop never stops on it."""

from __future__ import annotations

import asyncio


class Periodic:
    """`begin()` once at start, then `tick()` every `every` seconds (never, if `every` <= 0)."""

    name = "periodic"

    def __init__(self, every: float) -> None:
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def begin(self) -> None:
        """What runs once when the process starts."""

    async def tick(self) -> object:
        """One round of the work."""
        raise NotImplementedError

    async def _run(self) -> None:
        await self.begin()
        if self.every <= 0:
            return
        while True:
            await asyncio.sleep(self.every)
            await self.tick()
