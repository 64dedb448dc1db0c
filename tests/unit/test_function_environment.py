"""No deploy can exceed Lambda's 4 KB cap on a function's environment variables (moto does not check it).

The worst case is computed from template.yaml itself: Globals merged with each function's own variables,
every parameter at the longest value its constraints admit (MaxLength, AllowedValues, MaxValue), every
resource name at the longest AWS allows. A String parameter that reaches an environment without a MaxLength
is unbounded, so the test fails: the class of bug, not one variable.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import template

LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4_096  # "4 KB, for all environment variables ... in aggregate" (docs/aws-facts.md)
STACK_NAME_MAX = 128  # CloudFormation stack names
# The longest name each referenced resource can have: S3 bucket names <= 63; the WorkGroup is the stack name.
RESOURCE_NAME_MAX = {"AWS::S3::Bucket": 63, "AWS::Athena::WorkGroup": STACK_NAME_MAX}
TEMPLATE = template()
FUNCTIONS = sorted(lid for lid, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function")


def longest(value: Any) -> str | None:
    """The longest text `value` can become in a deployed stack (None: the variable is removed)."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    ((function, argument),) = value.items()
    if function == "Ref":
        return longest_ref(argument)
    if function == "Fn::If":
        branches = [longest(branch) for branch in argument[1:]]
        present = [b for b in branches if b is not None]
        return max(present, key=len) if present else None
    if function == "Fn::Join":
        separator, items = argument
        return separator.join(longest(item) or "" for item in items)
    raise AssertionError(f"cannot bound {function} in an environment variable")


def longest_ref(name: str) -> str | None:
    if name == "AWS::NoValue":
        return None
    if name == "AWS::StackName":
        return "x" * STACK_NAME_MAX
    parameters = TEMPLATE["Parameters"]
    if name in parameters:
        spec = parameters[name]
        if "AllowedValues" in spec:
            return max((str(v) for v in spec["AllowedValues"]), key=len)
        if spec["Type"] == "Number":
            assert "MaxValue" in spec, f"Number parameter {name} reaches an environment without a MaxValue"
            return str(spec["MaxValue"])
        assert spec["Type"] == "String", f"{name}: a {spec['Type']} parameter has no MaxLength in CloudFormation"
        assert "MaxLength" in spec, f"String parameter {name} reaches an environment without a MaxLength"
        return "x" * int(spec["MaxLength"])
    kind = TEMPLATE["Resources"][name]["Type"]
    return "x" * RESOURCE_NAME_MAX[kind]


def worst_case_environment(function: str) -> dict[str, str]:
    variables = {
        **TEMPLATE["Globals"]["Function"]["Environment"]["Variables"],
        **TEMPLATE["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    bounded = {name: longest(value) for name, value in variables.items()}
    return {name: value for name, value in bounded.items() if value is not None}


def environment_bytes(variables: dict[str, str]) -> int:
    """Measured as the JSON of the Variables map, which is more than the names and values alone."""
    return len(json.dumps(variables).encode())


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_worst_case_environment_of_each_function_fits_lambdas_4_kb(function: str) -> None:
    size = environment_bytes(worst_case_environment(function))
    assert size <= LAMBDA_ENVIRONMENT_LIMIT_BYTES, (function, size)


def test_the_bound_follows_the_parameters_it_is_computed_from() -> None:
    """A longer allow-list than the template admits would break the largest environment: the bound is tight."""
    worst = max(FUNCTIONS, key=lambda f: environment_bytes(worst_case_environment(f)))
    variables = worst_case_environment(worst)
    spare = LAMBDA_ENVIRONMENT_LIMIT_BYTES - environment_bytes(variables)
    variables["ACCOUNT_ALLOWLIST"] += "x" * (spare + 1)
    assert environment_bytes(variables) > LAMBDA_ENVIRONMENT_LIMIT_BYTES


def test_the_account_allow_list_admits_at_least_a_hundred_accounts() -> None:
    spec = TEMPLATE["Parameters"]["AccountAllowList"]
    assert int(spec["MaxLength"]) >= 100 * 13 - 1
