"""Load-test thresholds: error rate and p99 decide the exit code."""

from __future__ import annotations

from encoder_triton.bench.thresholds import Thresholds


def test_passing_run_has_no_violations() -> None:
    assert Thresholds(max_error_rate=0.01, max_p99_ms=500).violations(requests=1000, failures=10, p99_ms=500) == []


def test_each_broken_limit_is_reported() -> None:
    broken = Thresholds(max_error_rate=0.01, max_p99_ms=100).violations(requests=100, failures=2, p99_ms=250)
    assert broken == [
        "error rate 2.00% is above the limit of 1.00%",
        "p99 latency 250 ms is above the limit of 100 ms",
    ]


def test_disabled_limits_and_empty_runs() -> None:
    assert Thresholds(max_error_rate=None, max_p99_ms=None).violations(requests=10, failures=10, p99_ms=9e9) == []
    assert Thresholds().violations(requests=0, failures=0, p99_ms=None) == [
        "no request completed: nothing was measured"
    ]


def test_shed_requests_are_no_errors_but_any_other_failure_is() -> None:
    overload = Thresholds(max_error_rate=0.0)
    assert overload.violations(requests=1000, failures=700, p99_ms=40, shed=700) == []
    assert overload.violations(requests=1000, failures=701, p99_ms=40, shed=700) == [
        "error rate 0.10% is above the limit of 0.00%"
    ]
