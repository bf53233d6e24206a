"""Pass/fail limits for a load test: error rate and p99 latency, checked when it ends.

Kept apart from `locust_users` (importing locust monkey-patches the process with gevent) so
the logic is testable anywhere. A run that completed no request fails too: it measured
nothing. Requests the server shed on purpose (429/503 under overload, when the run allows
them) are failures in locust's statistics but not errors here: an overload test passes when
every other request succeeded.

Example:
    >>> Thresholds(max_error_rate=0.01, max_p99_ms=500).violations(requests=1000, failures=3, p99_ms=420)
    []
    >>> Thresholds(max_p99_ms=500).violations(requests=1000, failures=0, p99_ms=620)
    ['p99 latency 620 ms is above the limit of 500 ms']
    >>> Thresholds(max_error_rate=0).violations(requests=1000, failures=400, p99_ms=30, shed=400)
    []
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """`None` disables a limit; `max_error_rate` is a fraction (0.01 = 1%)."""

    max_error_rate: float | None = 0.01
    max_p99_ms: float | None = None

    def violations(self, *, requests: int, failures: int, p99_ms: float | None, shed: int = 0) -> list[str]:
        """Every limit the run broke, as sentences (empty when it passed).

        `requests` counts all requests, failed ones included (locust's convention); `shed` of
        the `failures` were refused on purpose with an allowed status and are no errors.
        """
        if requests == 0:
            return ["no request completed: nothing was measured"]
        found = []
        rate = (failures - shed) / requests
        if self.max_error_rate is not None and rate > self.max_error_rate:
            found.append(f"error rate {rate:.2%} is above the limit of {self.max_error_rate:.2%}")
        if self.max_p99_ms is not None and p99_ms is not None and p99_ms > self.max_p99_ms:
            found.append(f"p99 latency {p99_ms:.0f} ms is above the limit of {self.max_p99_ms:.0f} ms")
        return found
