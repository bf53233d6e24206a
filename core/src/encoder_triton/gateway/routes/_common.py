"""What several API families share: usage counts, error bodies for OpenAPI, the body's texts.

Example:
    >>> sorted(error_responses(MessageError, 400, 404))
    [400, 404]
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

#: Statuses every model-calling route can answer besides 200 (and 401 once keys are set).
MODEL_ERRORS = (400, 401, 404, 413, 422, 429, 502, 503, 504)


class Usage(BaseModel):
    prompt_tokens: int = 0
    total_tokens: int = 0


def usage(result: Any) -> Usage:
    """Tokens the model saw, when the server reports them (0 otherwise)."""
    tokens = int(getattr(result, "prompt_tokens", None) or 0)
    return Usage(prompt_tokens=tokens, total_tokens=tokens)


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorBody


class MessageError(BaseModel):
    message: str


class LlamaCppErrorBody(BaseModel):
    code: int
    message: str
    type: str


class LlamaCppError(BaseModel):
    error: LlamaCppErrorBody


class TEIError(BaseModel):
    error: str
    error_type: str


class DetailError(BaseModel):
    detail: str


def error_responses(model: type[BaseModel], *codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` documenting each error status with the family's error body."""
    return {code: {"model": model, "description": "error"} for code in (codes or MODEL_ERRORS)}
