"""The tuner's report as Markdown: the decision, the comparison table, every trial.

Example:
    >>> report = json.loads(Path("model_repository/minilm/tune_report.json").read_text())  # doctest: +SKIP
    >>> print(render_tune_markdown(report))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from encoder_triton.bench.report import _fmt, _table


def render_tune_markdown(report: dict[str, Any]) -> str:
    bound = report["p99_bound_ms"]
    machine = report.get("machine", {})
    workload = report.get("workload", {})
    decision = report["decision"]
    lines = [
        f"# Tuning `{report['model']}` under p99 <= {bound:g} ms",
        "",
        f"{report['created']} on {machine.get('cores')} cores ({machine.get('cpu')}), load average at start "
        f"{machine.get('loadavg_start')}, at the end {machine.get('loadavg_end')}; "
        f"{report.get('duration_s')} s in all.",
        "",
        f"Traffic: {workload.get('corpus')} corpus, {report['plan']['batch_size']} text(s) per request, closed loop "
        f"at concurrency {', '.join(map(str, report['plan']['concurrency']))}; score = best texts/s within the bound.",
        "",
        f"**Decision:** {decision['config']}: {decision['reason']}.",
    ]
    if decision.get("written"):
        lines.append(
            f"Written: {', '.join(decision['written'])}; the previous configs are kept as "
            f"`{decision['previous_configs_kept_as']}`."
        )
    lines += [f"- {note}" for note in report.get("notes", [])]
    comparison = report.get("comparison")
    if comparison:
        lines += ["", f"## Side by side (one run, same texts; ratio vs {comparison['reference']})", ""]
        rows = [
            [
                r["name"],
                r.get("config") or f"batch {r.get('batch_size')}",
                _fmt(r["texts_per_s"]),
                _fmt(r["p99_ms"], 0),
                _fmt(r.get("concurrency")),
                _fmt(r["vs_in_process_pad_to_longest"], 2),
            ]
            for r in comparison["rows"]
        ]
        lines += _table(["", "config", "texts/s", "p99 ms", "concurrency", "ratio"], rows)
    lines += ["", "## Trials (in search order)", ""]
    trial_rows = []
    for number, trial in enumerate(report["trials"], 1):
        best = trial["best_point"] or {}
        ladder = ", ".join(
            f"c{p['concurrency']}: {p['texts_per_s']:.0f}/s p99 {p['p99_ms']:.0f}" for p in trial["points"]
        )
        trial_rows.append(
            [
                number,
                trial["config"],
                _fmt(trial["score_texts_per_s"]),
                _fmt(best.get("p99_ms"), 0),
                trial["error"].splitlines()[0][:80] if trial["error"] else ladder,
            ]
        )
    lines += _table(["#", "config", "score texts/s", "p99 ms", "ladder"], trial_rows)
    return "\n".join(lines) + "\n"
