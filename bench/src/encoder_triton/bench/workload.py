"""What one benchmark request sends: the task, the batch of texts, drawn from a seeded pool.

The locust users and the sweep's load generator share this, so both send the same payloads.
Texts are sampled once into a pool (sampling in the hot loop would bill the generator's CPU to
the server); each caller walks the pool from its own offset.

    embed     client.embed(texts[b])                          POST /v1/embeddings through the gateway
    classify  client.classify(texts[b], top_k=...)            POST /classify
    rerank    client.rerank(query, documents[b], top_k=...)   POST /rerank   b documents per query

Example:
    >>> workload = build_workload("embed", model="minilm", batch_size=8)  # doctest: +SKIP
    >>> workload.call(client, cursor=0)  # doctest: +SKIP
    8
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_triton.bench.corpus import LengthStats, TextSampler, load_documents, split_sentences

TASKS = ("embed", "classify", "rerank")

#: Texts per pool: enough that no two requests of one window repeat a batch (a response
#: cache would otherwise answer them) while sampling stays well under a second.
DEFAULT_POOL_SIZE = 4096


@dataclass(frozen=True)
class Workload:
    """A task, a model and a batch size over a fixed pool of texts (and queries for rerank)."""

    task: str
    model: str
    batch_size: int
    texts: Sequence[str]
    queries: Sequence[str] = ()
    top_k: int | None = None
    corpus: str = "lee"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if len(self.texts) < self.batch_size:
            raise ValueError(f"the pool holds {len(self.texts)} texts, fewer than one batch of {self.batch_size}")
        if self.task == "rerank" and not self.queries:
            raise ValueError("a rerank workload needs queries")

    def batch(self, cursor: int) -> list[str]:
        """`batch_size` texts starting at `cursor`, wrapping around the pool."""
        size = len(self.texts)
        start = cursor % size
        end = start + self.batch_size
        if end <= size:
            return list(self.texts[start:end])
        return list(self.texts[start:]) + list(self.texts[: end - size])

    def check_client(self, client: Any) -> None:
        """Raise NotImplementedError before a run when `client` cannot send this task."""
        if self.task != "embed":
            _require(client, self.task)

    def call(self, client: Any, cursor: int) -> int:
        """Send one request through `client` (an EncoderClient); returns the texts it carried."""
        texts = self.batch(cursor)
        if self.task == "embed":
            client.embed(texts, model=self.model)
        elif self.task == "classify":
            client.classify(texts, model=self.model, top_k=self.top_k)
        else:
            query = self.queries[(cursor // self.batch_size) % len(self.queries)]
            client.rerank(query, texts, model=self.model, top_k=self.top_k)
        return len(texts)

    def gateway_request(self, cursor: int) -> tuple[str, dict[str, Any]]:
        """The same request for the gateway's HTTP API: (path, JSON body)."""
        texts = self.batch(cursor)
        if self.task == "embed":
            return "/v1/embeddings", {"model": self.model, "input": texts}
        if self.task == "classify":
            return "/classify", {"model": self.model, "input": texts, "top_k": self.top_k or 1}
        query = self.queries[(cursor // self.batch_size) % len(self.queries)]
        body: dict[str, Any] = {"model": self.model, "query": query, "documents": texts}
        if self.top_k is not None:
            body["top_n"] = self.top_k
        return "/rerank", body

    @staticmethod
    def answered_rows(path: str, answer: Any) -> int:
        """Rows a gateway answer carries (its texts, or the reranked documents)."""
        return len(answer.get("results" if path == "/rerank" else "data", []))

    def describe(self) -> dict[str, Any]:
        """What the report says about the payload."""
        return {
            "task": self.task,
            "model": self.model,
            "batch_size": self.batch_size,
            "corpus": self.corpus,
            "seed": self.seed,
            "pool_size": len(self.texts),
            "words_per_text": LengthStats.of(self.texts).to_dict(),
        }


def _require(client: Any, method: str) -> None:
    if not callable(getattr(client, method, None)):
        raise NotImplementedError(f"this encoder-triton-client has no {method}(): upgrade encoder-triton-client")


def build_workload(
    task: str,
    *,
    model: str,
    batch_size: int,
    corpus: str | Path = "lee",
    seed: int = 0,
    pool_size: int = DEFAULT_POOL_SIZE,
    top_k: int | None = None,
    mean_sentences: float = 2.0,
) -> Workload:
    """A workload whose texts are drawn from `corpus` with a fixed seed (see `corpus`)."""
    documents = load_documents(corpus)
    sampler = TextSampler(documents, seed=seed, mean_sentences=mean_sentences)
    texts = sampler.texts(max(pool_size, batch_size))
    queries: list[str] = []
    if task == "rerank":
        # A query is a document's first sentence: short, and on topic for some passages.
        queries = [split_sentences(d)[0] for d in documents if split_sentences(d)]
    return Workload(
        task=task,
        model=model,
        batch_size=batch_size,
        texts=texts,
        queries=queries,
        top_k=top_k,
        corpus=str(corpus),
        seed=seed,
    )
