"""The gateway's own probes, for load balancers and Kubernetes: `GET /livez` and `GET /readyz`.

    GET /livez   200 {"status": "alive"} while the process answers and its upstream prober runs
                 (503 once the prober died: restart the process)
    GET /readyz  200 {"status": "ready", "upstreams": [...]} while at least one upstream Triton
                 is up (engine local: while the in-process runtime answers); 503
                 {"status": "unavailable", "upstreams": [...]} otherwise, so traffic goes elsewhere

Each upstream reads `{"address", "up", "since_s", "ejections", "failovers", "in_flight",
"last_error"}`. Neither probe needs an API key, and neither is refused when the gateway is busy.
The classifier servers' `GET /health` answers readiness too, with traffic figures.

Example:
    >>> ReadyResponse(status="ready", upstreams=[]).model_dump()
    {'status': 'ready', 'upstreams': []}
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from encoder_triton.gateway import errors
from encoder_triton.gateway.backend import Backend

router = APIRouter(tags=["Probes"])
error_shape = errors.message_error


class Upstream(BaseModel):
    address: str
    up: bool
    since_s: float
    ejections: int
    failovers: int
    in_flight: int
    last_error: str


class ReadyResponse(BaseModel):
    status: Literal["ready", "unavailable"]
    upstreams: list[Upstream]


class LiveResponse(BaseModel):
    status: Literal["alive", "dead"]


@router.get(
    "/livez",
    response_model=LiveResponse,
    responses={503: {"model": LiveResponse, "description": "the upstream prober stopped"}},
    summary="Liveness of the gateway process",
)
async def livez(request: Request) -> Any:
    backend: Backend = request.app.state.backend
    alive = backend.alive()
    return JSONResponse({"status": "alive" if alive else "dead"}, status_code=200 if alive else 503)


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "no upstream can serve"}},
    summary="Ready while at least one upstream Triton is",
)
async def readyz(request: Request) -> Any:
    backend: Backend = request.app.state.backend
    ready = await backend.ready()
    upstreams = [dataclasses.asdict(status) for status in backend.upstreams()]
    body = {"status": "ready" if ready else "unavailable", "upstreams": upstreams}
    return JSONResponse(body, status_code=200 if ready else 503, headers={} if ready else errors.headers_for(503))
