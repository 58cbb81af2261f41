"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.api.deps import ViewDep
from services.api.models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(view: ViewDep) -> JSONResponse:
    st = await view.status()
    ready = st["broker_reachable"] and st["caught_up"]
    body = Health(status="ready" if ready else "not ready", detail=st)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
