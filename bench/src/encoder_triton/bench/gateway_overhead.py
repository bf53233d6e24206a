"""Gateway overhead: the same closed-loop load straight to Triton over gRPC and through the gateway.

Both paths hit one embedded Triton; the gateway runs as its own process (`encoder-triton
gateway`), as in production. Rounds alternate direct / gateway so a drifting machine hurts
both alike; the report gives the median texts/s of each and the ratio.

Example:
    $ python -m encoder_triton.bench.gateway_overhead --repo model_repository --model minilm \\
        --concurrency 32 --batch-size 8 --seconds 15 --out reports/gateway
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from encoder_triton.bench.corpus import TextSampler, load_documents
from encoder_triton.client import EncoderClient
from encoder_triton.server.embedded import EmbeddedTriton, free_port


def closed_loop(call: Callable[[list[str]], None], batches: list[list[str]], concurrency: int, seconds: float) -> float:
    """Texts/s with `concurrency` callers, each sending its next batch as soon as one returns."""
    done = [0] * concurrency
    stop = threading.Event()

    def worker(index: int) -> None:
        cursor = index
        while not stop.is_set():
            batch = batches[cursor % len(batches)]
            call(batch)
            done[index] += len(batch)
            cursor += concurrency

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(seconds / 4)  # warm-up
    start_count, started = sum(done), time.perf_counter()
    time.sleep(seconds)
    rate = (sum(done) - start_count) / (time.perf_counter() - started)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("reports/gateway"))
    args = parser.parse_args()

    sampler = TextSampler(load_documents("lee"), seed=0)
    batches = [sampler.texts(args.batch_size) for _ in range(256)]
    with EmbeddedTriton(args.repo) as triton:
        assert triton.endpoints is not None
        port = free_port()
        gateway = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "encoder_triton.cli",
                "gateway",
                "--triton",
                triton.endpoints.grpc,
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            import requests

            url = f"http://127.0.0.1:{port}/v1/embeddings"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    time.sleep(0.2)
            local = threading.local()

            def direct(texts: list[str]) -> None:
                if not hasattr(local, "client"):
                    local.client = EncoderClient(triton.endpoints.grpc)  # type: ignore[union-attr]
                local.client.embed(texts, model=args.model)

            def via_gateway(texts: list[str]) -> None:
                if not hasattr(local, "session"):
                    local.session = requests.Session()
                response = local.session.post(url, json={"model": args.model, "input": texts}, timeout=120)
                response.raise_for_status()

            rates: dict[str, list[float]] = {"direct gRPC": [], "gateway (HTTP -> gRPC)": []}
            for _ in range(args.rounds):
                rates["direct gRPC"].append(closed_loop(direct, batches, args.concurrency, args.seconds))
                rates["gateway (HTTP -> gRPC)"].append(
                    closed_loop(via_gateway, batches, args.concurrency, args.seconds)
                )
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)

    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratio = medians["gateway (HTTP -> gRPC)"] / medians["direct gRPC"]
    report = {
        "model": args.model,
        "concurrency": args.concurrency,
        "batch_size": args.batch_size,
        "seconds_per_round": args.seconds,
        "rounds": rates,
        "median_texts_per_s": medians,
        "gateway_over_direct": ratio,
        "overhead": 1 - ratio,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gateway.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Gateway overhead: `{args.model}`, concurrency {args.concurrency}, {args.batch_size} texts per request",
        "",
        "| path | texts/s (median) | rounds |",
        "|---|---:|---|",
        *[f"| {n} | {medians[n]:.1f} | {', '.join(f'{v:.1f}' for v in rates[n])} |" for n in rates],
        "",
        f"Gateway / direct = **{ratio:.3f}** (overhead {100 * (1 - ratio):.1f}%).",
    ]
    (args.out / "gateway.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
