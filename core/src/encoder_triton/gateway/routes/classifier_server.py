"""The API of the classifier servers we replace: `POST /predict`, `GET /models`, `GET /health`.

    POST /predict  {"texts": "..." | [...], "model_name"?: str, "max_length"?: int, "long_inputs"?: str}
                   -> {"request_id", "results": {"prediction", "label", "probabilities", "text"}
                       (a list of them for a list), "processing_time", "model_used"}
    GET /models    {"models": {name: {"num_parameters", "device", "dtype", "labels", ...}}}
    GET /health    {"status": "ok", "models": {name: {"total_requests", "total_batches",
                   "avg_batch_size", "avg_latency", "throughput"}}}  (503 when not ready)

`prediction` is the index of the most probable label and `probabilities` hold every label, in
label order: what `/classify` computes. `max_length` truncates each text at that many tokens
(at most the exported limit; Triton forwards it to the tokenizer step), `long_inputs` picks
what a longer text gets (truncate, truncate_left, error, chunk; `X-Truncated-Inputs` counts
the texts cut). Without `model_name`
the only classifier answers. `/health` figures come from Triton's statistics API (or the local
engine's own counts): requests answered, encoder executions (batches), texts per execution,
seconds per request, texts per second since the gateway started; `models` lists the
classifiers and is left out when none is loaded. Errors answer `{"detail": ...}`.

Example:
    >>> PredictRequest(texts="Shares fell.").text_list()
    ['Shares fell.']
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from encoder_triton import contract
from encoder_triton.client import EncoderError, InvalidInputError
from encoder_triton.gateway import errors
from encoder_triton.gateway.backend import Backend
from encoder_triton.gateway.guards import admitted, authorize
from encoder_triton.gateway.request_log import current_request_id
from encoder_triton.gateway.routes._common import (
    DetailError,
    LongInputsChoice,
    error_responses,
    long_inputs_field,
    report_truncation,
)

router = APIRouter(tags=["Classifier server"])
error_shape = errors.detail_error

#: Numpy-style dtype names of the exported precisions.
_DTYPES = {"fp32": "float32", "fp16": "float16", "int8": "int8"}


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    texts: str | list[str]
    model_name: str | None = None
    max_length: int | None = Field(default=None, ge=1, description="Truncate at this many tokens (<= the model's).")
    long_inputs: LongInputsChoice = long_inputs_field()

    def text_list(self) -> list[str]:
        return [self.texts] if isinstance(self.texts, str) else list(self.texts)


class Prediction(BaseModel):
    prediction: int = Field(description="Index of the most probable label.")
    label: str
    probabilities: list[float] = Field(description="Every label's probability, in label order.")
    text: str


class PredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    request_id: str
    results: Prediction | list[Prediction]
    processing_time: float = Field(description="Seconds spent in the gateway and the model.")
    model_used: str


class ModelDetails(BaseModel):
    task: str
    labels: list[str]
    num_parameters: int | None = Field(description="Weights of the exported graph (null when unknown).")
    device: str
    dtype: str
    max_length: int | None
    max_batch_size: int


class ModelsResponse(BaseModel):
    models: dict[str, ModelDetails]


class Stats(BaseModel):
    total_requests: int
    total_batches: int
    avg_batch_size: float
    avg_latency: float = Field(description="Seconds per request.")
    throughput: float = Field(description="Texts per second since the gateway started.")


class HealthResponse(BaseModel):
    status: str
    models: dict[str, Stats] | None = None


@router.post(
    "/predict",
    response_model=PredictResponse,
    dependencies=[Depends(authorize)],
    responses=error_responses(DetailError),
    summary="Classify texts (the classifier servers' /predict)",
)
async def predict(body: PredictRequest, request: Request, response: Response) -> PredictResponse:
    started = time.perf_counter()
    texts = body.text_list()
    if not texts:
        raise InvalidInputError("texts is empty: send at least one text")
    backend = admitted(request, "/predict", texts)
    model = await backend.model_for(body.model_name, contract.Task.CLASSIFY.value)
    result = await backend.client.classify(texts, model=model, max_length=body.max_length, long_inputs=body.long_inputs)
    report_truncation(result, response)
    best = np.argmax(result.probabilities, axis=1)
    predictions = [
        Prediction(
            prediction=int(best[i]),
            label=result.label_names[int(best[i])],
            probabilities=[float(p) for p in result.probabilities[i]],
            text=text,
        )
        for i, text in enumerate(texts)
    ]
    return PredictResponse(
        request_id=current_request_id(),
        results=predictions[0] if isinstance(body.texts, str) else predictions,
        processing_time=time.perf_counter() - started,
        model_used=model,
    )


@router.get(
    "/models",
    response_model=ModelsResponse,
    dependencies=[Depends(authorize)],
    responses=error_responses(DetailError, 401, 502, 503, 504),
    summary="The classifiers, with their size, device and dtype",
)
async def models(request: Request) -> ModelsResponse:
    backend: Backend = request.app.state.backend
    found = {}
    for info in await backend.models_of(contract.Task.CLASSIFY.value):
        config = await backend.client.model_config(info.name)
        encoder = await backend.component_config(info.name)
        precision = config.get("parameters", {}).get(contract.Param.PRECISION, {}).get("string_value", "fp32")
        gpu = any(group.get("kind") == "KIND_GPU" for group in encoder.get("instance_group", []))
        found[info.name] = ModelDetails(
            task=info.task,
            labels=list(info.labels or ()),
            num_parameters=_num_parameters(backend.repo, info.name),
            device="cuda" if gpu else "cpu",
            dtype=_DTYPES.get(precision, precision),
            max_length=info.max_length,
            max_batch_size=info.max_batch_size,
        )
    return ModelsResponse(models=found)


def _num_parameters(repo: Path | None, model: str) -> int | None:
    """From the export report beside the encoder (the gateway must know the repository)."""
    if repo is None:
        return None
    report = Path(repo) / contract.component_names(model)[1] / "1" / "export_report.json"
    try:
        value = json.loads(report.read_text()).get("num_parameters")
    except (OSError, ValueError):
        return None
    return int(value) if value is not None else None


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "not ready"}},
    summary="Ready when the engine is; per-classifier traffic figures",
)
async def health(request: Request) -> Any:
    backend: Backend = request.app.state.backend
    try:
        ready = await backend.client.health()
    except EncoderError as exc:
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
    if not ready:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    try:
        classifiers = [info.name for info in await backend.models_of(contract.Task.CLASSIFY.value)]
        stats = await backend.stats(classifiers)
    except EncoderError:  # figures are extra: a ready engine is healthy without them
        classifiers, stats = [], {}
    body: dict[str, Any] = {"status": "ok"}
    if classifiers:
        body["models"] = {name: Stats(**vars(figures)).model_dump() for name, figures in stats.items()}
    return JSONResponse(body)
