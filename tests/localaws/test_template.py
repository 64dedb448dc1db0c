"""localaws.template: template.yaml resolved as CloudFormation + SAM would (on the runtime's fixture template)."""

from __future__ import annotations

from pathlib import Path

import pytest

from localaws.template import TemplateError, load_template, merge_globals, render_definition, resolve_template
from tests.helpers import FIXTURES

FIXTURE = FIXTURES / "runtime" / "template.yaml"


def write_template(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(body)
    return path


def test_short_form_tags_load_as_long_form_and_dates_stay_strings() -> None:
    template = load_template(FIXTURE)

    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert template["Resources"]["EchoFunction"]["Properties"]["Environment"]["Variables"]["DATA_ARN"] == {
        "Fn::GetAtt": ["DataBucket", "Arn"]
    }


def test_parameter_defaults_apply_and_are_strings() -> None:
    stack = resolve_template(FIXTURE)

    assert stack.parameters["Stage"] == "test"
    assert stack.parameters["Retries"] == "2"


def test_globals_function_environment_merges_with_the_function_own_variables() -> None:
    variables = resolve_template(FIXTURE).resources["EchoFunction"].properties["Environment"]["Variables"]

    assert variables["STAGE"] == "test"
    assert variables["DATA_BUCKET"] == "trailkeeper-databucket-123456789012"
    assert variables["DATA_ARN"] == "arn:aws:s3:::trailkeeper-databucket-123456789012"


def test_globals_properties_apply_unless_the_function_overrides_them() -> None:
    properties = resolve_template(FIXTURE).resources["FlakyFunction"].properties

    assert (properties["Runtime"], properties["CodeUri"], properties["Timeout"]) == ("python3.13", "functions/", 30)
    assert properties["Handler"] == "handlers.flaky"


def test_no_value_removes_the_variable_when_the_condition_is_false() -> None:
    variables = resolve_template(FIXTURE).resources["EchoFunction"].properties["Environment"]["Variables"]

    assert "GREETING" not in variables


def test_parameter_override_reaches_conditions_and_resources() -> None:
    stack = resolve_template(FIXTURE, {"Stage": "prod", "Greeting": "hello"})

    assert stack.conditions == {"IsProd": True, "HasGreeting": True, "ProdWithGreeting": True}
    assert stack.resources["ProdOnlyBucket"].physical == "trailkeeper-prod-123456789012"
    variables = stack.resources["EchoFunction"].properties["Environment"]["Variables"]
    assert (variables["STAGE"], variables["GREETING"], variables["PROD_GREETING"]) == ("prod", "hello", "yes")


def test_resource_with_a_false_condition_is_not_created() -> None:
    stack = resolve_template(FIXTURE)

    assert "ProdOnlyBucket" not in stack.resources
    assert "ProdOnlyBucket" not in stack.physical


def test_comma_delimited_list_parameter_feeds_join_and_select() -> None:
    variables = resolve_template(FIXTURE).resources["EchoFunction"].properties["Environment"]["Variables"]

    assert (variables["RECIPIENTS"], variables["FIRST_RECIPIENT"]) == ("a@example.com;b@example.com", "a@example.com")


def test_sub_resolves_pseudo_parameters_and_refs() -> None:
    stack = resolve_template(FIXTURE)

    assert stack.resources["WorkGroup"].physical == "trailkeeper-fixture"
    configuration = stack.resources["WorkGroup"].properties["WorkGroupConfiguration"]
    assert configuration["ResultConfiguration"]["OutputLocation"] == "s3://trailkeeper-databucket-123456789012/athena/"


def test_state_machine_substitutions_resolve_getatt_arns() -> None:
    substitutions = resolve_template(FIXTURE).resources["Machine"].properties["DefinitionSubstitutions"]

    assert substitutions["EchoFunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:trailkeeper-EchoFunction"
    assert substitutions["FlakyFunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:fixture-flaky"
    assert substitutions["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:fixture-topic"


def test_resources_not_created_locally_are_listed_as_skipped_and_still_named() -> None:
    stack = resolve_template(FIXTURE)

    assert stack.skipped == {"TopicPolicy": "AWS::SNS::TopicPolicy", "EchoLogGroup": "AWS::Logs::LogGroup"}
    assert stack.physical["EchoLogGroup"] == "/aws/lambda/trailkeeper-EchoFunction"
    assert "EchoLogGroup" not in stack.resources


def test_allowed_pattern_violation_names_parameter_and_constraint() -> None:
    with pytest.raises(TemplateError, match=r"Parameter 'TrailBucketName' must match pattern .*an S3 bucket name"):
        resolve_template(FIXTURE, {"TrailBucketName": "Not_A_Bucket"})


def test_allowed_values_violation_is_rejected() -> None:
    with pytest.raises(TemplateError, match=r"Parameter 'Stage' must be one of AllowedValues"):
        resolve_template(FIXTURE, {"Stage": "staging"})


@pytest.mark.parametrize(("value", "rule"), [("9", "not greater than 5"), ("-1", "not less than 0"), ("x", "number")])
def test_number_parameter_bounds_are_enforced(value: str, rule: str) -> None:
    with pytest.raises(TemplateError, match=rule):
        resolve_template(FIXTURE, {"Retries": value})


def test_unknown_parameter_is_rejected() -> None:
    with pytest.raises(TemplateError, match=r"\['Nope'\] do not exist"):
        resolve_template(FIXTURE, {"Nope": "1"})


def test_parameter_without_default_must_be_given(tmp_path: Path) -> None:
    path = write_template(tmp_path, "Parameters:\n  Needed: {Type: String}\nResources: {}\n")

    with pytest.raises(TemplateError, match=r"\[Needed\] must have values"):
        resolve_template(path)


def test_ref_to_a_resource_whose_condition_is_false_fails(tmp_path: Path) -> None:
    path = write_template(
        tmp_path,
        """
Conditions:
  Never: !Equals ["a", "b"]
Resources:
  Gone: {Type: AWS::SNS::Topic, Condition: Never}
  Topic:
    Type: AWS::SNS::Topic
    Properties: {DisplayName: !Ref Gone}
""",
    )

    with pytest.raises(TemplateError, match="Gone is referenced but its Condition is false"):
        resolve_template(path)


def test_unknown_getatt_attribute_fails_loudly(tmp_path: Path) -> None:
    path = write_template(
        tmp_path,
        """
Resources:
  Bucket: {Type: AWS::S3::Bucket}
  Topic:
    Type: AWS::SNS::Topic
    Properties: {DisplayName: !GetAtt Bucket.WebsiteURL}
""",
    )

    with pytest.raises(TemplateError, match=r"Fn::GetAtt Bucket.WebsiteURL"):
        resolve_template(path)


def test_merge_globals_merges_maps_appends_lists_and_lets_local_scalars_win() -> None:
    merged = merge_globals(
        {"Timeout": 3, "Layers": ["a"], "Environment": {"Variables": {"X": "1", "Y": "1"}}},
        {"Timeout": 9, "Layers": ["b"], "Environment": {"Variables": {"Y": "2"}}},
    )

    assert merged == {"Timeout": 9, "Layers": ["a", "b"], "Environment": {"Variables": {"X": "1", "Y": "2"}}}


def test_render_definition_fills_substitutions_and_pseudo_parameters() -> None:
    text = '{"Resource": "arn:${AWS::Partition}:states:::lambda:invoke", "F": "${Fn}", "L": "${!Literal}"}'

    rendered = render_definition(text, {"Fn": "arn:fn"})

    assert rendered == '{"Resource": "arn:aws:states:::lambda:invoke", "F": "arn:fn", "L": "${Literal}"}'


def test_render_definition_fails_on_a_placeholder_without_substitution() -> None:
    with pytest.raises(TemplateError, match=r"placeholders without a DefinitionSubstitutions value: \['Missing'\]"):
        render_definition('{"A": "${Missing}"}', {})


def test_render_definition_fails_on_an_unused_substitution() -> None:
    with pytest.raises(TemplateError, match=r"DefinitionSubstitutions never used in the definition: \['Extra'\]"):
        render_definition('{"A": "b"}', {"Extra": "x"})
