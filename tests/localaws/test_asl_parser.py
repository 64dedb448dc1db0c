"""moto 5.2.5's ASL grammar refuses the integer ToleratedFailurePercentage AWS requires; the adaptation fixes it."""

from __future__ import annotations

import json

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

from localaws.patches.asl_parser import integer_tolerated_failure_percentage

DEFINITION = json.dumps(
    {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ToleratedFailurePercentage": 100,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }
)


def test_moto_alone_refuses_an_integer_tolerated_failure_percentage() -> None:
    with pytest.raises(ASLParserException, match="ToleratedFailurePercentage"):
        AmazonStateLanguageParser.parse(DEFINITION)


def test_with_the_adaptation_moto_parses_it_and_the_undo_restores_moto() -> None:
    undo = integer_tolerated_failure_percentage()
    try:
        AmazonStateLanguageParser.parse(DEFINITION)
    finally:
        undo()
    with pytest.raises(ASLParserException):
        AmazonStateLanguageParser.parse(DEFINITION)
