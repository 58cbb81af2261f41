"""Small formatting helpers shared by the detectors' reasons (text a brand reads)."""

from __future__ import annotations


def duration(s: float) -> str:
    """Seconds as a short human duration: "45 s", "12 min", "3.5 h"."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 5_400:
        return f"{s / 60:.0f} min"
    return f"{s / 3_600:.1f} h"
