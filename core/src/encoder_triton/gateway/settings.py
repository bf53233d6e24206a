"""The gateway's settings: from flags, `ENCODER_TRITON_*` environment variables and a `.env` file.

Precedence, highest first: a flag given on the command line (passed as a keyword), an
environment variable, a line of `.env` in the working directory, the default here. Each field
`name` reads `ENCODER_TRITON_<NAME>`; lists take commas (`ENCODER_TRITON_API_KEYS=a,b`).

Example:
    >>> GatewaySettings(triton_url="127.0.0.1:8001", _env_file=None).protocol
    'grpc'
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from encoder_triton.gateway import defaults

#: Every setting of every command reads an environment variable with this prefix.
ENV_PREFIX = "ENCODER_TRITON_"
#: The dotenv file read from the working directory (environment variables win over it).
ENV_FILE = ".env"

Engine = Literal["triton", "local"]


def split_commas(value: Any) -> Any:
    """`a,b` (an environment variable) as a list; lists and tuples pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class EnvSettings(BaseSettings):
    """Base of the commands' settings: `ENCODER_TRITON_*` variables and `.env`, frozen."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore", frozen=True
    )


class GatewaySettings(EnvSettings):
    """What the gateway talks to, what it accepts, and where it listens."""

    engine: Engine = Field(
        default=defaults.ENGINE, description="triton: a running Triton; local: the repository in process"
    )
    triton_url: str = defaults.TRITON_URL  # Triton host:port (engine triton)
    protocol: Literal["grpc", "http"] = defaults.PROTOCOL
    repo: Path | None = Field(default=None, description="The model repository (engine local; tokenizers for /tokenize)")
    models: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Serve only these models (engine local)"
    )
    host: str = defaults.HOST
    port: int = defaults.PORT
    api_keys: Annotated[frozenset[str], NoDecode] = frozenset()
    max_inputs: int = 2048  # OpenAI's own limit per /v1/embeddings request
    max_request_chars: int = 8_000_000
    timeout_s: float = 60.0
    max_concurrency: int = 4
    access_log: bool = True  # One line per request, Apache combined + request id + duration
    batch_window_ms: float = Field(
        default=defaults.BATCH_WINDOW_MS, ge=0, description="Engine local: how long a request waits to share a batch"
    )

    @field_validator("models", "api_keys", mode="before")
    @classmethod
    def _lists_from_commas(cls, value: Any) -> Any:
        return split_commas(value)


def explicit(ctx: Any, names: dict[str, str]) -> dict[str, Any]:
    """The options given on the command line, as settings fields: `names` maps each option's
    parameter name to its field; options left at their defaults are not included, so the
    environment and `.env` can fill them."""
    found = {}
    for param, field_name in names.items():
        source = ctx.get_parameter_source(param)
        if source is not None and source.name == "COMMANDLINE":
            found[field_name] = ctx.params[param]
    return found
