"""`encoder-triton serve`'s settings: every flag also from `ENCODER_TRITON_*` and `.env`.

Precedence: a flag on the command line, then the environment, then `.env`, then the default
(the flag's). Each flag `--some-flag` reads `ENCODER_TRITON_SOME_FLAG`; lists take commas
(`ENCODER_TRITON_MODELS=minilm,bbc_news`). Imported by the command only (it needs the extra).

Example:
    >>> ServeSettings(models="a,b", _env_file=None).models
    ('a', 'b')
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import field_validator
from pydantic_settings import NoDecode

from encoder_triton.cli._options import DEFAULT_REPO, GATEWAY_PORT, GRPC_PORT, HTTP_PORT, LOCAL_HOST, METRICS_PORT
from encoder_triton.gateway.settings import Engine, EnvSettings, split_commas
from encoder_triton.server.embedded import CACHE_SIZE_BYTES, STARTUP_TIMEOUT_S


class ServeSettings(EnvSettings):
    """The flags of `encoder-triton serve`, by their names."""

    repo: Path = DEFAULT_REPO
    models: Annotated[tuple[str, ...], NoDecode] = ()
    engine: Engine = "triton"
    cache_size: int = CACHE_SIZE_BYTES
    rate_limit: bool = False
    host: str = LOCAL_HOST
    http_port: int = HTTP_PORT
    grpc_port: int = GRPC_PORT
    metrics_port: int = METRICS_PORT
    gateway: bool = False
    gateway_port: int = GATEWAY_PORT
    api_key: Annotated[tuple[str, ...], NoDecode] = ()
    access_log: bool = True
    startup_timeout: float = STARTUP_TIMEOUT_S
    quiet: bool = False

    @field_validator("models", "api_key", mode="before")
    @classmethod
    def _lists_from_commas(cls, value: Any) -> Any:
        return split_commas(value)
