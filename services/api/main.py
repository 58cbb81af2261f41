"""FastAPI application factory (``trustream api`` serves it with uvicorn)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services import metrics
from services.api.routes import accounts, health, pods
from services.api.view import ScoresView
from services.settings import Settings, get_settings


def create_api(settings: Settings | None = None, view: ScoresView | None = None) -> FastAPI:
    """The API; pass ``view`` to serve a view you feed yourself (tests) instead of the scores topic."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = view is None
        app.state.view = ScoresView(settings) if view is None else view
        app.state.settings = settings
        if own:
            await app.state.view.start()
        try:
            yield
        finally:
            if own:
                await app.state.view.stop()

    app = FastAPI(title="trustream", version="0.1.0", lifespan=lifespan,
                  description="Authenticity scores (0-100) of social media accounts, with the reasons "
                              "behind every flag, computed live from engagement streams.")
    app.include_router(accounts.router)
    app.include_router(pods.router)
    app.include_router(health.router)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def observe_latency(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                              ) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.API_LATENCY.labels(path, request.method, str(response.status_code)).observe(
            time.perf_counter() - t0)
        return response

    return app
