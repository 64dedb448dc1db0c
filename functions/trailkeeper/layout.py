"""The results bucket's layout (the i13-cli branch owns this module; these are the keys issue 15 adds).

  config/suppressions.json   the operator's detection suppressions (detections/suppressions.py documents the
                             format); written by the operator, only read by trailkeeper, never expired
"""

from __future__ import annotations

CONFIG_PREFIX = "config/"
SUPPRESSIONS_KEY = f"{CONFIG_PREFIX}suppressions.json"
