"""A tenant's Graph request budget: a token bucket each Graph gateway awaits before every request, so one busy or
throttled tenant waits on its own budget and never on another's."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.clock import Clock

BURST_SECONDS = 10.0  # a full bucket holds ten seconds' worth of requests


class RequestBudget:
    def __init__(self, per_minute: float, clock: Clock, burst: float | None = None) -> None:
        """`per_minute` 0: no limit of our own, but a Retry-After from Graph still holds this tenant off."""
        if per_minute < 0:
            raise ValueError("a request budget's rate cannot be negative")
        self.rate = per_minute / 60.0  # requests per second
        self.capacity = burst if burst is not None else max(1.0, self.rate * BURST_SECONDS)
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock.now()
        self._paused_until: datetime | None = None
        self._turn = asyncio.Lock()  # first come, first served
        self.waited = 0.0  # seconds spent waiting, all requests together

    def pause(self, seconds: float | None) -> None:
        """Graph said Retry-After: this tenant's next requests wait that long (others are not affected)."""
        if seconds and seconds > 0:
            until = self._clock.now() + timedelta(seconds=seconds)
            self._paused_until = max(self._paused_until or until, until)

    async def acquire(self) -> None:
        """Wait until this tenant may send one more request."""
        async with self._turn:
            while True:
                now = self._clock.now()
                if self._paused_until is not None and now < self._paused_until:
                    await self._wait((self._paused_until - now).total_seconds())
                    continue
                if not self.rate:
                    return
                elapsed = (now - self._updated).total_seconds()
                self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await self._wait((1 - self._tokens) / self.rate)

    async def _wait(self, seconds: float) -> None:
        self.waited += seconds
        await self._clock.sleep(seconds)
