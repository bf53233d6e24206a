"""The tuner's search logic on synthetic measurements: what it measures, what it keeps, what it writes."""

from __future__ import annotations

from typing import Any

import pytest

from encoder_triton.bench.tuner import (
    KNOBS,
    Trial,
    TunePlan,
    TuneSpace,
    better,
    coordinate_descent,
    decide,
    normalise,
)
from encoder_triton.bench.variants import ServerVariant

EXPORTED = {
    "instances": 1,
    "tokenizer_instances": 1,
    "max_queue_delay_us": 2000,
    "max_batch_size": 64,
    "intra_op_threads": 0,
    "max_batch_tokens": 8192,
    "batching": "token_budget",
}
SPACE = TuneSpace(
    instances=(1, 2),
    intra_op_threads=(0, 1, 2),
    tokenizer_instances=(1, 2),
    batching=("token_budget", "pad_to_longest"),
    max_batch_tokens=(2048, 8192),
    max_queue_delay_us=(0, 2000),
    max_batch_size=(32, 64),
)


def _trial(variant: ServerVariant, *points: tuple[int, float, float], error: str | None = None) -> Trial:
    return Trial(
        variant,
        [
            {"concurrency": c, "texts_per_s": t, "p99_ms": p, "p50_ms": p / 2, "requests": 1, "errors": {}}
            for c, t, p in points
        ],
        error,
    )


def _effective(variant: ServerVariant) -> dict[str, Any]:
    return {**EXPORTED, **variant.knobs()}


def _synthetic(variant: ServerVariant) -> Trial:
    """On 2 cores: throughput rises with 2 instances (1 thread each, as 0 = cores / instances
    gives) and with a 2048 budget; pad-to-longest is slow; delay 0 is fast but breaks the bound
    at the higher concurrency."""
    k = _effective(variant)
    threads = k["intra_op_threads"] or 2 // k["instances"]
    rate = 100.0
    if k["instances"] == 2 and threads == 1:
        rate *= 1.3
    if k["max_batch_tokens"] == 2048:
        rate *= 1.1
    if k["batching"] == "pad_to_longest":
        rate *= 0.7
    p99_high = 400.0 if k["max_queue_delay_us"] == 0 else 150.0
    if k["max_queue_delay_us"] == 0:
        rate *= 1.5
    return _trial(variant, (8, rate * 0.6, 50.0), (32, rate, p99_high))


def test_descent_finds_the_best_config_within_the_bound() -> None:
    plan = TunePlan(p99_ms=200, space=SPACE, passes=2, cores=2)
    measured: list[ServerVariant] = []

    def measure(variant: ServerVariant) -> Trial:
        measured.append(variant)
        return _synthetic(variant)

    best, trials = coordinate_descent(plan, measure, EXPORTED)
    assert best.variant == ServerVariant(instances=2, max_batch_tokens=2048)
    assert best.score(200) == pytest.approx(100 * 1.3 * 1.1)
    assert len(measured) == len(set(measured)) == len(trials)  # each config served once
    assert measured[0] == ServerVariant()  # the exported config is the reference
    # delay 0 is faster but only at a p99 over the bound; its feasible point (c=8) is slower
    delay0 = next(t for t in trials if t.variant.max_queue_delay_us == 0)
    assert delay0.score(200) == pytest.approx(100 * 1.3 * 1.1 * 1.5 * 0.6)
    # 2 instances x 2 threads would oversubscribe 2 cores: never started
    assert not any(t.variant.instances == 2 and t.variant.intra_op_threads == 2 for t in trials)


def test_descent_skips_configs_that_cannot_differ() -> None:
    plan = TunePlan(p99_ms=200, space=SPACE, knobs=("batching", "max_batch_tokens", "intra_op_threads"))

    def measure(variant: ServerVariant) -> Trial:
        k = _effective(variant)
        rate = 200.0 if k["batching"] == "pad_to_longest" else 100.0  # pad-to-longest wins here
        return _trial(variant, (8, rate, 10.0))

    best, trials = coordinate_descent(plan, measure, EXPORTED)
    assert best.variant == ServerVariant(batching="pad_to_longest")
    # no token budget is tried under pad-to-longest: it would not be used
    assert not any(t.variant.max_batch_tokens for t in trials)


def test_a_config_that_does_not_serve_is_recorded_and_never_chosen() -> None:
    plan = TunePlan(p99_ms=200, space=SPACE, knobs=("instances",))

    def measure(variant: ServerVariant) -> Trial:
        if variant.instances == 2:
            return Trial(variant, error="failed to load 'minilm_encoder'")
        return _trial(variant, (8, 100.0, 10.0))

    best, trials = coordinate_descent(plan, measure, EXPORTED)
    assert best.variant.is_default and trials[1].error


def test_the_exported_config_must_serve() -> None:
    plan = TunePlan(p99_ms=200, space=SPACE)
    with pytest.raises(RuntimeError, match="does not serve: boom"):
        coordinate_descent(plan, lambda v: Trial(v, error="boom"), EXPORTED)


def test_better_needs_the_noise_margin_and_prefers_lower_p99_when_nothing_fits() -> None:
    old = _trial(ServerVariant(), (8, 100.0, 10.0))
    assert not better(_trial(ServerVariant(instances=2), (8, 102.0, 10.0)), old, 200, 0.03)
    assert better(_trial(ServerVariant(instances=2), (8, 104.0, 10.0)), old, 200, 0.03)
    slow_old = _trial(ServerVariant(), (8, 100.0, 900.0))
    assert better(_trial(ServerVariant(instances=2), (8, 50.0, 500.0)), slow_old, 200, 0.03)
    assert not better(_trial(ServerVariant(instances=2), (8, 50.0, 890.0)), slow_old, 200, 0.03)


def test_errors_make_a_point_infeasible() -> None:
    trial = _trial(ServerVariant(), (8, 100.0, 10.0), (32, 300.0, 20.0))
    trial.points[1]["errors"] = {"OverloadedError": 3}
    assert trial.score(200) == 100.0


def test_normalise_drops_exported_values() -> None:
    assert normalise(ServerVariant(instances=1, max_batch_tokens=2048), EXPORTED) == ServerVariant(
        max_batch_tokens=2048
    )


def _comparison(tuned: float, exported: float) -> dict[str, Any]:
    return {
        "rows": [
            {"name": "served token-budget", "texts_per_s": exported},
            {"name": "served tuned", "texts_per_s": tuned},
        ]
    }


def test_decide_writes_only_a_confirmed_change() -> None:
    better_one = _trial(ServerVariant(instances=2), (8, 120.0, 10.0))
    assert decide(better_one, _comparison(120, 100), write=True, force=False)["write"]
    refused = decide(better_one, _comparison(95, 100), write=True, force=False)
    assert not refused["write"] and "did not confirm" in refused["reason"]
    assert decide(better_one, _comparison(95, 100), write=True, force=True)["write"]
    assert not decide(better_one, _comparison(120, 100), write=False, force=True)["write"]
    same = decide(_trial(ServerVariant(), (8, 120.0, 10.0)), None, write=True, force=True)
    assert not same["write"] and "exported config" in same["reason"]


def test_plan_and_space_validation() -> None:
    with pytest.raises(ValueError, match="p99"):
        TunePlan(p99_ms=0)
    with pytest.raises(ValueError, match="unknown knobs"):
        TunePlan(p99_ms=100, knobs=("instances", "colour"))
    assert set(KNOBS) == {f for f in TuneSpace.__dataclass_fields__}
    two = TuneSpace.for_machine(2)
    assert two.instances == (1, 2) and two.intra_op_threads == (0, 1, 2)
    sixteen = TuneSpace.for_machine(16)
    assert sixteen.instances == (1, 2, 4, 8, 16) and max(sixteen.tokenizer_instances) <= 4
