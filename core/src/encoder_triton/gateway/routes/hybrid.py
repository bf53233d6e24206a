"""bge-m3's three forms in one call: `POST /v1/hybrid_embeddings`.

    {"model", "input": text | [texts], "outputs"?: ["dense", "sparse", "colbert"], "long_inputs"?}
    -> {"object": "list", "model", "data": [{"index", "dense"?: [...],
        "sparse"?: {"ids": [...], "weights": [...], "words"?: [...]}, "colbert"?: [[...], ...]}],
        "usage"}

One forward pass of a bge-m3-style model answers all three (see the client's `embed(...,
outputs=...)`): the dense vector, the lexical weights of each token id of the text (`words`:
the ids decoded by the model's tokenizer, when the gateway knows the repository, `--repo`) and
one unit vector per token (ColBERT). Without `outputs`, all three. Errors answer OpenAI's shape.

Example:
    >>> HybridRequest(model="m3", input="hello").texts(), HybridRequest(model="m3", input="hi").outputs
    (['hello'], ['dense', 'sparse', 'colbert'])
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from encoder_triton.client import InvalidInputError
from encoder_triton.contract import EmbeddingOutput
from encoder_triton.gateway import errors
from encoder_triton.gateway.guards import admitted, authorize
from encoder_triton.gateway.routes._common import (
    LongInputsChoice,
    OpenAIError,
    Usage,
    error_responses,
    long_inputs_field,
    usage,
)

router = APIRouter(tags=["encoder-triton"])
error_shape = errors.openai_error


class HybridRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    input: str | list[str]
    outputs: list[EmbeddingOutput] = Field(
        default_factory=lambda: list(EmbeddingOutput), min_length=1, description="Which forms to answer."
    )
    long_inputs: LongInputsChoice = long_inputs_field()

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class Sparse(BaseModel):
    ids: list[int]
    weights: list[float]
    words: list[str] | None = Field(default=None, description="Each id decoded (needs the gateway's --repo).")


class HybridEmbedding(BaseModel):
    index: int
    dense: list[float] | None = None
    sparse: Sparse | None = None
    colbert: list[list[float]] | None = Field(default=None, description="One unit vector per token (CLS dropped).")


class HybridResponse(BaseModel):
    object: str = "list"
    model: str
    data: list[HybridEmbedding]
    usage: Usage


@router.post(
    "/v1/hybrid_embeddings",
    response_model=HybridResponse,
    response_model_exclude_none=True,
    dependencies=[Depends(authorize)],
    responses=error_responses(OpenAIError),
    summary="Dense, sparse and multi-vector embeddings from one pass (bge-m3-style models)",
)
async def hybrid_embeddings(body: HybridRequest, request: Request, response: Response) -> HybridResponse:
    texts = body.texts()
    if not texts:
        raise InvalidInputError("input is empty: send at least one text")
    backend = admitted(request, "/v1/hybrid_embeddings", texts)
    result = await backend.client.embed(texts, model=body.model, outputs=body.outputs, long_inputs=body.long_inputs)
    words = None
    if result.sparse is not None and backend.repo is not None:
        words = backend.tokenizer(body.model).tokenizer.words
    data = []
    for index in range(len(texts)):
        item = HybridEmbedding(index=index)
        if EmbeddingOutput.DENSE in body.outputs:
            item.dense = [float(x) for x in result.vectors[index]]
        if result.sparse is not None:
            sparse = result.sparse[index]
            item.sparse = Sparse(
                ids=[int(i) for i in sparse.ids],
                weights=[float(w) for w in sparse.weights],
                words=None if words is None else words(sparse.ids.tolist()),
            )
        if result.colbert is not None:
            item.colbert = [[float(x) for x in row] for row in result.colbert[index]]
        data.append(item)
    return HybridResponse(model=body.model, data=data, usage=usage(result, response))
