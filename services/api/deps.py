"""FastAPI dependencies: the settings and the scores view, as typed aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.api.view import ScoresView
from services.settings import Settings


def get_view(request: Request) -> ScoresView:
    view: ScoresView = request.app.state.view
    return view


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ViewDep = Annotated[ScoresView, Depends(get_view)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
