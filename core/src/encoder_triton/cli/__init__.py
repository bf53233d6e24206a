"""The `encoder-triton` command: export a model, serve a repository, query it.

One module per concept: `export` (a model in, a Triton ensemble out), `serve` (the embedded
Triton and the HTTP gateway), `query` (embed, classify, rerank against a running server);
`tune` comes from the encoder-triton-bench distribution (`_contributed`). This module only
builds the app.

Example:
    $ encoder-triton export sentence-transformers/all-MiniLM-L6-v2 --name minilm
    $ encoder-triton export cross-encoder/ms-marco-MiniLM-L-6-v2 --name reranker
    $ encoder-triton serve --repo model_repository
    $ encoder-triton embed "hello world" --model minilm
    $ encoder-triton rerank "what is triton" "Triton serves models." "Cats sleep a lot." --model reranker
"""

from __future__ import annotations

import typer

from encoder_triton.cli import export, query, serve
from encoder_triton.cli._contributed import add_contributed_commands

app = typer.Typer(
    help="Serve Hugging Face encoders (embedders, rerankers, classifiers) on NVIDIA Triton.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command(rich_help_panel="Export")(export.export)
app.command(rich_help_panel="Serve")(serve.serve)
app.command(rich_help_panel="Serve")(serve.gateway)
app.command(rich_help_panel="Query")(query.embed)
app.command(rich_help_panel="Query")(query.classify)
app.command(rich_help_panel="Query")(query.rerank)
add_contributed_commands(app, panel="Tune")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
