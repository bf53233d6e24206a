"""GPU check: exported fp32 / fp16 encoders on CUDA, in-process and served, against PyTorch.

Not a test (CI has no GPU): a benchmark that a person runs on a GPU machine and reads.

1. in-process: each exported encoder loaded exactly as a KIND_GPU Triton instance loads it
   (`steps.load_encoder`: the execution providers its config prefers, CUDA here), timed at
   batch 1, 32 and 128 on real texts cut to 128 tokens; PyTorch (the same architecture,
   fp32 and fp16 autocast-free `.half()`) timed on the same shapes;
2. fidelity: the GPU embeddings of real texts against reference embeddings that
   sentence-transformers computed in fp32 (`--reference`, made where the model weights are);
3. served: the repository on the embedded Triton (GPU instances), the same texts embedded
   through the gRPC client and compared with the reference, and a closed loop at a few
   concurrencies.

Each step that cannot run (no CUDA provider, no Triton for this Python) is reported with
its reason instead of stopping the others.

Usage (on the GPU machine):
    python -m encoder_triton.bench.gpu_check --repo gpurepo --reference ref.npz --out out/
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BATCH_SIZES = (1, 32, 128)
SEQUENCE_LENGTH = 128


def _timed(run: Callable[[], Any], seconds: float) -> float:
    """Calls per second of `run` over about `seconds` (after two warm-up calls)."""
    run()
    run()
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or calls < 3:
        run()
        calls += 1
    return calls / elapsed


def _cut_batch(tokenizer: Any, texts: list[str], batch: int) -> Any:
    """`batch` real texts, each exactly SEQUENCE_LENGTH tokens (long texts, truncated)."""
    from encoder_triton.runtime.tokenization import TokenBatch

    long = [t for t in texts if len(t.split()) > SEQUENCE_LENGTH] or texts
    rows = [long[i % len(long)] for i in range(batch)]
    tokens = tokenizer.encode(rows)
    width = SEQUENCE_LENGTH
    ids = np.zeros((batch, width), np.int64)
    mask = np.zeros((batch, width), np.int64)
    ids[:, : min(width, tokens.input_ids.shape[1])] = tokens.input_ids[:, :width]
    mask[:, : min(width, tokens.attention_mask.shape[1])] = tokens.attention_mask[:, :width]
    types = None if tokens.token_type_ids is None else np.zeros_like(ids)
    return TokenBatch(input_ids=ids, attention_mask=mask, token_type_ids=types)


def in_process(repo: Path, models: list[str], texts: list[str], seconds: float) -> dict[str, Any]:
    from encoder_triton import contract
    from encoder_triton.runtime.steps import ModelArgs, TokenizerStep, load_encoder

    results: dict[str, Any] = {}
    for name in models:
        tokenizer_name, encoder_name = contract.component_names(name)
        try:
            args = ModelArgs.from_directory(repo / encoder_name)
            gpu_args = ModelArgs(args.config, args.version_dir, instance_kind="GPU", device_id=0)
            encoder = load_encoder(gpu_args)
            tokenizer = TokenizerStep(ModelArgs.from_directory(repo / tokenizer_name)).tokenizer
            row: dict[str, Any] = {"providers": list(encoder.providers)}
            for batch in BATCH_SIZES:
                tokens = _cut_batch(tokenizer, texts, batch)
                rate = _timed(functools.partial(encoder.run, tokens), seconds)
                row[f"batch_{batch}_texts_per_s"] = round(batch * rate, 1)
            results[name] = row
        except Exception as exc:  # noqa: BLE001 - report every engine, whatever breaks
            results[name] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
    return results


def pytorch(seconds: float) -> dict[str, Any]:
    """all-MiniLM-L6-v2's architecture (BERT, 6 layers, 384 wide) in PyTorch on CUDA; random
    weights: speed does not depend on the values, and the weights need not travel."""
    try:
        import torch
        from transformers import BertConfig, BertModel

        config = BertConfig(
            vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536
        )
        results: dict[str, Any] = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}
        for dtype_name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
            model: Any = BertModel(config).to("cuda", dtype=dtype).eval()  # type: ignore[arg-type]
            row = {}
            for batch in BATCH_SIZES:
                ids = torch.randint(1000, 30000, (batch, SEQUENCE_LENGTH), device="cuda")
                mask = torch.ones_like(ids)

                def run(net: Any = model, ids: Any = ids, mask: Any = mask) -> None:
                    with torch.inference_mode():
                        net(input_ids=ids, attention_mask=mask)
                    torch.cuda.synchronize()

                row[f"batch_{batch}_texts_per_s"] = round(batch * _timed(run, seconds), 1)
            results[dtype_name] = row
        return results
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}


def _cosines(got: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    from encoder_triton.export.fidelity import cosine_rows

    cos = cosine_rows(got, reference)
    return {"min_cosine": round(float(cos.min()), 6), "mean_cosine": round(float(cos.mean()), 6)}


def fidelity(repo: Path, models: list[str], texts: list[str], reference: np.ndarray) -> dict[str, Any]:
    from encoder_triton import contract
    from encoder_triton.runtime.steps import EncoderStep, ModelArgs, TokenizerStep

    results: dict[str, Any] = {}
    for name in models:
        tokenizer_name, encoder_name = contract.component_names(name)
        try:
            tokenizer = TokenizerStep(ModelArgs.from_directory(repo / tokenizer_name))
            args = ModelArgs.from_directory(repo / encoder_name)
            step = EncoderStep(ModelArgs(args.config, args.version_dir, instance_kind="GPU", device_id=0))
            rows = np.array(texts, dtype=object).reshape(-1, 1)
            (out,) = step.run([tokenizer.encode({"TEXT": rows}.get)])
            results[name] = _cosines(out[contract.EMBEDDING], reference)
        except Exception as exc:  # noqa: BLE001
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def served(repo: Path, models: list[str], texts: list[str], reference: np.ndarray, seconds: float) -> dict[str, Any]:
    from encoder_triton.bench.loadgen import run_closed_loop
    from encoder_triton.bench.workload import Workload
    from encoder_triton.client import EncoderClient
    from encoder_triton.server.embedded import EmbeddedTriton

    results: dict[str, Any] = {}
    try:
        with EmbeddedTriton(repo) as server:
            assert server.endpoints is not None
            address = server.endpoints.grpc
            for name in models:
                with EncoderClient(address) as client:
                    got = client.embed(texts, model=name).vectors
                row: dict[str, Any] = _cosines(got, reference)
                for batch in (1, 32):
                    workload = Workload("embed", name, batch, texts)
                    for concurrency in (1, 8, 32):
                        result = run_closed_loop(
                            lambda: EncoderClient(address),
                            workload,
                            concurrency=concurrency,
                            warmup_s=1.0,
                            window_s=seconds,
                            repeats=1,
                        )
                        (window,) = result.windows
                        row[f"b{batch}_c{concurrency}"] = {
                            "texts_per_s": round(window.texts_per_s, 1),
                            "p99_ms": round(window.latency_ms["p99"], 1),
                            "errors": window.errors,
                        }
                results[name] = row
    except Exception as exc:  # noqa: BLE001
        results["error"] = f"{type(exc).__name__}: {exc}"
        results["trace"] = traceback.format_exc()[-3000:]
    return results


def render(report: dict[str, Any]) -> str:
    lines = [f"# GPU check on {report['device']}", "", f"onnxruntime {report['onnxruntime']}", ""]
    lines += [
        "## In-process texts/s at sequence length 128",
        "",
        "| engine | b1 | b32 | b128 |",
        "|---|---:|---:|---:|",
    ]
    for name, row in report["in_process"].items():
        cells = [str(row.get(f"batch_{b}_texts_per_s", row.get("error", "-"))) for b in BATCH_SIZES]
        lines.append(f"| ORT {name} ({', '.join(row.get('providers', [])[:1])}) | " + " | ".join(cells) + " |")
    for dtype in ("fp32", "fp16"):
        row = report["pytorch"].get(dtype, {})
        cells = [str(row.get(f"batch_{b}_texts_per_s", "-")) for b in BATCH_SIZES]
        lines.append(f"| PyTorch {dtype} | " + " | ".join(cells) + " |")
    lines += ["", "## Fidelity vs sentence-transformers fp32", "", "```", json.dumps(report["fidelity"], indent=1)]
    lines += ["```", "", "## Served on the embedded Triton (GPU instances): texts/s (p99 ms)", ""]
    served = report["served"]
    if "error" in served:
        lines += ["```", served["error"], "```"]
    else:
        keys = [k for k in next(iter(served.values()), {}) if k.startswith("b")]
        lines += ["| model | min cos | " + " | ".join(keys) + " |", "|---|---:|" + "---:|" * len(keys)]
        for name, row in served.items():
            cells = [f"{row[k]['texts_per_s']} ({row[k]['p99_ms']})" for k in keys]
            lines.append(f"| {name} | {row['min_cosine']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--models", default="minilm_fp32,minilm_fp16")
    parser.add_argument("--reference", type=Path, required=True, help="npz with texts and embeddings")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--skip-served", action="store_true")
    options = parser.parse_args()
    import onnxruntime

    data = np.load(options.reference, allow_pickle=True)
    texts, reference = [str(t) for t in data["texts"]], data["embeddings"]
    models = [m for m in options.models.split(",") if m]
    report: dict[str, Any] = {
        "device": _device_name(),
        "onnxruntime": onnxruntime.__version__,
        "providers": onnxruntime.get_available_providers(),
        "python": platform.python_version(),
    }
    report["in_process"] = in_process(options.repo, models, texts, options.seconds)
    report["pytorch"] = pytorch(options.seconds)
    report["fidelity"] = fidelity(options.repo, models, texts, reference)
    report["served"] = {} if options.skip_served else served(options.repo, models, texts, reference, options.seconds)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (options.out / "gpu_check.md").write_text(render(report))
    print(render(report))


def _device_name() -> str:
    try:
        import torch

        return str(torch.cuda.get_device_name(0))
    except Exception:  # noqa: BLE001
        return "unknown"


if __name__ == "__main__":
    main()
