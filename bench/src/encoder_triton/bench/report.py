"""Sweep reports people can read: `report.json`, `report.md` and two PNG plots.

    report.json      everything measured (schema `encoder-triton-bench/sweep/1`)
    report.md        a headline sentence, the plots, then tables: served points, the
                     in-process baseline, where the server's time went, the seed scenario
    throughput.png   texts/s vs client concurrency, one line per variant and batch size,
                     the in-process baseline as a dashed line, efficiency on the right axis
    latency.png      p50 (solid) and p99 (dashed) vs concurrency, the band between shaded

Example:
    >>> files = write_report(report, Path("reports/minilm"))  # doctest: +SKIP
    >>> sorted(p.name for p in files.values())  # doctest: +SKIP
    ['latency.png', 'report.json', 'report.md', 'throughput.png']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the JSON, the plots and the Markdown into `out_dir`; returns {kind: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": out_dir / "report.json"}
    files["json"].write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    if report.get("points"):
        files["throughput"] = plot_throughput(report, out_dir / "throughput.png")
        files["latency"] = plot_latency(report, out_dir / "latency.png")
    files["markdown"] = out_dir / "report.md"
    files["markdown"].write_text(
        render_markdown(report, plots=[p.name for k, p in files.items() if k in ("throughput", "latency")])
    )
    return files


# -- Markdown ---------------------------------------------------------------------------------


def headline(report: dict[str, Any]) -> str:
    summary = report.get("summary") or {}
    if not summary:
        return "Nothing was measured."
    best = summary["best_point"]
    where = f"concurrency {best['concurrency']}, batch {best['batch_size']} ({best['variant']})"
    lat = summary["best_latency_ms"]
    text = (
        f"**Served {summary['best_texts_per_s']:.1f} texts/s** at {where}, "
        f"p50 {lat['p50']:.0f} ms / p99 {lat['p99']:.0f} ms"
    )
    baseline = report.get("baseline")
    if baseline and summary.get("efficiency") is not None:
        text += (
            f": **{summary['efficiency']:.2f}x** the same model in-process with ONNX Runtime "
            f"({summary['baseline_texts_per_s']:.1f} texts/s at batch {baseline['best_batch_size']})."
        )
    else:
        text += "; no in-process baseline, so no efficiency."
    return text


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _component(point: dict[str, Any], suffix: str) -> dict[str, Any]:
    for name, stats in (point.get("probes", {}).get("triton") or {}).items():
        if name.endswith(suffix):
            return dict(stats)
    return {}


def render_markdown(report: dict[str, Any], *, plots: Sequence[str] = ()) -> str:
    machine = report.get("machine", {})
    workload = report.get("workload", {})
    words = workload.get("words_per_text", {})
    lines = [
        f"# Benchmark: `{report.get('model')}` ({report.get('task')}, {report.get('protocol')})",
        "",
        headline(report),
        "",
    ]
    load_start, load_end = machine.get("loadavg_start"), machine.get("loadavg_end")
    lines.append(
        f"Machine: {machine.get('cores')} cores ({machine.get('cpu')}), load average {_load(load_start)} at start, "
        f"{_load(load_end)} at the end. Server: {report.get('server')}. Texts: `{workload.get('corpus')}` corpus, "
        f"seed {workload.get('seed')}, words per text p50 {_fmt(words.get('p50'), 0)} / p90 {_fmt(words.get('p90'), 0)}"
        f" / p99 {_fmt(words.get('p99'), 0)}. Each point: {report.get('plan', {}).get('warmup_s')} s warm-up, then the"
        f" median of {report.get('plan', {}).get('repeats')} windows of {report.get('plan', {}).get('window_s')} s."
    )
    if _busy_machine(machine):
        lines += [
            "",
            f"> **Caveat:** the machine was busy (load average above {machine.get('cores')} cores): "
            "other processes took CPU from this run, so absolute numbers are low and noisy.",
        ]
    lines.append("")
    lines += [f"![{Path(p).stem}]({p})" for p in plots]
    if plots:
        lines.append("")

    points = report.get("points", [])
    if points:
        lines += ["## Served", ""]
        rows = []
        for p in points:
            enc = _component(p, "_encoder")
            lat = p["latency_ms"]
            rows.append(
                [
                    p["variant"],
                    p["batch_size"],
                    p["concurrency"],
                    _fmt(p["texts_per_s"]),
                    _fmt(p["requests_per_s"]),
                    _fmt(lat["p50"]),
                    _fmt(lat["p90"]),
                    _fmt(lat["p99"]),
                    _fmt(p["error_rate"] * 100, 2) + "%",
                    _fmt(p["efficiency"], 2),
                    _fmt(enc.get("rows_per_execution")),
                    _fmt((p["probes"].get("client_cpu") or {}).get("cores"), 2),
                    _fmt((p["probes"].get("server_cpu") or {}).get("cores"), 2),
                ]
            )
        lines += _table(
            [
                "variant",
                "batch",
                "concurrency",
                "texts/s",
                "req/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "errors",
                "efficiency",
                "rows/exec",
                "client CPU",
                "server CPU",
            ],
            rows,
        )
        lines += [
            "",
            "rows/exec: texts per encoder execution (how well Triton's dynamic batcher batched). "
            "CPU columns: cores used by the load generator and by tritonserver with its stubs.",
            "",
        ]

    baseline = report.get("baseline")
    if baseline:
        lines += [
            "## In-process baseline",
            "",
            f"{baseline['kind']}, intra-op threads "
            f"{baseline['intra_op_threads'] or 'all cores'}, token budget {baseline['max_batch_tokens']}.",
            "",
        ]
        lines += _table(
            ["batch", "ORT spinning", "texts/s", "tokenising", "real / padded tokens"],
            [
                [
                    b["batch_size"],
                    "on" if b.get("spinning", True) else "off",
                    _fmt(b["texts_per_s"]),
                    f"{b['tokenize_share'] * 100:.1f}%",
                    f"{b['real_token_share'] * 100:.0f}%",
                ]
                for b in baseline["by_batch_size"]
            ],
        )
        check = baseline.get("check_after")
        if check:
            lines += [
                "",
                f"Measured again after the served points at batch {check['batch_size']}: "
                f"{check['texts_per_s']:.1f} texts/s ({check['drift']:+.0%}).",
            ]
        lines.append("")

    if points and any(p.get("probes", {}).get("triton") for p in points):
        lines += ["## Where the server's time went", ""]
        rows = []
        for p in points:
            for suffix in ("_tokenizer", "_encoder"):
                stats = _component(p, suffix)
                if stats:
                    rows.append(
                        [
                            p["variant"],
                            p["batch_size"],
                            p["concurrency"],
                            suffix.strip("_"),
                            _fmt(stats["rows_per_execution"]),
                            _fmt(stats["queue_ms_per_request"], 2),
                            _fmt(stats["compute_ms_per_execution"], 2),
                            _fmt(stats["busy"], 2),
                        ]
                    )
        lines += _table(
            ["variant", "batch", "concurrency", "step", "rows/exec", "queue ms/request", "compute ms/exec", "busy"],
            rows,
        )
        lines += ["", "busy: the fraction of the time an instance of the step was executing (1.0 = always).", ""]

    scenario = report.get("scenario")
    if scenario:
        lines += ["## Seed scenario: many long texts in one call", ""]
        text = (
            f"{scenario['texts']} texts (words p50 {scenario['words_per_text']['p50']:.0f}), {scenario['how']}: "
            f"**{scenario['median_s']:.2f} s** end to end (median of {len(scenario['repeats_s'])}), "
            f"{scenario['texts_per_s']:.1f} texts/s"
        )
        if "in_process_median_s" in scenario:
            text += (
                f"; in-process ONNX Runtime {scenario['in_process_median_s']:.2f} s "
                f"(efficiency {scenario['efficiency']:.2f})"
            )
        lines += [text + ".", ""]

    notes = report.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def _load(values: Any) -> str:
    return "/".join(f"{v:.1f}" for v in values) if values else "?"


def _busy_machine(machine: dict[str, Any]) -> bool:
    cores = machine.get("cores") or 1
    loads = [v for key in ("loadavg_start", "loadavg_end") for v in (machine.get(key) or [])[:1]]
    return any(v > cores for v in loads)


# -- plots ------------------------------------------------------------------------------------


def _series(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    several_variants = len({p["variant"] for p in report["points"]}) > 1
    for point in report["points"]:
        label = f"batch {point['batch_size']}"
        if several_variants:
            label = f"{point['variant']}, {label}"
        groups.setdefault(label, []).append(point)
    return {k: sorted(v, key=lambda p: p["concurrency"]) for k, v in groups.items()}


def _axes(title: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.set_xscale("log", base=2)
    ax.grid(True, which="major", alpha=0.3)
    ax.spines[["top"]].set_visible(False)
    return fig, ax


def _concurrency_ticks(ax: Any, points: Sequence[dict[str, Any]]) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    ticks = sorted({p["concurrency"] for p in points})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(t) for t in ticks])
    ax.set_xlabel("client concurrency (requests in flight)")


def plot_throughput(report: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = _axes(f"Throughput: {report.get('model')} on Triton ({report.get('protocol')})")
    top = 0.0
    for label, points in _series(report).items():
        xs = [p["concurrency"] for p in points]
        ys = [p["texts_per_s"] for p in points]
        lows = [y - min(w["texts_per_s"] for w in p["windows"]) for p, y in zip(points, ys, strict=True)]
        highs = [max(w["texts_per_s"] for w in p["windows"]) - y for p, y in zip(points, ys, strict=True)]
        line = ax.errorbar(xs, ys, yerr=[lows, highs], marker="o", capsize=3, label=label)
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(
                f"{y:.0f}",
                (x, y),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
                color=line[0].get_color(),
            )
        top = max(top, max(ys) + max(highs))
    baseline = report.get("baseline")
    if baseline:
        b = baseline.get("efficiency_against_texts_per_s", baseline["texts_per_s"])
        ax.axhline(b, linestyle="--", color="0.3", linewidth=1.2)
        ax.annotate(
            f"in-process ONNX Runtime, batch {baseline['best_batch_size']}: {b:.0f} texts/s",
            (0.01, b),
            xycoords=("axes fraction", "data"),
            textcoords="offset points",
            xytext=(2, 4),
            fontsize=8,
            color="0.3",
        )
        top = max(top, b)
        efficiency = ax.secondary_yaxis("right", functions=(lambda y: y / b, lambda e: e * b))
        efficiency.set_ylabel("serving efficiency (served / in-process)")
    ax.set_ylim(0, top * 1.15 or 1)
    ax.set_ylabel("texts per second (median of windows; bars: min-max)")
    _concurrency_ticks(ax, report["points"])
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_latency(report: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = _axes(f"Latency per request: {report.get('model')} ({report.get('protocol')})")
    for label, points in _series(report).items():
        xs = [p["concurrency"] for p in points]
        p50 = [max(p["latency_ms"]["p50"], 0.01) for p in points]
        p99 = [max(p["latency_ms"]["p99"], 0.01) for p in points]
        (line,) = ax.plot(xs, p50, marker="o", label=f"{label} p50")
        ax.plot(xs, p99, marker="^", linestyle="--", color=line.get_color(), label=f"{label} p99")
        ax.fill_between(xs, p50, p99, color=line.get_color(), alpha=0.12)
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:g}")[0] in "25" else ""))
    ax.set_ylabel("milliseconds (log scale)")
    _concurrency_ticks(ax, report["points"])
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
