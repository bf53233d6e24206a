"""Cohere's and Jina's rerank APIs: `POST /rerank`, `/v1/rerank` (v1 and Jina), `POST /v2/rerank`.

Both take `max_tokens_per_doc` (Cohere v2's name: each document is cut after that many tokens
before it is paired with the query) and `long_inputs` (what a pair over the model's limit
gets; chunk scores a document as its best window). v2 answers with an `id` (the request ID)
and `meta`. The `X-Truncated-Inputs` header counts the documents the model did not see in
full. Errors answer `{"message": ...}`, as Cohere's do.

Example:
    >>> RerankRequest(model="reranker", query="q", documents=[{"text": "a"}, "b"]).document_texts()
    ['a', 'b']
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from encoder_triton.client import InvalidInputError, RerankResult
from encoder_triton.gateway import errors
from encoder_triton.gateway.guards import admitted, authorize
from encoder_triton.gateway.request_log import current_request_id
from encoder_triton.gateway.routes._common import (
    LongInputsChoice,
    MessageError,
    Usage,
    error_responses,
    long_inputs_field,
    report_truncation,
    usage,
)

router = APIRouter(tags=["Cohere / Jina"])
error_shape = errors.message_error


class RerankDocument(BaseModel):
    text: str


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    query: str
    documents: list[str | RerankDocument]
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool = False
    max_tokens_per_doc: int | None = Field(
        default=None, ge=1, description="Cut each document after this many tokens (default: the model's limit)."
    )
    long_inputs: LongInputsChoice = long_inputs_field()

    def document_texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


class RerankResultItem(BaseModel):
    index: int
    relevance_score: float
    document: RerankDocument | None = None


class RerankResponse(BaseModel):
    model: str
    results: list[RerankResultItem]
    usage: Usage


class RerankV2Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    query: str
    documents: list[str]
    top_n: int | None = Field(default=None, ge=1)
    max_tokens_per_doc: int | None = Field(
        default=None, ge=1, description="Cut each document after this many tokens (default: the model's limit)."
    )
    long_inputs: LongInputsChoice = long_inputs_field()


class RerankV2Result(BaseModel):
    index: int
    relevance_score: float


class ApiVersion(BaseModel):
    version: str = "2"


class BilledUnits(BaseModel):
    search_units: int = 1


class RerankV2Meta(BaseModel):
    api_version: ApiVersion = ApiVersion()
    billed_units: BilledUnits = BilledUnits()


class RerankV2Response(BaseModel):
    id: str = Field(description="The request ID (X-Request-ID).")
    results: list[RerankV2Result]
    meta: RerankV2Meta = RerankV2Meta()


async def ranked(
    request: Request, route: str, model: str, query: str, documents: list[str], **options: Any
) -> RerankResult:
    if not documents:
        raise InvalidInputError("documents is empty: send at least one document")
    backend = admitted(request, route, [query, *documents])
    result: RerankResult = await backend.client.rerank(query, documents, model=model, **options)
    return result


async def rerank(body: RerankRequest, request: Request, response: Response) -> RerankResponse:
    documents = body.document_texts()
    result = await ranked(
        request,
        "/rerank",
        body.model,
        body.query,
        documents,
        top_k=body.top_n,
        return_documents=body.return_documents,
        max_document_tokens=body.max_tokens_per_doc,
        long_inputs=body.long_inputs,
    )
    results = [
        RerankResultItem(
            index=int(index),
            relevance_score=float(score),
            document=RerankDocument(text=documents[int(index)]) if body.return_documents else None,
        )
        for index, score in zip(result.indices, result.scores, strict=True)
    ]
    return RerankResponse(model=body.model, results=results, usage=usage(result, response))


for _path in ("/rerank", "/v1/rerank"):
    router.post(
        _path,
        response_model=RerankResponse,
        dependencies=[Depends(authorize)],
        responses=error_responses(MessageError),
        summary="Rerank documents for a query (Cohere v1 / Jina-compatible)",
    )(rerank)


@router.post(
    "/v2/rerank",
    response_model=RerankV2Response,
    dependencies=[Depends(authorize)],
    responses=error_responses(MessageError),
    summary="Rerank documents for a query (Cohere v2-compatible)",
)
async def rerank_v2(body: RerankV2Request, request: Request, response: Response) -> RerankV2Response:
    result = await ranked(
        request,
        "/v2/rerank",
        body.model,
        body.query,
        body.documents,
        top_k=body.top_n,
        max_document_tokens=body.max_tokens_per_doc,
        long_inputs=body.long_inputs,
    )
    report_truncation(result, response)
    return RerankV2Response(
        id=current_request_id(),
        results=[
            RerankV2Result(index=int(i), relevance_score=float(s))
            for i, s in zip(result.indices, result.scores, strict=True)
        ],
    )
