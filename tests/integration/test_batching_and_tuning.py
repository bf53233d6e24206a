"""Token-budget batching vs pad-to-longest through Triton, and `encoder-triton tune` end to end.

Mixed-length traffic from a real corpus, sent concurrently so that Triton's dynamic batcher
merges requests of very different lengths: the encoder step either sorts and splits them under
a token budget or pads them all to the longest, and the answers must not depend on which.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton.bench.variants import ServerVariant, apply_variant, make_variant
from encoder_triton.client import EncoderClient
from encoder_triton.contract.model_config import parse
from encoder_triton.export.fidelity import cosine_rows
from encoder_triton.server.embedded import EmbeddedTriton

pytestmark = pytest.mark.triton


@pytest.fixture(scope="module")
def mixed_texts(corpus_sentences: list[str]) -> list[str]:
    """96 texts from 3 to ~240 words: single sentences and runs of up to 8 of them."""
    rng = random.Random(7)
    texts = []
    for _ in range(96):
        start = rng.randrange(len(corpus_sentences) - 8)
        texts.append(" ".join(corpus_sentences[start : start + rng.choice([1, 1, 1, 2, 4, 8])]))
    return texts


def _embed_concurrently(server: EmbeddedTriton, texts: list[str]) -> np.ndarray:
    """One to three texts per request, 16 requests in flight: dynamic batches of mixed lengths."""
    assert server.endpoints is not None
    chunks, i = [], 0
    while i < len(texts):
        size = 1 + i % 3
        chunks.append((i, texts[i : i + size]))
        i += size
    out = np.zeros((len(texts), 384), np.float32)
    with EncoderClient(server.endpoints.grpc) as client, ThreadPoolExecutor(16) as pool:
        results = pool.map(lambda c: client.embed(c[1], model="minilm"), chunks)
        for (start, chunk), result in zip(chunks, results, strict=True):
            out[start : start + len(chunk)] = result.vectors
    return out


def test_token_budget_and_pad_to_longest_answer_the_same(
    minilm_repo: Path, mixed_texts: list[str], tmp_path: Path, triton_counts: Any
) -> None:
    # A small budget forces many sub-batches; a long queue delay lets requests pile up.
    variants = {
        "token_budget": ServerVariant(batching="token_budget", max_batch_tokens=512, max_queue_delay_us=20_000),
        "pad_to_longest": ServerVariant(batching="pad_to_longest", max_queue_delay_us=20_000),
    }
    results = {}
    for name, variant in variants.items():
        with EmbeddedTriton(make_variant(minilm_repo, "minilm", variant, tmp_path / name)) as server:
            results[name] = _embed_concurrently(server, mixed_texts)
            inferences, executions = triton_counts(server)["minilm_encoder"]
            assert executions < inferences, f"{name}: no dynamic batch merged requests ({inferences=})"
    with EncoderClient.local(minilm_repo) as local:
        reference = local.embed(mixed_texts, model="minilm").vectors
    lengths = [len(t.split()) for t in mixed_texts]
    assert min(lengths) <= 10 and max(lengths) >= 150  # the traffic really is mixed
    for name, got in results.items():
        cosine = cosine_rows(got, reference)
        assert cosine.min() >= 0.9999, f"{name}: worst text {int(cosine.argmin())} cos {cosine.min():.6f}"
    same = np.sum(results["token_budget"] * results["pad_to_longest"], axis=1)
    assert same.min() >= 0.9999


def test_a_written_variant_serves_with_its_new_limits(
    minilm_repo: Path, tmp_path: Path, mixed_texts: list[str]
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(minilm_repo, repo)
    variant = ServerVariant(
        instances=2, tokenizer_instances=2, max_batch_size=8, batching="pad_to_longest", max_queue_delay_us=0
    )
    apply_variant(repo, "minilm", variant, backup_suffix=".before-test")
    assert parse((repo / "minilm_encoder" / "config.pbtxt.before-test").read_text()).max_batch_size == 64
    with EmbeddedTriton(repo) as server:
        assert server.endpoints is not None
        with EncoderClient(server.endpoints.grpc) as client:
            assert client.model_info("minilm").max_batch_size == 8
            got = client.embed(mixed_texts[:20], model="minilm").vectors  # split into 3 requests
    with EncoderClient.local(minilm_repo) as local:
        reference = local.embed(mixed_texts[:20], model="minilm").vectors
    assert np.sum(got * reference, axis=1).min() >= 0.9999


#: The exported queue delay of the repository the tune tests start from: at concurrency 4, each
#: request then waits this long in each step, so every candidate delay (0 to 5 ms) serves many
#: times more texts/s and the search must find, and the comparison confirm, a better config.
SLOW_EXPORTED_DELAY_US = 200_000


@pytest.fixture
def slow_repo(minilm_repo: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(minilm_repo, repo)
    apply_variant(repo, "minilm", ServerVariant(max_queue_delay_us=SLOW_EXPORTED_DELAY_US), backup_suffix=".exported")
    return repo


def _tune(repo: Path, *options: str) -> tuple[dict[str, Any], str]:
    """Run `encoder-triton tune` on `repo/minilm` over the queue delay only; (report, stdout)."""
    command = [
        *(sys.executable, "-m", "encoder_triton.cli", "tune", str(repo / "minilm"), "--p99-ms", "5000"),
        *("--knobs", "max_queue_delay_us", "--concurrency", "4", "--window-s", "1", "--warmup-s", "0.5"),
        *("--repeats", "1", *options),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads((repo / "minilm" / "tune_report.json").read_text()), run.stdout


def _files(repo: Path) -> dict[Path, bytes]:
    """Every config file of the repository (configs and their backups), byte for byte."""
    return {p: p.read_bytes() for p in repo.rglob("config.pbtxt*")}


#: The trials of a delay-only search from SLOW_EXPORTED_DELAY_US: each candidate value once.
DELAY_TRIALS = ["as exported", "delay=0us", "delay=500us", "delay=2000us", "delay=5000us"]


def test_tune_cli_writes_a_confirmed_gain_and_keeps_the_previous_configs(slow_repo: Path) -> None:
    before = _files(slow_repo)
    report, stdout = _tune(slow_repo)
    assert (slow_repo / "minilm" / "tune_report.md").read_text().startswith("# Tuning `minilm`")
    assert [t["config"] for t in report["trials"]] == DELAY_TRIALS
    assert all(t["score_texts_per_s"] > 0 for t in report["trials"])  # measured, within a loose bound
    rows = {r["name"]: r for r in report["comparison"]["rows"]}
    assert set(rows) == {
        "in-process token-budget",
        "in-process pad-to-longest",
        "served pad-to-longest",
        "served token-budget",
        "served tuned",
    }
    assert all(r["texts_per_s"] > 0 for r in rows.values())
    assert rows["in-process pad-to-longest"]["vs_in_process_pad_to_longest"] == 1.0
    assert rows["served tuned"]["texts_per_s"] > rows["served token-budget"]["texts_per_s"]

    decision = report["decision"]
    assert decision["write"] is True
    assert decision["reason"] == "fastest within the bound, confirmed by the final comparison"
    assert decision["reason"] in stdout
    delay = decision["knobs"]["max_queue_delay_us"]
    assert set(decision["knobs"]) == {"max_queue_delay_us"} and delay < SLOW_EXPORTED_DELAY_US
    # Written: exactly the two step configs changed, to the decided delay, and each old one is
    # kept beside it, byte for byte; nothing else changed.
    kept_as = decision["previous_configs_kept_as"]
    steps = [slow_repo / "minilm_tokenizer" / "config.pbtxt", slow_repo / "minilm_encoder" / "config.pbtxt"]
    after = _files(slow_repo)
    assert sorted(after) == sorted([*before, *(p.with_name(kept_as) for p in steps)])
    for path in steps:
        assert after[path.with_name(kept_as)] == before[path]
        assert parse(after[path].decode()).dynamic_batching.max_queue_delay_microseconds == delay
    assert {p: after[p] for p in before if p not in steps} == {p: before[p] for p in before if p not in steps}


def test_tune_cli_dry_run_measures_and_writes_nothing(slow_repo: Path) -> None:
    before = _files(slow_repo)
    report, stdout = _tune(slow_repo, "--dry-run", "--no-compare")
    assert [t["config"] for t in report["trials"]] == DELAY_TRIALS
    assert report["comparison"] is None
    decision = report["decision"]
    assert decision["knobs"] != {}, "the search found nothing better than the slow exported config"
    assert (decision["write"], decision["reason"]) == (False, "dry run: nothing written")
    assert decision["reason"] in stdout
    assert _files(slow_repo) == before
