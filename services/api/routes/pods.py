"""Engagement pods: one pod (active or retired), or a page of pods."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from schemas.wire import PodRecord
from services.api.deps import SettingsDep, ViewDep
from services.api.models import PodMemberPublic, PodPublic, PodsPublic

router = APIRouter(prefix="/v1/pods", tags=["pods"])


def to_public(pod: PodRecord) -> PodPublic:
    return PodPublic(
        pod_id=pod.pod_id, active=pod.active, superseded_by=list(pod.superseded_by), members=list(pod.members),
        score=pod.score, first_ts=pod.first_ts, last_ts=pod.last_ts, reciprocal_pairs=pod.reciprocal_pairs,
        directed_pairs=pod.directed_pairs, early_engagements=pod.early_engagements,
        median_delay_s=pod.median_delay_s if math.isfinite(pod.median_delay_s) else None, posts=list(pod.posts),
        member_stats=[PodMemberPublic(**m.model_dump()) for m in pod.member_stats], reasons=list(pod.reasons))


@router.get("/{pod_id}", response_model=PodPublic)
def read_pod(pod_id: str, view: ViewDep) -> PodPublic:
    pod = view.pods.get(pod_id)
    if pod is None:
        raise HTTPException(status_code=404, detail=f"no pod {pod_id!r} (unknown id, or not read yet)")
    return to_public(pod)


@router.get("", response_model=PodsPublic)
def list_pods(view: ViewDep, settings: SettingsDep,
              active: Annotated[bool, Query(description="active pods (default), or retired ones (false)")] = True,
              limit: Annotated[int, Query(ge=1, description="page size (capped by TRUSTREAM_API_PAGE_MAX)")] = 50,
              cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
              ) -> PodsPublic:
    limit = min(limit, settings.api_page_max)
    keys = view.active_pods if active else view.retired_pods
    start = keys.bisect_right(cursor) if cursor is not None else 0
    page = list(keys.islice(start, start + limit + 1))
    more = len(page) > limit
    page = page[:limit]
    return PodsPublic(data=[to_public(view.pods[k]) for k in page], count=len(page), total=len(keys),
                      next_cursor=page[-1] if more and page else None)
