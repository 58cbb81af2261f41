"""The authenticity score (0-100): what every flag and the audience cost, each point traceable to a reason code.

``authenticity = max(0, 100 - sum(points))`` over the account's *deductions*: one per flag, ``round(WEIGHTS[kind]
* flag.score)`` points under the reason code ``kind`` (the flag's first reason says why), and one for the audience,
its points (:mod:`detectors.audience`: up to 40 for suspicious engagers and 30 for suspicious followers) under the
code ``audience``. Deductions of 0 points are left out, so the deductions listed always add up to what was lost
(capped at 100).

The weights (points at flag score 1.0; a flag scores 0.5 at its detector's threshold):

- ``bot`` 60: an automated account; engagement from it is worth nothing to a brand;
- ``pod`` 45, ``purchased_engagement`` 45 and ``purchased_followers`` 45: a creator's numbers are inflated by
  design. One confident creator-side flag takes a creator to 55, two to 10; a flag at its threshold costs 23.
  A creator whose whole audience is fake loses the audience's 70 on top.

They are calibrated by ``make eval``: the report's "Authenticity" section gives, for each alert threshold
(alert when authenticity is below it), the precision and recall over creators, pooled over the scenarios; the
default alert threshold (``TRUSTREAM_ALERT_BELOW``, 60) is where recall is complete and no organic creator of
the standard suite falls below it.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.wire import Audience, Deduction, FlagRecord

#: Points a flag of score 1.0 removes from 100.
WEIGHTS: dict[str, float] = {
    "engagement_spike": 0.0,  # evidence of the purchase flags, never scored
    "follower_spike": 0.0,
    "pod": 45.0,
    "bot": 60.0,
    "purchased_engagement": 45.0,
    "purchased_followers": 45.0,
}
#: Reason code of the audience's deduction.
AUDIENCE = "audience"


def deductions(flags: Sequence[FlagRecord], audience: Audience | None = None) -> list[Deduction]:
    """The points each flag and the audience cost, in the order given (audience last)."""
    out = [Deduction(code=f.kind, points=round(WEIGHTS[f.kind] * f.score), reason=f.reasons[0] if f.reasons else "")
           for f in flags]
    if audience is not None and audience.points:
        out.append(Deduction(code=AUDIENCE, points=audience.points, reason="; ".join(audience.reasons)))
    return [d for d in out if d.points > 0]


def authenticity_of(lost: Sequence[Deduction]) -> int:
    return max(0, 100 - sum(d.points for d in lost))


def authenticity(flags: Sequence[FlagRecord], audience_points: int = 0) -> int:
    """100 minus the flags' points and the points the audience costs (see the module doc)."""
    return max(0, 100 - sum(round(WEIGHTS[f.kind] * f.score) for f in flags) - audience_points)
