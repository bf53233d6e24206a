"""llama.cpp server's embedding and reranking APIs, for clients written against it.

    POST /embedding, /embeddings   {"content" | "input": text(s) or token ids, "embd_normalize"?: int}
                                   -> [{"index": i, "embedding": [[...]]}]  (one pooled row each)
    POST /reranking, /v1/reranking {"query", "documents" | "texts", "top_n"?, "return_text"?}
                                   -> Jina's shape, or TEI's list when the body says "texts"

llama.cpp serves one model, so `model` is optional: without it, the one loaded model of the task
answers. Scores are the cross-encoder's raw logits, as llama.cpp's rank pooling returns them.
`embd_normalize` follows llama.cpp: -1 none, 0 max-absolute (int16 range), 1 taxicab, 2
Euclidean (the default), p > 2 the p-norm; a model whose graph already L2-normalises its output
answers unit vectors before this. Errors answer `{"error": {"code", "message", "type"}}`.

Example:
    >>> normalize(np.array([[3.0, 4.0]]), 2).tolist()
    [[0.6, 0.8]]
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from encoder_triton.client import Embeddings, InvalidInputError
from encoder_triton.gateway import errors
from encoder_triton.gateway.guards import admitted, authorize
from encoder_triton.gateway.routes._common import LlamaCppError, Usage, error_responses, usage
from encoder_triton.gateway.routes.openai import check_token_ids

router = APIRouter(tags=["llama.cpp"])
error_shape = errors.llamacpp_error

Prompt = str | list[str] | list[int] | list[list[int]]


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content: Prompt | None = Field(default=None, description="Text(s) or token ids (llama.cpp's field).")
    input: Prompt | None = Field(default=None, description="The same, under OpenAI's name.")
    embd_normalize: int = Field(default=2, ge=-1, description="-1 none, 0 max-abs, 1 taxicab, 2 L2, >2 p-norm.")
    model: str | None = None

    def prompt(self) -> Prompt:
        value = self.input if self.input is not None else self.content
        if value is None:
            raise InvalidInputError('"input" or "content" must be provided')
        if isinstance(value, list) and not value:
            raise InvalidInputError("Input content cannot be empty")
        return value


class EmbeddingItem(BaseModel):
    index: int
    embedding: list[list[float]] = Field(description="One row: the pooled embedding.")


class RerankingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str
    documents: list[str] | None = None
    texts: list[str] | None = Field(default=None, description="TEI's name for documents; answers in TEI's shape.")
    top_n: int | None = Field(default=None, ge=1)
    return_text: bool = False
    model: str | None = None


class RankedDocument(BaseModel):
    index: int
    relevance_score: float


class RerankingResponse(BaseModel):
    model: str
    object: str = "list"
    usage: Usage
    results: list[RankedDocument]


class TEIRank(BaseModel):
    index: int
    score: float
    text: str | None = None


def normalize(vectors: np.ndarray, mode: int) -> np.ndarray:
    """llama.cpp's `common_embd_normalize`, row by row."""
    rows = vectors.astype(np.float64)
    if mode == -1:
        return vectors
    if mode == 0:
        norms = np.abs(rows).max(axis=1) / 32760.0
    elif mode == 2:
        norms = np.sqrt((rows * rows).sum(axis=1))
    else:
        norms = (np.abs(rows) ** mode).sum(axis=1) ** (1.0 / mode)
    scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
    return (rows * scale[:, None]).astype(np.float32)


async def _embed(body: EmbeddingRequest, request: Request) -> list[EmbeddingItem]:
    prompt = body.prompt()
    backend = request.app.state.backend
    model = await backend.model_for(body.model, "embed")
    result: Embeddings
    if isinstance(prompt, list) and not isinstance(prompt[0], str):
        ids = [list(prompt)] if isinstance(prompt[0], int) else [list(row) for row in prompt]
        admitted(request, "/embedding", [""] * len(ids))
        check_token_ids(backend.tokenizer(model).tokenizer.vocab_size, ids)
        result = await backend.client.embed_tokens(ids, model=model)
    else:
        texts = [prompt] if isinstance(prompt, str) else [str(t) for t in prompt]
        admitted(request, "/embedding", texts)
        result = await backend.client.embed(texts, model=model)
    vectors = normalize(result.vectors, body.embd_normalize)
    return [EmbeddingItem(index=i, embedding=[[float(x) for x in row]]) for i, row in enumerate(vectors)]


for _path in ("/embedding", "/embeddings"):
    router.post(
        _path,
        response_model=list[EmbeddingItem],
        dependencies=[Depends(authorize)],
        responses=error_responses(LlamaCppError),
        summary="Embeddings, llama.cpp server's non-OpenAI shape",
    )(_embed)


async def _rerank(body: RerankingRequest, request: Request) -> RerankingResponse | list[TEIRank]:
    documents = body.documents if body.documents is not None else body.texts
    if not documents:
        raise InvalidInputError('"documents" must be a non-empty string array')
    backend = admitted(request, "/reranking", [body.query, *documents])
    model = await backend.model_for(body.model, "rerank")
    result = await backend.client.rerank(body.query, documents, model=model, top_k=body.top_n)
    pairs = list(zip(result.indices.tolist(), result.raw_scores.tolist(), strict=True))
    if body.texts is not None and body.documents is None:  # llama.cpp answers TEI's shape then
        return [TEIRank(index=i, score=s, text=documents[i] if body.return_text else None) for i, s in pairs]
    return RerankingResponse(
        model=model, usage=usage(result), results=[RankedDocument(index=i, relevance_score=s) for i, s in pairs]
    )


for _path in ("/reranking", "/v1/reranking"):
    router.post(
        _path,
        response_model=RerankingResponse | list[TEIRank],
        response_model_exclude_none=True,
        dependencies=[Depends(authorize)],
        responses=error_responses(LlamaCppError),
        summary="Rerank documents for a query (llama.cpp server)",
    )(_rerank)
