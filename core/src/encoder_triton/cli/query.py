"""`encoder-triton embed | classify | rerank`: one request to a running server, printed readably.

They go through the typed client (`encoder_triton.client`), as an application would.

Example:
    $ encoder-triton embed "A man is eating food." "A man eats." --model minilm
"""

from __future__ import annotations

from typing import Annotated

import typer

from encoder_triton.cli._console import fail
from encoder_triton.cli._options import TRITON_GRPC

QUERY = "Query"
SERVER = "Server"
#: The help panels of every query command, in the order they show.
PANELS = (QUERY, SERVER)

UrlOption = Annotated[str, typer.Option(help="Triton host:port.", rich_help_panel=SERVER)]
ProtocolOption = Annotated[str, typer.Option(help="grpc or http.", rich_help_panel=SERVER)]


def embed(
    texts: Annotated[list[str], typer.Argument(help="Texts to embed.")],
    model: Annotated[str, typer.Option(help="Served model name.", rich_help_panel=QUERY)] = "minilm",
    url: UrlOption = TRITON_GRPC,
    protocol: ProtocolOption = "grpc",
) -> None:
    """Embed TEXTS on a running server and print each vector's head and the cosine similarities.

    Example: encoder-triton embed "A man is eating food." "A man eats." --model minilm
    """
    import numpy as np

    from encoder_triton.client import EncoderClient, EncoderError

    try:
        with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
            vectors = client.embed(texts, model=model).vectors
    except EncoderError as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from exc
    typer.echo(f"{len(texts)} embeddings of dimension {vectors.shape[1]} from {model} at {url}")
    for text, vector in zip(texts, vectors, strict=True):
        head = " ".join(f"{v:+.4f}" for v in vector[:4])
        typer.echo(f"  [{head} ...] |v|={np.linalg.norm(vector):.4f}  {text[:60]!r}")
    if len(texts) > 1:
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        typer.echo("cosine similarity:")
        for i, row in enumerate(unit @ unit.T):
            typer.echo(f"  {i}: " + " ".join(f"{v:.3f}" for v in row))


def classify(
    texts: Annotated[list[str], typer.Argument(help="Texts to classify.")],
    model: Annotated[str, typer.Option(help="Served classifier name.", rich_help_panel=QUERY)] = "classifier",
    top_k: Annotated[int, typer.Option(help="Labels to show per text.", rich_help_panel=QUERY)] = 3,
    url: UrlOption = TRITON_GRPC,
    protocol: ProtocolOption = "grpc",
) -> None:
    """Classify TEXTS on a running server and print the top labels of each.

    Example: encoder-triton classify "Shares fell 5% on Monday." --model bbc_news
    """
    from encoder_triton.client import EncoderClient, EncoderError

    try:
        with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
            result = client.classify(texts, model=model, top_k=top_k)
    except EncoderError as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from exc
    for text, labels, scores in zip(texts, result.top_labels, result.top_scores, strict=True):
        ranked = "  ".join(f"{label} {score:.3f}" for label, score in zip(labels, scores, strict=True))
        typer.echo(f"{ranked}  {text[:60]!r}")


def rerank(
    query: Annotated[str, typer.Argument(help="The query.")],
    documents: Annotated[list[str], typer.Argument(help="Documents to rank against the query.")],
    model: Annotated[str, typer.Option(help="Served reranker name.", rich_help_panel=QUERY)] = "reranker",
    top_k: Annotated[int | None, typer.Option(help="Keep the best K documents.", rich_help_panel=QUERY)] = None,
    url: UrlOption = TRITON_GRPC,
    protocol: ProtocolOption = "grpc",
) -> None:
    """Rank DOCUMENTS by relevance to QUERY on a running server, best first.

    Example: encoder-triton rerank "what is triton" "Triton serves models." "Cats sleep." --model reranker
    """
    from encoder_triton.client import EncoderClient, EncoderError

    try:
        with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
            result = client.rerank(query, documents, model=model, top_k=top_k, return_documents=True)
    except EncoderError as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from exc
    assert result.documents is not None
    for rank, (index, score, document) in enumerate(zip(result.indices, result.scores, result.documents, strict=True)):
        typer.echo(f"{rank + 1:>3}. {score:.4f}  [{index}] {document[:70]!r}")
