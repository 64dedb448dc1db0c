"""moto 5.2.5 refuses `"ToleratedFailurePercentage": 100`, the integer AWS requires (its ASL grammar only takes a
decimal there, and AWS's ASL language service flags the decimal). One adaptation: moto's parser is handed the
definition with that field as a float; what is deployed, validated and tested stays the integer AWS takes."""

from __future__ import annotations

import json
from typing import Any

from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from localaws.patches import Undo, replace

FIELDS = ("ToleratedFailurePercentage",)


def _as_moto_parses_it(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: float(item) if key in FIELDS and type(item) is int else _as_moto_parses_it(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_as_moto_parses_it(item) for item in value]
    return value


def integer_tolerated_failure_percentage() -> Undo:
    """Replace AmazonStateLanguageParser.parse (both of moto's callers use the class attribute); return the undo."""
    original = AmazonStateLanguageParser.__dict__["parse"]

    def parse(definition: str) -> Any:
        try:
            loaded = json.loads(definition)
        except (TypeError, ValueError):
            return original.__func__(definition)  # not JSON: moto reports its own error
        return original.__func__(json.dumps(_as_moto_parses_it(loaded)))

    return replace(AmazonStateLanguageParser, "parse", staticmethod(parse))
