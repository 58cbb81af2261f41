"""Numba compilation options, set once for every kernel in :mod:`detectors.kernels`."""

from __future__ import annotations

import os
from typing import Any

#: Options passed to every ``@njit``. ``cache`` keeps compiled kernels on disk between runs;
#: ``fastmath`` stays off so kernels match their pure-Python references bit for bit.
NJIT_OPTIONS: dict[str, Any] = {
    "cache": os.environ.get("TRUSTREAM_NUMBA_CACHE", "1") != "0",
    "nogil": True,
    "fastmath": False,
    "error_model": "numpy",
}
