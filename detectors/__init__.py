"""Detectors of fake engagement: per-account state in numpy arrays, updated by numba kernels.

The contract (see :class:`detectors.base.Detector`): a detector owns a block of per-account columns
in an :class:`~detectors.state.AccountTable` and updates it from whole batches of events in order,
in event time, never on the wall clock. It reports flags with reasons a brand can read and the
evidence behind them; the authenticity score is computed above the detectors
(:mod:`detectors.scoring`). Kernels (:mod:`detectors.kernels`) take arrays and scalars only.
:class:`~detectors.core.PartitionCore` runs the batch step used by both the Faust worker and replay.
"""

from detectors.base import Detector, EventColumns, ProfileColumns
from detectors.core import CoreParams, PartitionCore, StepResult
from detectors.engagement import EngagementRate, RateParams

__all__ = ["CoreParams", "Detector", "EngagementRate", "EventColumns", "PartitionCore", "ProfileColumns",
           "RateParams", "StepResult"]
