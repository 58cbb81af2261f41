"""The authenticity score (0-100) from flags, with documented weights.

Every point lost is traceable: ``authenticity = 100 - sum(WEIGHTS[flag.kind] * flag.score) - audience points``
(the points a creator's audience costs, each with its reason: :mod:`detectors.audience`), rounded and clipped
to [0, 100]. The weights are provisional until the eval harness calibrates them.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.wire import FlagRecord

#: Points a flag of score 1.0 removes from 100.
WEIGHTS: dict[str, float] = {
    "engagement_spike": 40.0,
    "follower_spike": 40.0,
    "pod": 50.0,
    "bot": 60.0,
    "purchased_engagement": 50.0,
    "purchased_followers": 50.0,
}


def authenticity(flags: Sequence[FlagRecord], audience_points: int = 0) -> int:
    """100 minus the flags' weighted scores and the points the audience costs (see detectors.audience)."""
    lost = sum(WEIGHTS[f.kind] * f.score for f in flags) + audience_points
    return max(0, min(100, round(100.0 - lost)))
