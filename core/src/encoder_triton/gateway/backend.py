"""What the routes call: one `AsyncEncoderClient` (Triton or in-process), plus lookups.

The seam between the HTTP APIs and whatever serves the models. The routes only ever call the
client's task methods through a `Backend`; the engine decides the client's transport:

    triton   AsyncEncoderClient over an `UpstreamPool`: one or several Tritons (tritonclient's
             asyncio gRPC or HTTP clients), failing over between them (see `upstreams`)
    local    AsyncEncoderClient.local(repo): the runtime steps in process, micro-batched

A backend also answers the gateway's probes: ready while an upstream is up (or the local
runtime answers), alive while its upstream prober runs.

Beyond the client, a backend resolves a request's model when the API has no model field (the
only model of the task), reads the repository's tokenizers (/tokenize and token ids; only
when it knows the repository) and turns Triton-shaped statistics into per-model figures.

Example:
    >>> backend = Backend.create(GatewaySettings(engine="local", repo="model_repository"))  # doctest: +SKIP
    >>> await backend.model_for(None, "classify")  # doctest: +SKIP
    'bbc_news'
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_triton import contract
from encoder_triton.client import AsyncEncoderClient, EncoderError, InvalidInputError, ModelInfo, ModelNotFoundError
from encoder_triton.gateway.settings import GatewaySettings
from encoder_triton.gateway.upstreams import UpstreamPool, UpstreamStatus


@dataclass(frozen=True)
class ModelStats:
    """One model's traffic since the server started (the /predict servers' /health figures)."""

    total_requests: int  # requests answered
    total_batches: int  # executions of the encoder step (each a batch of requests)
    avg_batch_size: float  # texts per encoder execution
    avg_latency: float  # seconds per request, queueing included
    throughput: float  # texts per second since the gateway started


class Backend:
    """The gateway's one client and what it knows about the models behind it."""

    def __init__(
        self, client: AsyncEncoderClient, *, repo: Path | None = None, pool: UpstreamPool | None = None
    ) -> None:
        self.client = client
        self.repo = repo
        self.pool = pool  # the client's transport, when the engine is Triton
        self.started = time.monotonic()
        self._tokenizers: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def create(cls, settings: GatewaySettings) -> Backend:
        """A backend over the engine the settings name."""
        if settings.engine == "local":
            if settings.repo is None:
                raise ValueError("the local engine runs a model repository: set repo (--repo)")
            client = AsyncEncoderClient.local(
                settings.repo,
                max_concurrency=settings.max_concurrency,
                models=settings.models or None,
                batch_window_s=settings.batch_window_ms / 1000,
            )
            return cls(client, repo=settings.repo)
        pool = UpstreamPool.triton(
            settings.upstreams,
            protocol=settings.protocol,
            timeout_s=settings.timeout_s,
            probe_interval_s=settings.probe_interval_s,
            probe_timeout_s=settings.probe_timeout_s,
        )
        client = AsyncEncoderClient(transport=pool, max_concurrency=settings.max_concurrency)
        return cls(client, repo=settings.repo, pool=pool)

    async def start(self) -> None:
        """Probe the upstreams once, then keep probing them in the background."""
        if self.pool is not None:
            await self.pool.start()

    async def close(self) -> None:
        await self.client.close()  # closes the pool, its prober and its connections

    async def ready(self) -> bool:
        """True while an upstream is up (engine local: while the runtime answers)."""
        if self.pool is not None:
            return await self.pool.is_ready()
        try:
            return await self.client.health()
        except EncoderError:
            return False

    def alive(self) -> bool:
        """False once the upstream prober has stopped: the process cannot heal any more."""
        return self.pool is None or self.pool.probing()

    def upstreams(self) -> list[UpstreamStatus]:
        return self.pool.snapshot() if self.pool is not None else []

    async def models_of(self, task: str | None) -> list[ModelInfo]:
        """The public models serving `task` (every one for None)."""
        return [info for info in await self.client.models() if task is None or info.task == task]

    async def model_for(self, name: str | None, task: str | None) -> str:
        """`name`, or the one model serving `task` (any task for None) when the request names none."""
        if name:
            return name
        candidates = [info.name for info in await self.models_of(task)]
        what = f"{task} model" if task else "model"
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ModelNotFoundError(f"no {what} is loaded")
        raise InvalidInputError(f"several {what}s are loaded ({', '.join(candidates)}): name one in the request")

    def tokenizer(self, model: str) -> Any:
        """The model's tokenizer step, read from the repository (the gateway must know it)."""
        if self.repo is None:
            raise InvalidInputError(
                "this needs the model's tokenizer: start the gateway with --repo <model repository>"
            )
        with self._lock:
            if model not in self._tokenizers:
                from encoder_triton.runtime.steps import ModelArgs, TokenizerStep

                folder = Path(self.repo) / contract.component_names(model)[0]
                if not (folder / "config.pbtxt").is_file():
                    raise ModelNotFoundError(f"model {model!r} is not in the repository {self.repo}")
                self._tokenizers[model] = TokenizerStep(ModelArgs.from_directory(folder))
            return self._tokenizers[model]

    async def stats(self, models: list[str]) -> dict[str, ModelStats]:
        """Each model's figures, from Triton's statistics API (or the local engine's own)."""
        by_name = {str(m["name"]): m for m in (await self.client.statistics()).get("model_stats", [])}
        uptime = max(time.monotonic() - self.started, 1e-9)
        found = {}
        for model in models:
            ensemble = by_name.get(model, {})
            encoder = by_name.get(contract.component_names(model)[1], {})
            success = ensemble.get("inference_stats", {}).get("success", {})
            requests, ns = int(success.get("count", 0)), int(success.get("ns", 0))
            batches, rows = int(encoder.get("execution_count", 0)), int(encoder.get("inference_count", 0))
            found[model] = ModelStats(
                total_requests=requests,
                total_batches=batches,
                avg_batch_size=rows / batches if batches else 0.0,
                avg_latency=ns / requests / 1e9 if requests else 0.0,
                throughput=int(ensemble.get("inference_count", 0)) / uptime,
            )
        return found

    async def component_config(self, model: str) -> dict[str, Any]:
        """The config of the ensemble's encoder step (device and batch limits)."""
        return await self.client.model_config(contract.component_names(model)[1])
