"""What we ship for deployment, validated against the real schemas (no Docker engine or cluster here)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
RESTRICTED = "model-repository,shared-memory,trace,logging:admin-key="


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
@pytest.mark.parametrize("version", ["1.29", "1.33"])
def test_kubernetes_manifests_validate_strictly(path: Path, version: str) -> None:
    import kubernetes_validate

    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, version, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in MANIFESTS}


def test_deployment_probes_and_admin_safety() -> None:
    deployment = yaml.safe_load((K8S / "deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    args = " ".join(container["args"])
    assert "--model-control-mode=none" in args
    assert f"--http-restricted-api={RESTRICTED}" in args and f"--grpc-restricted-protocol={RESTRICTED}" in args
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/models", "/dev/shm"} <= mounts
    assert container["resources"]["requests"]["cpu"]


def test_hpa_scales_on_the_metric_the_adapter_defines() -> None:
    hpa = yaml.safe_load((K8S / "hpa.yaml").read_text())
    rules = yaml.safe_load((K8S / "prometheus-adapter-rules.yaml").read_text())
    adapter = yaml.safe_load(rules["data"]["config.yaml"])
    names = {rule["name"]["as"] for rule in adapter["rules"]}
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] in names
    assert hpa["spec"]["scaleTargetRef"]["name"] == "encoder-triton"


def test_compose_file_follows_the_compose_spec() -> None:
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(_compose(), schema)


def test_compose_serves_the_repository_with_gpu_and_cpu_variants() -> None:
    services = _compose()["services"]
    assert {"triton", "triton-cpu", "prometheus", "grafana"} <= set(services)
    for name in ("triton", "triton-cpu"):
        service = services[name]
        assert "./model_repository:/models:ro" in service["volumes"]
        assert service["shm_size"]
        command = " ".join(service["command"])
        assert "--model-control-mode=none" in command and f"--http-restricted-api={RESTRICTED}" in command
    assert services["triton"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert services["triton-cpu"]["profiles"] == ["cpu"]
    assert services["triton-cpu"]["build"]["args"]["ORT_PACKAGE"] == "onnxruntime"


def test_compose_mounts_exist_in_the_repository() -> None:
    for service in _compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and source != "./model_repository":
                assert (ROOT / source).exists(), source


def test_prometheus_scrapes_tritons_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["triton:8002"]


def test_dashboard_has_the_panels_operators_need(dashboard_metric_names: set[str]) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "encoder-triton.json").read_text())
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for needed in ("requests / s", "queue time", "compute time", "batch size", "failed", "cache"):
        assert needed in titles
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"]["uid"] == "prometheus" for p in dashboard["panels"])
    datasource = yaml.safe_load(
        (ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["uid"] == "prometheus"
    assert {"nv_inference_queue_duration_us", "nv_inference_exec_count"} <= dashboard_metric_names
