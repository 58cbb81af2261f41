"""A small deterministic world for integration tests, built from the demo's generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from services.demo import SLOT_S, fraud_profiles, make_creators, slot_events

T0 = 1_700_000_000.0 // SLOT_S * SLOT_S


def world(creators: int = 10, history_h: float = 8.0, live_h: float = 1.5, seed: int = 3
          ) -> list[list[dict[str, Any]]]:
    """Batches (one per target and 10-minute slot) in event-time order; the two fraud accounts of the
    demo buy likes and follows 5 minutes after ``history_h``."""
    rng = np.random.default_rng(seed)
    pop = make_creators(rng, creators)
    live = T0 + history_h * 3600
    out = []
    t = T0
    while t < live + live_h * 3600:
        out.extend(evs for _, evs in slot_events(rng, pop, t, live))
        t += SLOT_S
    return out


def profiles(creators: int = 10, seed: int = 3) -> list[dict[str, Any]]:
    pop = make_creators(np.random.default_rng(seed), creators)
    return [{"account_id": c.account_id, "ts": T0, "followers": c.followers, "following": 100, "posts": 10}
            for c in pop] + fraud_profiles(T0)
