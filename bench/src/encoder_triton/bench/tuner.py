"""`encoder-triton tune`: find the fastest serving config of one ensemble on this machine, under a p99 bound.

Like Triton's Model Analyzer, but for the whole ensemble (tokenizer and encoder steps together)
and in minutes. Every candidate config is served by a fresh embedded Triton (a variant
repository of symlinks and edited config.pbtxt files, `variants`) and measured by the bench
harness's closed-loop load generator on real mixed-length texts:

    score(config) = the highest texts/s over the concurrency ladder among the points whose
                    p99 latency is within the bound and that had no errors

Search: coordinate descent from the exported config (what Model Analyzer's quick search does),
one knob at a time in the order of their usual effect, keeping a new value only when it beats
the best so far by `min_gain` (3% by default: the noise of a shared 2-core machine):

    instances            encoder instances (ONNX Runtime sessions)
    intra_op_threads     ORT threads per instance (0: cores / instances)
    tokenizer_instances  tokenizer instances
    batching             token_budget (length-sorted sub-batches) or pad_to_longest
    max_batch_tokens     padded-token budget of one sub-batch
    max_queue_delay_us   how long the dynamic batchers wait to fill a batch
    max_batch_size       the ensemble's and both steps' limit

Then a comparison, in one run on the same texts: the in-process ONNX Runtime loop at its best
batch size (pad-to-longest, and token-budget), and served pad-to-longest, served token-budget
(the exported config) and served tuned. The tuned config is written back only if this
comparison confirms it is at least as fast as the exported one (`force` writes it anyway):
each changed config.pbtxt is kept beside the new one as `config.pbtxt.before-tune-<time>`, and
the measurements that chose it go to `<ensemble>/tune_report.json` and `.md`.

Example:
    >>> plan = TunePlan(p99_ms=250)
    >>> report = tune(Path("model_repository"), "minilm", plan)  # doctest: +SKIP
    >>> report["decision"]["written"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encoder_triton import contract
from encoder_triton.bench.errors import TuneError
from encoder_triton.bench.variants import ServerVariant, apply_variant, serving_config
from encoder_triton.contract.params import DEFAULT_MAX_BATCH_TOKENS
from encoder_triton.export.repository import ExportedModel, read_model

REPORT_SCHEMA = "encoder-triton-bench/tune/1"

#: Knobs in search order (largest usual effect first).
KNOBS = (
    "instances",
    "intra_op_threads",
    "tokenizer_instances",
    "batching",
    "max_batch_tokens",
    "max_queue_delay_us",
    "max_batch_size",
)
#: Knobs a native backend (Triton's own onnxruntime / tensorrt_plan) understands.
NATIVE_KNOBS = ("instances", "tokenizer_instances", "max_queue_delay_us", "max_batch_size")

#: Called with one line of news (a trial measured, a phase started).
Say = Callable[[str], None]


@dataclass(frozen=True)
class TuneSpace:
    """The values each knob may take (the exported value is always a candidate too)."""

    instances: tuple[int, ...] = (1, 2)
    intra_op_threads: tuple[int, ...] = (0, 1, 2)
    tokenizer_instances: tuple[int, ...] = (1, 2)
    batching: tuple[str, ...] = tuple(b.value for b in contract.Batching)
    #: The exported default, halved twice and doubled.
    max_batch_tokens: tuple[int, ...] = tuple(DEFAULT_MAX_BATCH_TOKENS * f // 4 for f in (1, 2, 4, 8))
    max_queue_delay_us: tuple[int, ...] = (0, 500, 2000, 5000)
    max_batch_size: tuple[int, ...] = (16, 32, 64, 128)

    @classmethod
    def for_machine(cls, cores: int | None = None) -> TuneSpace:
        """Instance and thread counts up to the machine's cores; the rest as above."""
        cores = max(1, cores or os.cpu_count() or 1)
        counts = tuple(sorted({1, 2, max(1, cores // 4), max(1, cores // 2), cores} & set(range(1, cores + 1))))
        return cls(instances=counts, intra_op_threads=(0, *counts), tokenizer_instances=counts[:3])

    def values(self, knob: str) -> tuple[Any, ...]:
        return tuple(getattr(self, knob))


@dataclass(frozen=True)
class TunePlan:
    """What the tuner measures; every value bounded, so a run always ends."""

    p99_ms: float
    concurrency: tuple[int, ...] = (8, 32, 64)
    batch_size: int = 1
    corpus: str = "lee"
    seed: int = 0
    protocol: str = "grpc"
    warmup_s: float = 2.0
    window_s: float = 4.0
    repeats: int = 2
    passes: int = 1
    min_gain: float = 0.03
    space: TuneSpace = field(default_factory=TuneSpace.for_machine)
    knobs: tuple[str, ...] = KNOBS
    compare: bool = True
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    baseline_batch_sizes: tuple[int, ...] = (1, 8, 16, 32, 64)
    baseline_window_s: float = 2.0

    def __post_init__(self) -> None:
        if self.p99_ms <= 0:
            raise ValueError(f"the p99 bound must be > 0 ms, got {self.p99_ms}")
        if not self.concurrency or min(self.concurrency) < 1:
            raise ValueError("concurrency needs values >= 1")
        if self.repeats < 1 or self.window_s <= 0 or self.warmup_s < 0 or self.passes < 1:
            raise ValueError("need repeats >= 1, window_s > 0, warmup_s >= 0 and passes >= 1")
        unknown = set(self.knobs) - set(KNOBS)
        if unknown:
            raise ValueError(f"unknown knobs {sorted(unknown)}: choose from {', '.join(KNOBS)}")

    def estimate_s(self, trials: int) -> float:
        """Rough seconds for `trials` configs (server starts included)."""
        per_trial = 5 + len(self.concurrency) * (self.warmup_s + self.repeats * self.window_s)
        return trials * per_trial


@dataclass
class Trial:
    """One config measured: a point per concurrency (stopped once p99 broke the bound)."""

    variant: ServerVariant
    points: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # the server did not start (Triton's reason)

    def feasible(self, p99_ms: float) -> list[dict[str, Any]]:
        return [p for p in self.points if p["p99_ms"] <= p99_ms and not p["errors"]]

    def score(self, p99_ms: float) -> float:
        """Best texts/s within the bound (0 when no point is within it)."""
        return max((p["texts_per_s"] for p in self.feasible(p99_ms)), default=0.0)

    def best_point(self, p99_ms: float) -> dict[str, Any] | None:
        feasible = self.feasible(p99_ms)
        return max(feasible, key=lambda p: p["texts_per_s"]) if feasible else None

    def lowest_p99(self) -> float:
        return min((p["p99_ms"] for p in self.points), default=float("inf"))

    def to_dict(self, p99_ms: float) -> dict[str, Any]:
        return {
            "config": self.variant.label,
            "knobs": self.variant.knobs(),
            "score_texts_per_s": round(self.score(p99_ms), 2),
            "best_point": self.best_point(p99_ms),
            "points": self.points,
            "error": self.error,
        }


def better(challenger: Trial, incumbent: Trial, p99_ms: float, min_gain: float) -> bool:
    """Does `challenger` beat `incumbent` by more than the noise margin?

    Within the bound, by throughput; when neither meets it, by the lower p99 (closer to it).
    """
    if challenger.error is not None:
        return False
    if incumbent.error is not None:
        return True
    new, old = challenger.score(p99_ms), incumbent.score(p99_ms)
    if old > 0 or new > 0:
        return new > old * (1.0 + min_gain)
    return challenger.lowest_p99() < incumbent.lowest_p99() * (1.0 - min_gain)


def normalise(variant: ServerVariant, exported: dict[str, Any]) -> ServerVariant:
    """Knobs set to their exported value become None, so equal configs compare equal."""
    same = {k: None for k, v in variant.knobs().items() if exported.get(k) == v}
    return variant.replace(**same) if same else variant


def coordinate_descent(
    plan: TunePlan,
    measure: Callable[[ServerVariant], Trial],
    exported: dict[str, Any],
    say: Say = lambda _: None,
) -> tuple[Trial, list[Trial]]:
    """The best trial and every trial measured. Pure search logic: `measure` runs a config.

    `exported` holds the effective exported value of each knob (see `exported_knobs`).
    """
    trials: dict[ServerVariant, Trial] = {}

    def run(variant: ServerVariant) -> Trial:
        if variant not in trials:
            trials[variant] = measure(variant)
            say(describe_trial(trials[variant], plan.p99_ms, len(trials)))
        return trials[variant]

    best = run(ServerVariant())
    if best.error is not None:
        raise TuneError(f"the exported config does not serve: {best.error}")
    for _ in range(plan.passes):
        improved = False
        for knob in plan.knobs:
            for value in plan.space.values(knob):
                candidate = normalise(best.variant.replace(**{knob: value}), exported)
                if _pointless(candidate, exported, plan.cores):
                    continue
                trial = run(candidate)
                if better(trial, best, plan.p99_ms, plan.min_gain):
                    best, improved = trial, True
        if not improved:
            break
    return best, list(trials.values())


def _pointless(variant: ServerVariant, exported: dict[str, Any], cores: int) -> bool:
    """Configs not worth a server start: a token budget under pad-to-longest (it is unused),
    or more ORT threads per instance than cores for all instances."""
    batching = variant.batching or exported.get("batching")
    if variant.max_batch_tokens is not None and batching == contract.Batching.PAD_TO_LONGEST.value:
        return True
    instances = variant.instances or exported.get("instances", 1)
    threads = variant.intra_op_threads if variant.intra_op_threads is not None else exported.get("intra_op_threads", 0)
    return bool(threads) and threads * instances > cores


def exported_knobs(model: ExportedModel) -> dict[str, Any]:
    """The effective exported value of every knob (intra_op_threads 0: the runtime's share)."""
    options, encoder = model.options, model.encoder_params
    return {
        "instances": options.instances,
        "tokenizer_instances": options.tokenizer_instances,
        "max_queue_delay_us": options.max_queue_delay_us,
        "max_batch_size": options.max_batch_size,
        "intra_op_threads": (encoder.intra_op_threads if encoder else None) or 0,
        "max_batch_tokens": options.max_batch_tokens,
        "batching": options.batching.value,
    }


def describe_trial(trial: Trial, p99_ms: float, number: int) -> str:
    if trial.error is not None:
        return f"trial {number}: {trial.variant.label}: did not serve ({trial.error.splitlines()[0][:120]})"
    best = trial.best_point(p99_ms)
    if best is None:
        lowest = trial.lowest_p99()
        return f"trial {number}: {trial.variant.label}: no point within p99 {p99_ms:g} ms (lowest {lowest:.0f} ms)"
    return (
        f"trial {number}: {trial.variant.label}: {best['texts_per_s']:.1f} texts/s at concurrency "
        f"{best['concurrency']}, p99 {best['p99_ms']:.0f} ms"
    )


# -- measuring ------------------------------------------------------------------------------


def measure_variant(repo: Path, model: str, variant: ServerVariant, plan: TunePlan, workload: Any) -> Trial:
    """Serve `variant` on a fresh embedded Triton and walk the concurrency ladder."""
    from encoder_triton.bench.loadgen import run_closed_loop
    from encoder_triton.bench.sweep import connector, serve_variant
    from encoder_triton.errors import EmbeddedTritonError

    trial = Trial(variant)
    with contextlib.ExitStack() as stack:
        try:
            address, _ = stack.enter_context(serve_variant(repo, model, variant, None, plan.protocol, None))
        except EmbeddedTritonError as exc:
            trial.error = str(exc)
            return trial
        for concurrency in sorted(plan.concurrency):
            result = run_closed_loop(
                connector(address, plan.protocol),
                workload,
                concurrency=concurrency,
                warmup_s=plan.warmup_s,
                window_s=plan.window_s,
                repeats=plan.repeats,
            )
            point = _point(concurrency, result.medians())
            trial.points.append(point)
            if point["p99_ms"] > plan.p99_ms:
                break  # a closed loop only queues longer with more clients
    return trial


def _point(concurrency: int, medians: dict[str, Any]) -> dict[str, Any]:
    """One rung of the ladder, from `LoadResult.medians()`."""
    return {
        "concurrency": concurrency,
        "texts_per_s": round(medians["texts_per_s"], 2),
        "p50_ms": round(medians["latency_ms"]["p50"], 2),
        "p99_ms": round(medians["latency_ms"]["p99"], 2),
        "requests": medians["requests"],
        "errors": medians["errors"],
    }


def compare(
    repo: Path, model: str, tuned: ServerVariant, exported: dict[str, Any], plan: TunePlan, workload: Any, say: Say
) -> dict[str, Any]:
    """In-process vs served pad-to-longest, served token-budget and served tuned, in one run."""
    from encoder_triton.bench.baseline import run_baseline

    rows: list[dict[str, Any]] = []
    sizes = tuple(b for b in plan.baseline_batch_sizes if b >= 1)
    for batching in contract.Batching if workload.task != "rerank" else ():  # no in-process rerank loop yet
        say(f"in-process ONNX Runtime, {batching.value}, batch sizes {', '.join(map(str, sizes))}")
        result = run_baseline(
            repo,
            model,
            workload.texts,
            batch_sizes=sizes,
            window_s=plan.baseline_window_s,
            repeats=plan.repeats,
            batching=batching.value,
        )
        rows.append(
            {
                "name": f"in-process {batching.value.replace('_', '-')}",
                "kind": "in-process",
                "batching": batching.value,
                "texts_per_s": round(result.texts_per_s, 2),
                "p99_ms": None,
                "batch_size": result.best_batch_size,
                "detail": result.to_dict(),
            }
        )
    served = {  # knobs at their exported value dropped, so the labels say what differs
        "served pad-to-longest": normalise(ServerVariant(batching=contract.Batching.PAD_TO_LONGEST.value), exported),
        "served token-budget": normalise(ServerVariant(batching=contract.Batching.TOKEN_BUDGET.value), exported),
        "served tuned": tuned,
    }
    for name, variant in served.items():
        say(f"{name}: {variant.label}")
        trial = measure_variant(repo, model, variant, plan, workload)
        best = trial.best_point(plan.p99_ms)
        rows.append(
            {
                "name": name,
                "kind": "served",
                "config": variant.label,
                "texts_per_s": best["texts_per_s"] if best else 0.0,
                "p99_ms": best["p99_ms"] if best else None,
                "concurrency": best["concurrency"] if best else None,
                "detail": trial.to_dict(plan.p99_ms),
            }
        )
    by_name = {r["name"]: r for r in rows}
    reference = by_name["in-process pad-to-longest"]["texts_per_s"] if "in-process pad-to-longest" in by_name else 0
    for row in rows:
        row["vs_in_process_pad_to_longest"] = round(row["texts_per_s"] / reference, 3) if reference else None
    return {"rows": rows, "reference": "in-process pad-to-longest at its best batch size"}


# -- the whole run ----------------------------------------------------------------------------


def tune(
    repo: Path,
    model: str,
    plan: TunePlan,
    *,
    write: bool = True,
    force: bool = False,
    say: Say = lambda _: None,
) -> dict[str, Any]:
    """Search, compare, and (if confirmed, or forced) write the best config back; the report."""
    from encoder_triton.bench.sweep import machine_info
    from encoder_triton.bench.workload import build_workload

    repo = Path(repo).resolve()
    started = datetime.datetime.now(datetime.timezone.utc)
    exported_model = read_model(repo, model)
    exported = exported_knobs(exported_model)
    knobs = tuple(k for k in plan.knobs if not exported_model.native or k in NATIVE_KNOBS)
    plan = dataclasses.replace(plan, knobs=knobs)
    task = exported_model.ensemble_params.task or contract.Task.EMBED
    workload = build_workload(task.value, model=model, batch_size=plan.batch_size, corpus=plan.corpus, seed=plan.seed)
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "created": started.isoformat(timespec="seconds"),
        "model": model,
        "repo": str(repo),
        "p99_bound_ms": plan.p99_ms,
        "plan": _plan_dict(plan),
        "machine": machine_info(),
        "workload": workload.describe(),
        "exported": exported,
        "exported_config": serving_config(exported_model),
        "notes": [],
    }
    say(f"searching {', '.join(knobs)} under p99 <= {plan.p99_ms:g} ms")
    best, trials = coordinate_descent(plan, lambda v: measure_variant(repo, model, v, plan, workload), exported, say)
    report["trials"] = [t.to_dict(plan.p99_ms) for t in trials]
    report["best"] = best.to_dict(plan.p99_ms)
    if best.score(plan.p99_ms) == 0:
        report["notes"].append(
            f"no config kept p99 within {plan.p99_ms:g} ms at concurrency {min(plan.concurrency)}: raise the bound "
            "or lower the concurrency (--concurrency)"
        )
    comparison = compare(repo, model, best.variant, exported, plan, workload, say) if plan.compare else None
    report["comparison"] = comparison
    report["decision"] = decide(best, comparison, write=write, force=force)
    if report["decision"]["write"]:
        suffix = ".before-tune-" + started.strftime("%Y%m%dT%H%M%S")
        written = apply_variant(repo, model, best.variant, backup_suffix=suffix)
        report["decision"]["written"] = [str(p.relative_to(repo)) for p in written]
        report["decision"]["previous_configs_kept_as"] = "config.pbtxt" + suffix
    report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["duration_s"] = round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1)
    _save(repo / model, report)
    return report


def decide(best: Trial, comparison: dict[str, Any] | None, *, write: bool, force: bool) -> dict[str, Any]:
    """Whether to write the best config back, and why."""
    decision: dict[str, Any] = {"config": best.variant.label, "knobs": best.variant.knobs(), "write": False}
    if best.variant.is_default:
        decision["reason"] = "the exported config was the fastest found: nothing to change"
        return decision
    if not write:
        decision["reason"] = "dry run: nothing written"
        return decision
    if comparison is not None and not force:
        rows = {r["name"]: r for r in comparison["rows"]}
        tuned, exported = rows["served tuned"]["texts_per_s"], rows["served token-budget"]["texts_per_s"]
        if tuned < exported:
            decision["reason"] = (
                f"the final comparison did not confirm the gain ({tuned:.1f} vs {exported:.1f} texts/s as exported): "
                "nothing written (--force writes it anyway)"
            )
            return decision
    decision["write"] = True
    decision["reason"] = "forced" if force else "fastest within the bound, confirmed by the final comparison"
    return decision


def _plan_dict(plan: TunePlan) -> dict[str, Any]:
    data = dataclasses.asdict(plan)
    return json.loads(json.dumps(data, default=list))


def _save(folder: Path, report: dict[str, Any]) -> None:
    from encoder_triton.bench.tune_report import render_tune_markdown

    (folder / "tune_report.json").write_text(json.dumps(report, indent=2) + "\n")
    (folder / "tune_report.md").write_text(render_tune_markdown(report))
