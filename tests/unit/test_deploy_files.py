"""What we ship for deployment, validated against the real schemas (no Docker engine or cluster here)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
KSERVE = ROOT / "deploy" / "kserve"
#: KServe's InferenceService schema (v0.20.0), vendored: see tests/data/kserve/README.md.
ISVC_SCHEMA = ROOT / "tests" / "data" / "kserve" / "inferenceservice-v1beta1.schema.json.gz"
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
    assert {"triton", "triton-cpu", "gateway", "prometheus", "grafana"} <= set(services)
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


# -- the gateway as a service ----------------------------------------------------------------


def _settings_named(env: dict[str, str]) -> set[str]:
    """The GatewaySettings fields the ENCODER_TRITON_* variables of `env` set."""
    return {name.removeprefix("ENCODER_TRITON_").lower() for name in env if name.startswith("ENCODER_TRITON_")}


def _gateway_fields() -> set[str]:
    from encoder_triton.gateway.settings import GatewaySettings

    return set(GatewaySettings.model_fields)


def test_compose_runs_the_gateway_in_front_of_triton() -> None:
    gateway = _compose()["services"]["gateway"]
    assert gateway["build"]["dockerfile"] == "docker/gateway.Dockerfile"
    assert (ROOT / gateway["build"]["dockerfile"]).is_file()
    env = gateway["environment"]
    assert env["ENCODER_TRITON_TRITON_URL"] == "${ENCODER_TRITON_TRITON_URL:-triton:8001}"
    assert _settings_named(env) <= _gateway_fields()
    assert "8080:8080" in gateway["ports"]
    assert "/readyz" in " ".join(gateway["healthcheck"]["test"])
    assert "./model_repository:/models:ro" in gateway["volumes"]


def test_the_gateway_image_installs_the_gateway_and_runs_it_unprivileged() -> None:
    dockerfile = (ROOT / "docker" / "gateway.Dockerfile").read_text()
    assert '"/opt/encoder-triton/core[gateway]"' in dockerfile and "/opt/encoder-triton/client" in dockerfile
    assert 'ENTRYPOINT ["encoder-triton", "gateway"]' in dockerfile
    assert "USER 1000" in dockerfile and "ENCODER_TRITON_HOST=0.0.0.0" in dockerfile
    assert "/livez" in dockerfile


def test_prometheus_scrapes_the_gateway_too() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs["gateway"] == ["gateway:8080"]


def test_the_gateway_deployment_probes_its_own_readiness_and_reaches_triton_over_http() -> None:
    deployment = yaml.safe_load((K8S / "gateway-deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert _settings_named(env) <= _gateway_fields()
    service = yaml.safe_load((K8S / "service.yaml").read_text())
    triton_http = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http")
    assert env["ENCODER_TRITON_TRITON_URL"] == f"{service['metadata']['name']}:{triton_http}"
    assert env["ENCODER_TRITON_PROTOCOL"] == "http"
    timeout = float(env["ENCODER_TRITON_TIMEOUT_S"] or 0)
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > timeout
    gateway_service = yaml.safe_load((K8S / "gateway-service.yaml").read_text())
    assert gateway_service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    hpa = yaml.safe_load((K8S / "gateway-hpa.yaml").read_text())
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


# -- KServe ------------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """The CRD schema as the API server applies it with strict field validation: an object
    with declared properties takes no other field unless it preserves unknown fields."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def _inference_service() -> dict[str, Any]:
    return yaml.safe_load((KSERVE / "inferenceservice.yaml").read_text())


def test_the_inference_service_validates_against_kserves_own_schema() -> None:
    schema = _strict(json.loads(gzip.decompress(ISVC_SCHEMA.read_bytes())))
    validator = jsonschema.Draft7Validator(schema)
    isvc = _inference_service()
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(isvc)]
    assert errors == []
    # The check is strict: a misspelt field fails it.
    broken = _inference_service()
    broken["spec"]["predictor"]["model"]["storageURI"] = broken["spec"]["predictor"]["model"].pop("storageUri")
    assert not validator.is_valid(broken)
    assert yaml.safe_load((KSERVE / "kustomization.yaml").read_text())["resources"] == ["inferenceservice.yaml"]


def test_the_inference_service_serves_the_repository_safely_and_scales_on_concurrency() -> None:
    spec = _inference_service()["spec"]
    model = spec["predictor"]["model"]
    assert model["modelFormat"]["name"] == "triton" and model["storageUri"].startswith("s3://")
    args = " ".join(model["args"])
    assert "--model-control-mode=none" in args
    assert f"--http-restricted-api={RESTRICTED}$(ADMIN_KEY)" in args
    assert f"--grpc-restricted-protocol={RESTRICTED}$(ADMIN_KEY)" in args
    assert {m["mountPath"] for m in model["volumeMounts"]} == {"/dev/shm"}
    for tier in ("predictor", "transformer"):
        assert spec[tier]["scaleMetric"] == "concurrency" and spec[tier]["scaleTarget"] > 0
    gateway = spec["transformer"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _settings_named({e["name"]: e["value"] for e in gateway["env"]}) <= _gateway_fields()


def test_the_transformer_takes_its_upstream_from_the_arguments_kserve_appends(tmp_path: Path) -> None:
    """Run the transformer's command as KServe would, with `encoder-triton` standing in."""
    container = _inference_service()["spec"]["transformer"]["containers"][0]
    fake = tmp_path / "encoder-triton"
    fake.write_text('#!/bin/sh\necho "$@ upstream=$ENCODER_TRITON_TRITON_URL"\n')
    fake.chmod(0o755)
    kserve_args = [
        "--model_name",
        "encoder-triton",
        "--predictor_host",
        "encoder-triton-predictor.ml",
        "--http_port",
        "8080",
    ]
    run = subprocess.run(
        [*container["command"], *container["args"], *kserve_args],
        capture_output=True,
        text=True,
        timeout=10,
        env={**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "gateway upstream=encoder-triton-predictor.ml:80"
