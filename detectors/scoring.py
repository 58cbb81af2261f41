"""The authenticity score (0-100): what every flag and the audience cost, each point traceable to a reason code.

``authenticity = max(0, 100 - sum(points))`` over the account's *deductions*: one per flag, ``round(WEIGHTS[kind]
* flag.score)`` points under the reason code ``kind`` (the flag's first reason says why), and one for the audience,
its points (:mod:`detectors.audience`: up to 40 for suspicious engagers and 30 for suspicious followers) under the
code ``audience``. Deductions of 0 points are left out, so the deductions listed always add up to what was lost
(capped at 100).

The weights (points at flag score 1.0; a flag scores 0.5 at its detector's threshold):

- ``bot`` 90: an automated account; engagement from it is worth nothing to a brand;
- ``pod`` 85, ``purchased_engagement`` 85 and ``purchased_followers`` 85: a creator's numbers are inflated by
  design. A flag at its detector's threshold (score 0.5) costs 42 points, so any creator-side flag takes a creator
  below the default alert threshold of 60; a confident one (score 1.0) takes it to 15, two to 0. A creator whose
  audience is mostly fake loses up to the audience's 70 even without a flag.

They are calibrated by ``make eval``: the report's "Authenticity" section gives, for each alert threshold
(alert when authenticity is below it), the precision and recall over creators, pooled over the scenarios; the
default alert threshold (``TRUSTREAM_ALERT_BELOW``, 60) alerts on every flagged creator and on audiences that are
mostly fake.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.wire import Audience, Deduction, FlagRecord

#: Points a flag of score 1.0 removes from 100.
WEIGHTS: dict[str, float] = {
    "engagement_spike": 0.0,  # evidence of the purchase flags, never scored
    "follower_spike": 0.0,
    "pod": 85.0,
    "bot": 90.0,
    "purchased_engagement": 85.0,
    "purchased_followers": 85.0,
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
