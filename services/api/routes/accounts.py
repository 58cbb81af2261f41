"""Account scores: one account, or a page of accounts (optionally flagged only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from schemas.wire import ScoreRecord
from services.api.deps import SettingsDep, ViewDep
from services.api.models import AccountPublic, AccountsPublic, FlagPublic

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


def to_public(rec: ScoreRecord) -> AccountPublic:
    return AccountPublic(
        account_id=rec.account_id, authenticity=rec.authenticity, flagged=bool(rec.flags),
        flags=[FlagPublic(**f.model_dump()) for f in rec.flags], counts=rec.counts,
        followers=rec.followers, updated_at=rec.updated_at)


@router.get("/{account_id}", response_model=AccountPublic)
def read_account(account_id: str, view: ViewDep) -> AccountPublic:
    rec = view.accounts.get(account_id)
    if rec is None:
        raise HTTPException(status_code=404, detail=f"no score for account {account_id!r} (not seen yet)")
    return to_public(rec)


@router.get("", response_model=AccountsPublic)
def list_accounts(view: ViewDep, settings: SettingsDep,
                  flagged: Annotated[bool | None, Query(description="only flagged (true) or unflagged")] = None,
                  limit: Annotated[int, Query(ge=1, description="page size (capped by TRUSTREAM_API_PAGE_MAX)")] = 50,
                  cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
                  ) -> AccountsPublic:
    limit = min(limit, settings.api_page_max)
    if flagged:
        keys = view.flagged
        total = len(keys)
        start = keys.bisect_right(cursor) if cursor is not None else 0
        page = list(keys.islice(start, start + limit + 1))
        recs = [view.accounts[k] for k in page]
    else:
        accounts = view.accounts
        start = accounts.bisect_right(cursor) if cursor is not None else 0
        recs = []
        idx = start
        keys = accounts.keys()
        # unflagged=false filter walks forward until the page is full
        while idx < len(keys) and len(recs) <= limit:
            rec = accounts[keys[idx]]
            if flagged is None or bool(rec.flags) == flagged:
                recs.append(rec)
            idx += 1
        total = len(accounts) if flagged is None else len(accounts) - len(view.flagged)
    more = len(recs) > limit
    recs = recs[:limit]
    return AccountsPublic(data=[to_public(r) for r in recs], count=len(recs), total=total,
                          next_cursor=recs[-1].account_id if more and recs else None)
