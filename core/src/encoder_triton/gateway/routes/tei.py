"""text-embeddings-inference's `POST /tokenize`: the model's own tokens, with their offsets.

    {"inputs": "text" | ["text", ...], "add_special_tokens"?: true}
    -> [[{"id", "text", "special", "start", "stop"}, ...], ...]   (one list per input)

`start`/`stop` are byte offsets into the UTF-8 input (null for special tokens), as TEI gives
them. TEI serves one model, so `model` is optional here. It reads the tokenizer from the
repository, so the gateway must know it (`--repo`; `serve --gateway` passes it). Errors answer
`{"error", "error_type"}`.

Example:
    >>> byte_offsets("héllo", [(0, 2), (2, 5)])
    [(0, 3), (3, 6)]
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from encoder_triton.client import InvalidInputError
from encoder_triton.gateway import errors
from encoder_triton.gateway.guards import admitted, authorize
from encoder_triton.gateway.routes._common import TEIError, error_responses

router = APIRouter(tags=["text-embeddings-inference"])
error_shape = errors.tei_error


class TokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputs: str | list[str]
    add_special_tokens: bool = True
    prompt_name: str | None = Field(default=None, description="Not supported: send the prompt in the text.")
    model: str | None = None


class SimpleToken(BaseModel):
    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None


def byte_offsets(text: str, offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character offsets (what the Python tokenizers give) as UTF-8 byte offsets (what TEI gives)."""
    starts = [0]
    for char in text:
        starts.append(starts[-1] + len(char.encode("utf-8")))
    return [(starts[a], starts[b]) for a, b in offsets]


@router.post(
    "/tokenize",
    response_model=list[list[SimpleToken]],
    dependencies=[Depends(authorize)],
    responses=error_responses(TEIError, 400, 401, 404, 413, 422),
    summary="Tokenize inputs (text-embeddings-inference)",
)
async def tokenize(body: TokenizeRequest, request: Request) -> list[list[SimpleToken]]:
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    if not texts:
        raise InvalidInputError("`inputs` cannot be empty")
    if body.prompt_name is not None:
        raise InvalidInputError("prompt_name is not supported: put the prompt in the text itself")
    backend = admitted(request, "/tokenize", texts)
    model = await backend.model_for(body.model, None)
    encodings = backend.tokenizer(model).tokenizer.encodings(texts, add_special_tokens=body.add_special_tokens)
    answer = []
    for text, encoding in zip(texts, encodings, strict=True):
        offsets = byte_offsets(text, list(encoding.offsets))
        data = text.encode("utf-8")
        answer.append(
            [
                SimpleToken(id=i, text=token, special=True, start=None, stop=None)
                if special
                else SimpleToken(id=i, text=data[a:b].decode("utf-8", errors="replace"), special=False, start=a, stop=b)
                for i, token, special, (a, b) in zip(
                    encoding.ids, encoding.tokens, encoding.special_tokens_mask, offsets, strict=True
                )
            ]
        )
    return answer
