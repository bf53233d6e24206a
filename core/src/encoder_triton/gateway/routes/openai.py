"""OpenAI's embeddings API: `POST /v1/embeddings` (texts or token ids) and `GET /v1/models`.

Token ids (`input` as a list of integers, or a list of such lists) go straight to the model's
encoder step: they are the sequence the model sees, special tokens included, as
text-embeddings-inference takes them (decoding them back to text and re-tokenising would not
round-trip: normalisation and unknown tokens are lost). Ids are checked against the model's
vocabulary first, so a bad id fails its own request and never the encoder batch it would share;
that check needs the tokenizer, so the gateway must know the repository (`--repo`). `user` is
accepted and written to the gateway's log with the request ID.

Example:
    >>> EmbeddingRequest(model="minilm", input=[[101, 7592, 102]]).token_ids()
    [[101, 7592, 102]]
"""

from __future__ import annotations

import base64
import logging
from typing import Literal

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from encoder_triton.client import InvalidInputError
from encoder_triton.gateway import errors
from encoder_triton.gateway.guards import admitted, authorize
from encoder_triton.gateway.request_log import GATEWAY_LOGGER
from encoder_triton.gateway.routes._common import (
    LongInputsChoice,
    OpenAIError,
    Usage,
    error_responses,
    long_inputs_field,
    usage,
)

router = APIRouter(tags=["OpenAI"])
error_shape = errors.openai_error
_log = logging.getLogger(GATEWAY_LOGGER)


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="A text, a list of texts, a list of token ids, or a list of token-id lists "
        "(ids of the model's own tokenizer, special tokens included)."
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, description="Matryoshka truncation (renormalised).")
    user: str | None = Field(default=None, description="Your end user's ID; logged with the request ID.")
    long_inputs: LongInputsChoice = long_inputs_field()

    def is_tokens(self) -> bool:
        return isinstance(self.input, list) and bool(self.input) and not isinstance(self.input[0], str)

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else [str(t) for t in self.input]

    def token_ids(self) -> list[list[int]]:
        if self.input and isinstance(self.input[0], int):
            return [list(self.input)]  # type: ignore[arg-type]
        return [list(row) for row in self.input]  # type: ignore[arg-type]


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "encoder-triton"
    task: str
    dimension: int | None = None
    max_length: int | None = None
    max_batch_size: int


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def check_token_ids(vocab_size: int, ids: list[list[int]]) -> None:
    """Every id must be one of the model's: a bad one is this request's error, not the batch's."""
    for index, row in enumerate(ids):
        if not row:
            raise InvalidInputError(f"token sequence {index} is empty: send at least one token id")
        bad = [t for t in row if not 0 <= t < vocab_size]
        if bad:
            raise InvalidInputError(
                f"token sequence {index} holds ids outside the model's vocabulary of {vocab_size}: {bad[:5]}"
            )


@router.post(
    "/v1/embeddings",
    response_model=EmbeddingResponse,
    dependencies=[Depends(authorize)],
    responses=error_responses(OpenAIError),
    summary="Create embeddings (OpenAI-compatible)",
)
async def embeddings(body: EmbeddingRequest, request: Request, response: Response) -> EmbeddingResponse:
    if body.user:
        _log.info("embeddings for user %s", body.user)
    if body.is_tokens():
        ids = body.token_ids()
        backend = admitted(request, "/v1/embeddings", [""] * len(ids))
        try:
            tokenizer = backend.tokenizer(body.model)
        except InvalidInputError as exc:
            raise InvalidInputError(f"token arrays are not supported without the model's tokenizer: {exc}") from exc
        check_token_ids(tokenizer.tokenizer.vocab_size, ids)
        result = await backend.client.embed_tokens(ids, model=body.model, dimensions=body.dimensions)
    else:
        texts = body.texts()
        if not texts:
            raise InvalidInputError("input is empty: send at least one text")
        backend = admitted(request, "/v1/embeddings", texts)
        result = await backend.client.embed(
            texts, model=body.model, dimensions=body.dimensions, long_inputs=body.long_inputs
        )
    data = [
        EmbeddingData(index=i, embedding=encode_vector(v, body.encoding_format)) for i, v in enumerate(result.vectors)
    ]
    return EmbeddingResponse(data=data, model=body.model, usage=usage(result, response))


@router.get(
    "/v1/models",
    response_model=ModelList,
    dependencies=[Depends(authorize)],
    responses=error_responses(OpenAIError, 401, 502, 503, 504),
    summary="List the models (OpenAI-compatible)",
)
async def models(request: Request) -> ModelList:
    infos = await request.app.state.backend.client.models()
    return ModelList(
        data=[
            ModelCard(
                id=i.name, task=i.task, dimension=i.dimension, max_length=i.max_length, max_batch_size=i.max_batch_size
            )
            for i in infos
        ]
    )


def encode_vector(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        # What the OpenAI SDK decodes: little-endian float32 bytes, base64.
        return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]
