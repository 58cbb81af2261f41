"""Account scores: one account, or a page of accounts (optionally flagged only).

Every record served is the score record merged with the account's active pods (``pod`` flag and the
authenticity it implies, :meth:`services.api.view.ScoresView.account`).
"""

from __future__ import annotations

import bisect
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from schemas.wire import ScoreRecord
from services.api.deps import SettingsDep, ViewDep
from services.api.models import AccountPublic, AccountsPublic, AudiencePublic, DeductionPublic, FlagPublic
from services.api.view import ScoresView

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


AlertBelow = Annotated[int | None, Query(ge=1, le=100, description=(
    "alert threshold: an account alerts when its authenticity is below it (default TRUSTREAM_ALERT_BELOW); "
    "eval/REPORT.md gives precision and recall at each threshold"))]


def to_public(rec: ScoreRecord, pods: list[str], alert_below: int) -> AccountPublic:
    return AccountPublic(
        account_id=rec.account_id, authenticity=rec.authenticity, alert=rec.authenticity < alert_below,
        alert_below=alert_below, deductions=[DeductionPublic(**d.model_dump()) for d in rec.deductions],
        flagged=bool(rec.flags),
        flags=[FlagPublic(**f.model_dump()) for f in rec.flags], counts=rec.counts,
        followers=rec.followers, updated_at=rec.updated_at, pods=pods,
        audience=AudiencePublic(**rec.audience.model_dump()) if rec.audience is not None else None)


def merged(view: ScoresView, account_id: str, alert_below: int) -> AccountPublic | None:
    rec = view.account(account_id)
    if rec is None:
        return None
    return to_public(rec, sorted(view.pods_of.get(account_id, ())), alert_below)


@router.get("/{account_id}", response_model=AccountPublic)
def read_account(account_id: str, view: ViewDep, settings: SettingsDep, alert_below: AlertBelow = None
                 ) -> AccountPublic:
    acct = merged(view, account_id, alert_below or settings.alert_below)
    if acct is None:
        pods = sorted(view.pods_of.get(account_id, ()))
        also = f"; it is a member of pod(s) {', '.join(pods)}" if pods else ""
        raise HTTPException(status_code=404, detail=f"no score for account {account_id!r} (not seen yet){also}")
    return acct


@router.get("", response_model=AccountsPublic)
def list_accounts(view: ViewDep, settings: SettingsDep,
                  flagged: Annotated[bool | None, Query(description="only flagged (true) or unflagged")] = None,
                  limit: Annotated[int, Query(ge=1, description="page size (capped by TRUSTREAM_API_PAGE_MAX)")] = 50,
                  cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
                  alert_below: AlertBelow = None,
                  alerting: Annotated[bool, Query(description="only accounts that alert at alert_below")] = False,
                  ) -> AccountsPublic:
    limit = min(limit, settings.api_page_max)
    below = alert_below or settings.alert_below
    if alerting:
        # an alerting account lost points (view.scored_below): only those are read, in account order
        def alerts(key: str) -> bool:
            rec = view.account(key)
            return rec is not None and rec.authenticity < below and (flagged is None or bool(rec.flags) == flagged)

        candidates = view.scored_below
        matching = [k for k in candidates if alerts(k)]
        start = bisect.bisect_right(matching, cursor) if cursor is not None else 0
        ids = matching[start : start + limit + 1]
        more = len(ids) > limit
        ids = ids[:limit]
        data = [a for a in (merged(view, k, below) for k in ids) if a is not None]
        return AccountsPublic(data=data, count=len(data), total=len(matching),
                              next_cursor=ids[-1] if more and ids else None)
    # view.flagged holds the accounts with a score record whose merged record (pods included) has a flag
    if flagged:
        keys = view.flagged
        total = len(keys)
        start = keys.bisect_right(cursor) if cursor is not None else 0
        ids = list(keys.islice(start, start + limit + 1))
    else:
        accounts = view.accounts
        start = accounts.bisect_right(cursor) if cursor is not None else 0
        ids = []
        idx = start
        keys = accounts.keys()
        # unflagged=false filter walks forward until the page is full
        while idx < len(keys) and len(ids) <= limit:
            key = keys[idx]
            if flagged is None or key not in view.flagged:
                ids.append(key)
            idx += 1
        total = len(accounts) if flagged is None else len(accounts) - len(view.flagged)
    more = len(ids) > limit
    ids = ids[:limit]
    data = [a for a in (merged(view, k, below) for k in ids) if a is not None]
    return AccountsPublic(data=data, count=len(data), total=total,
                          next_cursor=ids[-1] if more and ids else None)
