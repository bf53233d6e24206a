"""The gateway's own routes: `POST /classify` and `GET /metrics`.

`/classify` takes what users send today: `input` or `texts` (a text or a list), `model` or
`model_name` (optional when one classifier is loaded), `top_k` best labels (1 by default), or
`return_all_scores: true` for every label's probability in label order, `max_length`, and
`long_inputs` (what a text over the limit gets: truncate, truncate_left, error or chunk).
Errors answer `{"message": ...}`.

Example:
    >>> ClassifyRequest.model_validate({"texts": "hi", "model_name": "bbc_news"}).texts()
    ['hi']
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from encoder_triton import contract
from encoder_triton.client import InvalidInputError
from encoder_triton.gateway import errors
from encoder_triton.gateway.guards import admitted, authorize
from encoder_triton.gateway.routes._common import (
    LongInputsChoice,
    MessageError,
    Usage,
    error_responses,
    long_inputs_field,
    usage,
)

router = APIRouter(tags=["encoder-triton"])
error_shape = errors.message_error


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str | None = Field(default=None, validation_alias=AliasChoices("model", "model_name"))
    input: str | list[str] = Field(validation_alias=AliasChoices("input", "texts"))
    top_k: int | None = Field(default=None, ge=1)
    return_all_scores: bool = Field(default=False, description="Every label, in label order (top_k is ignored).")
    max_length: int | None = Field(default=None, ge=1, description="Truncate at this many tokens (<= the model's).")
    long_inputs: LongInputsChoice = long_inputs_field()

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class LabelScore(BaseModel):
    label: str
    score: float


class Classification(BaseModel):
    index: int
    predictions: list[LabelScore]


class ClassifyResponse(BaseModel):
    object: str = "list"
    model: str
    data: list[Classification]
    usage: Usage


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    dependencies=[Depends(authorize)],
    responses=error_responses(MessageError),
    summary="Classify texts (labels from the model's id2label)",
)
async def classify(body: ClassifyRequest, request: Request, response: Response) -> ClassifyResponse:
    texts = body.texts()
    if not texts:
        raise InvalidInputError("input is empty: send at least one text")
    backend = admitted(request, "/classify", texts)
    model = await backend.model_for(body.model, contract.Task.CLASSIFY.value)
    result = await backend.client.classify(
        texts, model=model, top_k=body.top_k, max_length=body.max_length, long_inputs=body.long_inputs
    )
    if body.return_all_scores:
        rows = [list(zip(result.label_names, result.probabilities[i], strict=True)) for i in range(len(result))]
    else:
        rows = [list(zip(result.top_labels[i], result.top_scores[i], strict=True)) for i in range(len(result))]
    data = [
        Classification(index=i, predictions=[LabelScore(label=label, score=float(score)) for label, score in row])
        for i, row in enumerate(rows)
    ]
    return ClassifyResponse(model=model, data=data, usage=usage(result, response))


@router.get("/metrics", summary="Prometheus metrics of the gateway itself")
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
