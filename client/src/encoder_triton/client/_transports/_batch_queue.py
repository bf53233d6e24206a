"""An asyncio batch queue: concurrent requests for one model become one step call.

What Triton's dynamic batcher does for a served model, done in process for the local transport
(the pattern of infinity's batch queue). A request waits at most `window_s` for others to join
it; then every waiting request, up to `max_rows` rows, goes to `run` in one worker-thread call,
which answers each request on its own: a result, or the exception of that request alone, so one
bad text fails only its own request. One call runs at a time per queue, as one Triton instance
executes one batch at a time.

Example:
    >>> import asyncio
    >>> def run(items):  # one call for every request that joined the batch
    ...     return [sum(item) for item in items]
    >>> async def main():
    ...     queue = BatchQueue(run, rows=len, window_s=0.01, max_rows=64)
    ...     return await asyncio.gather(queue.submit([1, 2]), queue.submit([3]))
    >>> asyncio.run(main())
    [3, 3]
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
#: Runs one batch: every request's item in, each request's result (or exception) out, in order.
BatchRunner = Callable[[list[T]], Sequence[Any]]


@dataclass
class _Waiting(Generic[T]):
    item: T
    rows: int
    future: asyncio.Future[Any] = field(repr=False)


class BatchQueue(Generic[T]):
    """Collects requests for `window_s`, then runs them as one batch of at most `max_rows` rows."""

    def __init__(
        self, run: BatchRunner[T], *, rows: Callable[[T], int], window_s: float = 0.002, max_rows: int = 64
    ) -> None:
        if window_s < 0 or max_rows < 1:
            raise ValueError(f"window_s must be >= 0 and max_rows >= 1, got {window_s} and {max_rows}")
        self._run = run
        self._rows = rows
        self.window_s = window_s
        self.max_rows = max_rows
        self._waiting: list[_Waiting[T]] = []
        self._worker: asyncio.Task[None] | None = None
        self._full = asyncio.Event()

    async def submit(self, item: T) -> Any:
        """The result of `item`, once the batch it joined has run; raises that request's error."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, self._rows(item), future))
        if sum(w.rows for w in self._waiting) >= self.max_rows:
            self._full.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            if not self._full.is_set():
                # Wait for others to join, but no longer than the window (or until full).
                try:
                    await asyncio.wait_for(self._full.wait(), self.window_s)
                except asyncio.TimeoutError:
                    pass
            batch = self._take()
            self._full.clear()
            live = [w for w in batch if not w.future.done()]  # a cancelled caller is skipped
            if not live:
                continue
            try:
                results = await asyncio.to_thread(self._run, [w.item for w in live])
            except Exception as exc:  # noqa: BLE001 - a failing batch answers each of its requests
                results = [exc] * len(live)
            for waiting, result in zip(live, results, strict=True):
                if waiting.future.done():
                    continue
                if isinstance(result, BaseException):
                    waiting.future.set_exception(result)
                else:
                    waiting.future.set_result(result)

    def _take(self) -> list[_Waiting[T]]:
        """The oldest requests up to `max_rows` rows (always at least one, however large)."""
        taken, rows = 0, 0
        for waiting in self._waiting:
            if taken and rows + waiting.rows > self.max_rows:
                break
            taken += 1
            rows += waiting.rows
        batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return batch
