"""What several API families share: usage counts, error bodies for OpenAPI, the body's texts.

Usage reports the tokens the model saw and, where the server says so, how many inputs it did
not see in full (`truncated`: cut at the model's limit under the truncate policies); the same
count goes out in the `X-Truncated-Inputs` response header, for APIs whose bodies have no place
for it.

Example:
    >>> sorted(error_responses(MessageError, 400, 404))
    [400, 404]
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel, Field

from encoder_triton.contract import LongInputs

#: Statuses every model-calling route can answer besides 200 (and 401 once keys are set).
MODEL_ERRORS = (400, 401, 404, 413, 422, 429, 502, 503, 504)
#: The response header that counts the inputs the model did not see in full.
TRUNCATED_HEADER = "X-Truncated-Inputs"


def long_inputs_field() -> Any:
    """The request field that picks this request's long-input policy, alike in every family."""
    return Field(
        default=None,
        description="Texts over the model's token limit: truncate (keep the start), truncate_left (keep the "
        "end), error (refuse), chunk (embed overlapping windows and pool them). Default: the model's policy.",
    )


#: The type of that field.
LongInputsChoice = LongInputs | None


class Usage(BaseModel):
    prompt_tokens: int = 0
    total_tokens: int = 0
    truncated: int | None = Field(default=None, description="Inputs the model did not see in full.")


def usage(result: Any, response: Response | None = None) -> Usage:
    """Tokens the model saw, when the server reports them (0 otherwise), and the truncations;
    with `response`, the truncations go into its `X-Truncated-Inputs` header too."""
    tokens = int(getattr(result, "prompt_tokens", None) or 0)
    return Usage(prompt_tokens=tokens, total_tokens=tokens, truncated=report_truncation(result, response))


def report_truncation(result: Any, response: Response | None) -> int | None:
    """The inputs of `result` the model did not see in full (None: not reported), also set as
    `response`'s `X-Truncated-Inputs` header."""
    truncated = getattr(result, "truncated", None)
    if truncated is not None and response is not None:
        response.headers[TRUNCATED_HEADER] = str(truncated)
    return None if truncated is None else int(truncated)


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
