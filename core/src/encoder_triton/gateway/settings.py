"""The gateway's settings: from flags, `ENCODER_TRITON_*` environment variables and a `.env` file.

Precedence, highest first: a flag given on the command line (passed as a keyword), an
environment variable, a line of `.env` in the working directory, the default (`defaults`). Each
field `name` reads `ENCODER_TRITON_<NAME>`; lists take commas or a JSON array
(`ENCODER_TRITON_API_KEYS=a,b`). `triton_url` names one Triton or several, and the gateway fails
over between them (`ENCODER_TRITON_TRITON_URL=triton-a:8001,triton-b:8001`).

Example:
    >>> GatewaySettings(triton_url="a:8001, b:8001", _env_file=None).upstreams
    ('a:8001', 'b:8001')
"""

from __future__ import annotations

import json
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
    """`a,b` or `["a", "b"]` (an environment variable) as a list; lists and tuples pass through."""
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            return [str(part).strip() for part in json.loads(value) if str(part).strip()]
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
    triton_url: str = Field(
        default=defaults.TRITON_URL,
        description="Triton host:port (engine triton); several, comma-separated, fail over between them",
    )
    protocol: Literal["grpc", "http"] = defaults.PROTOCOL
    repo: Path | None = Field(default=None, description="The model repository (engine local; tokenizers for /tokenize)")
    models: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Serve only these models (engine local)"
    )
    host: str = defaults.HOST
    port: int = defaults.PORT
    api_keys: Annotated[frozenset[str], NoDecode] = frozenset()
    # What one request may carry (413 beyond).
    max_inputs: int = Field(default=defaults.MAX_INPUTS, ge=1, description="Texts per request")
    max_request_chars: int = Field(default=defaults.MAX_REQUEST_CHARS, ge=1, description="Characters per request")
    max_text_chars: int = Field(default=defaults.MAX_TEXT_CHARS, ge=1, description="Characters per text")
    max_body_bytes: int = Field(
        default=defaults.MAX_BODY_BYTES, ge=1, description="Request body bytes, refused before parsing"
    )
    # Time and concurrency.
    timeout_s: float = Field(default=defaults.TIMEOUT_S, gt=0, description="Seconds per call to Triton (504 after)")
    max_concurrency: int = Field(
        default=defaults.MAX_CONCURRENCY, ge=1, description="Calls to Triton in flight per gateway request"
    )
    max_in_flight: int = Field(
        default=defaults.MAX_IN_FLIGHT, ge=0, description="Model requests worked on at once (429 beyond; 0: no limit)"
    )
    max_connections: int = Field(
        default=defaults.MAX_CONNECTIONS, ge=0, description="Open connections (503 beyond; 0: no limit)"
    )
    keep_alive_s: float = Field(default=defaults.KEEP_ALIVE_S, gt=0, description="Idle keep-alive seconds")
    header_timeout_s: float = Field(
        default=defaults.HEADER_TIMEOUT_S, gt=0, description="Seconds to send a request's head (then closed)"
    )
    body_timeout_s: float = Field(
        default=defaults.BODY_TIMEOUT_S, gt=0, description="Seconds to send a request's body (408 after)"
    )
    # Upstreams (engine triton).
    probe_interval_s: float = Field(
        default=defaults.PROBE_INTERVAL_S, gt=0, description="Seconds between health probes of each upstream"
    )
    probe_timeout_s: float = Field(
        default=defaults.PROBE_TIMEOUT_S, gt=0, description="Seconds a health probe may take"
    )
    access_log: bool = True  # One line per request, Apache combined + request id + duration
    batch_window_ms: float = Field(
        default=defaults.BATCH_WINDOW_MS, ge=0, description="Engine local: how long a request waits to share a batch"
    )

    @field_validator("models", "api_keys", mode="before")
    @classmethod
    def _lists_from_commas(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("triton_url", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        """One address, several (a list, commas or a JSON array), kept as `a,b`."""
        addresses = split_commas(value)
        if isinstance(addresses, (list, tuple)):
            if not addresses:
                raise ValueError("name at least one Triton host:port")
            return ",".join(addresses)
        return addresses

    @property
    def upstreams(self) -> tuple[str, ...]:
        """The Triton addresses (`host:port`) the gateway fails over between, in order."""
        return tuple(split_commas(self.triton_url))


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
