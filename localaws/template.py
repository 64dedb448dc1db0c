"""template.yaml resolved the way CloudFormation (+ the SAM transform) would, for the embedded runtime.

`resolve_template(path, parameters)` loads the SAM template (short-form tags included), merges `Globals`, validates
the parameters like CloudFormation (AllowedPattern, AllowedValues, Min/MaxLength, Min/MaxValue), evaluates
`Conditions` and resolves the intrinsic functions in the properties of the resources the runtime creates.
Everything else is listed in `Stack.skipped` and only named (Ref / GetAtt give deterministic, placeholder-free
strings) when something refers to it.

The account is 123456789012, the region us-east-1 and the stack name "trailkeeper", as everywhere in localaws.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STACK_NAME = "trailkeeper"
_STACK_UUID = "00000000-0000-4000-8000-000000000000"
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Region": REGION,
    "AWS::Partition": PARTITION,
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/{_STACK_UUID}",
    "AWS::URLSuffix": "amazonaws.com",
}

# The resource types the runtime creates; their properties are resolved. Every other type is skipped.
CREATED_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::Glue::Database",
        "AWS::Glue::Table",
        "AWS::Athena::WorkGroup",
        "AWS::SNS::Topic",
        "AWS::SES::EmailIdentity",
        "AWS::Serverless::Function",
        "AWS::Serverless::StateMachine",
        "AWS::StepFunctions::StateMachine",
    }
)

# SAM Globals section -> the resource type it applies to.
_GLOBALS = {"Function": "AWS::Serverless::Function", "StateMachine": "AWS::Serverless::StateMachine"}

# Where each type keeps the name its Ref is built from; without it CloudFormation generates one (see _default_name).
_NAME_PATHS: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::Glue::Database": ("DatabaseInput", "Name"),
    "AWS::Glue::Table": ("TableInput", "Name"),
    "AWS::Athena::WorkGroup": ("Name",),
    "AWS::SNS::Topic": ("TopicName",),
    "AWS::SES::EmailIdentity": ("EmailIdentity",),
    "AWS::Serverless::Function": ("FunctionName",),
    "AWS::Lambda::Function": ("FunctionName",),
    "AWS::Serverless::StateMachine": ("Name",),
    "AWS::StepFunctions::StateMachine": ("StateMachineName",),
    "AWS::IAM::Role": ("RoleName",),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::CloudWatch::Alarm": ("AlarmName",),
    "AWS::SQS::Queue": ("QueueName",),
    "AWS::Scheduler::Schedule": ("Name",),
}


class TemplateError(ValueError):
    """The template (or a parameter value) is something CloudFormation would reject, or localaws cannot resolve."""


class _NoValue:
    """AWS::NoValue: the property or list element it stands for is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]  # resolved (Globals merged, intrinsics evaluated, AWS::NoValue removed)
    physical: str  # what !Ref gives


@dataclass(frozen=True)
class Stack:
    template_path: Path
    parameters: dict[str, str]  # every declared parameter, defaults applied, as CloudFormation passes them
    conditions: dict[str, bool]
    resources: dict[str, Resource]  # the ones the runtime creates, in template order
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> type: not created locally
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value, every resource that exists

    @property
    def template_dir(self) -> Path:
        return self.template_path.parent


# ---------------------------------------------------------------------------------------------------- loading


class _CfnLoader(yaml.SafeLoader):
    """PyYAML's safe loader, plus CloudFormation's short-form tags; dates stay strings (2010-09-09)."""


_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_short_form(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_short_form)


def load_template(path: Path) -> dict[str, Any]:
    """The template as CloudFormation's JSON form (short tags expanded to `Ref` / `Fn::*`)."""
    loaded = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return loaded


# ---------------------------------------------------------------------------------------------------- parameters


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise TemplateError(f"Parameter '{name}' must be a number, got {text!r}") from None


def _validate(name: str, spec: Mapping[str, Any], value: str) -> None:
    """CloudFormation's checks; a failure names the parameter, the rule and (as CloudFormation does) the
    ConstraintDescription."""
    kind = str(spec.get("Type", "String"))
    hint = f" ({spec['ConstraintDescription']})" if "ConstraintDescription" in spec else ""
    items = [v.strip() for v in value.split(",")] if kind.startswith(("List<", "CommaDelimitedList")) else [value]
    for item in items:
        if kind in ("Number", "List<Number>"):
            number = _number(name, item)
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise TemplateError(f"Parameter '{name}' must be a number not less than {spec['MinValue']}{hint}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise TemplateError(f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}{hint}")
        if "AllowedValues" in spec and item not in [_scalar_text(v) for v in spec["AllowedValues"]]:
            allowed = spec["AllowedValues"]
            raise TemplateError(f"Parameter '{name}' must be one of AllowedValues {allowed}, got {item!r}")
        if "AllowedPattern" in spec and not re.fullmatch(str(spec["AllowedPattern"]), item):
            raise TemplateError(f"Parameter '{name}' must match pattern {spec['AllowedPattern']}{hint}, got {item!r}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise TemplateError(f"Parameter '{name}' must contain at least {spec['MinLength']} characters{hint}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise TemplateError(f"Parameter '{name}' must contain at most {spec['MaxLength']} characters{hint}")


def _scalar_text(value: Any) -> str:
    """How CloudFormation hands a YAML scalar on: as a string (true -> "true", 3 -> "3")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def resolve_parameters(declared: Mapping[str, Any], given: Mapping[str, str] | None) -> dict[str, str]:
    given = dict(given or {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TemplateError(f"Parameters: {unknown} do not exist in the template")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in given:
            value = _scalar_text(given[name])
        elif "Default" in spec:
            value = _scalar_text(spec["Default"])
        else:
            raise TemplateError(f"Parameters: [{name}] must have values")
        _validate(name, spec, value)
        values[name] = value
    return values


# ---------------------------------------------------------------------------------------------------- Globals


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::", "Condition"))


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's rule: maps merge (local wins per key), lists concatenate (globals first), anything else: local wins."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


# ---------------------------------------------------------------------------------------------------- resolver

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _Resolver:
    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        self.parameter_specs: Mapping[str, Any] = template.get("Parameters") or {}
        self.parameters = parameters
        self.declared: Mapping[str, Any] = template["Resources"]
        self._conditions: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()

    # -- conditions

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            declared = self.template.get("Conditions") or {}
            if name not in declared:
                raise TemplateError(f"Condition '{name}' is not declared in Conditions")
            self._conditions[name] = self._condition_value(declared[name])
        return self._conditions[name]

    def _condition_value(self, expression: Any) -> bool:
        if isinstance(expression, bool):
            return expression
        if not _is_intrinsic(expression):
            raise TemplateError(f"not a condition: {expression!r}")
        ((function, argument),) = expression.items()
        if function == "Condition":
            return self.condition(str(argument))
        if function == "Fn::Equals":
            left, right = (self.resolve(a) for a in argument)
            return _scalar_text(left) == _scalar_text(right)
        if function == "Fn::Not":
            return not self._condition_value(argument[0])
        if function == "Fn::And":
            return all(self._condition_value(a) for a in argument)
        if function == "Fn::Or":
            return any(self._condition_value(a) for a in argument)
        raise TemplateError(f"{function} cannot be used in a condition")

    def exists(self, logical_id: str) -> bool:
        resource = self.declared.get(logical_id)
        if resource is None:
            return False
        return "Condition" not in resource or self.condition(str(resource["Condition"]))

    # -- names (Ref) and attributes (GetAtt)

    def resource_type(self, logical_id: str) -> str:
        if logical_id in self.declared:
            return str(self.declared[logical_id]["Type"])
        # SAM's implicit execution roles: <Function>Role / <StateMachine>Role when no Role is given.
        owner = self.declared.get(logical_id.removesuffix("Role")) if logical_id.endswith("Role") else None
        if owner is not None and owner["Type"] in _GLOBALS.values():
            return "AWS::IAM::Role"
        raise TemplateError(f"Unresolved resource dependency [{logical_id}] in the Resources block of the template")

    def name(self, logical_id: str) -> str:
        """The resource's physical name: its name property when set, else a deterministic generated one."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self.declared and not self.exists(logical_id):
            raise TemplateError(f"{logical_id} is referenced but its Condition is false, so it does not exist")
        if logical_id in self._naming:
            raise TemplateError(f"circular reference through the name of {logical_id}")
        self._naming.add(logical_id)
        kind = self.resource_type(logical_id)
        raw: Any = (self.declared.get(logical_id) or {}).get("Properties") or {}
        for key in _NAME_PATHS.get(kind, ()):
            raw = raw.get(key) if isinstance(raw, dict) else None
        name = _scalar_text(self.resolve(raw)) if raw not in (None, {}) and kind in _NAME_PATHS else None
        self._names[logical_id] = name or _default_name(logical_id, kind)
        self._naming.discard(logical_id)
        return self._names[logical_id]

    def ref(self, logical_id: str) -> str:
        name, kind = self.name(logical_id), self.resource_type(logical_id)
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
        if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}"
        return name

    def attribute(self, logical_id: str, attribute: str) -> str:
        name, kind = self.name(logical_id), self.resource_type(logical_id)
        service = kind.split("::")[1].lower()
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}",
            "AWS::CloudWatch::Alarm": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}",
            "AWS::Scheduler::Schedule": f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{name}",
            "AWS::Athena::WorkGroup": f"arn:aws:athena:{REGION}:{ACCOUNT_ID}:workgroup/{name}",
            "AWS::SES::EmailIdentity": f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{name}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if attribute in ("Arn", "TopicArn") and kind in (
            "AWS::SNS::Topic",
            "AWS::Serverless::StateMachine",
            "AWS::StepFunctions::StateMachine",
            "AWS::IAM::ManagedPolicy",
        ):
            return self.ref(logical_id)
        if attribute in ("Name", "TopicName", "QueueName", "RoleId", "StateMachineName"):
            return name
        if attribute == "QueueUrl":
            return self.ref(logical_id)
        if attribute == "DomainName" and service == "s3":
            return f"{name}.s3.amazonaws.com"
        if attribute == "RegionalDomainName" and service == "s3":
            return f"{name}.s3.{REGION}.amazonaws.com"
        raise TemplateError(f"localaws cannot resolve Fn::GetAtt {logical_id}.{attribute} ({kind})")

    # -- intrinsic functions

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if _is_intrinsic(value) and "Condition" not in value:
            ((function, argument),) = value.items()
            return self._intrinsic(function, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            spec = self.parameter_specs.get(name) or {}
            value = self.parameters[name]
            if str(spec.get("Type", "String")).startswith(("List<", "CommaDelimitedList")):
                return [item.strip() for item in value.split(",")] if value else []
            return value
        return self.ref(name)

    def _intrinsic(self, function: str, argument: Any) -> Any:
        if function == "Ref":
            return self._ref(str(argument))
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return self.attribute(str(logical_id), str(self.resolve(attribute)))
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
            return self._sub(str(text), variables)
        if function == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(str(condition)) else when_false)
        if function == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(_scalar_text(item) for item in self.resolve(items))
        if function == "Fn::Select":
            index, items = self.resolve(argument[0]), self.resolve(argument[1])
            return items[int(index)]
        if function == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(str(delimiter))
        if function == "Fn::FindInMap":
            mapping, first, second = (self.resolve(a) for a in argument)
            return self.template["Mappings"][mapping][first][second]
        if function in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._condition_value({function: argument})
        raise TemplateError(f"localaws does not resolve {function}")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the escape for a literal ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                value = self.resolve(variables[name])
            elif "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                value = self.attribute(logical_id, attribute)
            else:
                value = self._ref(name)
            if isinstance(value, (list, dict)) or value is NO_VALUE:
                raise TemplateError(f"Fn::Sub variable ${{{name}}} is not a string in {text!r}")
            return _scalar_text(value)

        return _SUB_VARIABLE.sub(replace, text)


def _default_name(logical_id: str, kind: str) -> str:
    if kind == "AWS::S3::Bucket":
        return f"{STACK_NAME}-{logical_id.lower()}-{ACCOUNT_ID}"
    if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
        return logical_id
    return f"{STACK_NAME}-{logical_id}"


# ---------------------------------------------------------------------------------------------------- entry point


def resolve_template(path: Path, parameters: Mapping[str, str] | None = None) -> Stack:
    template = load_template(path)
    values = resolve_parameters(template.get("Parameters") or {}, parameters)
    resolver = _Resolver(template, values)
    conditions = {name: resolver.condition(name) for name in template.get("Conditions") or {}}
    globals_by_type = {
        _GLOBALS[section]: body for section, body in (template.get("Globals") or {}).items() if section in _GLOBALS
    }
    resources: dict[str, Resource] = {}
    skipped: dict[str, str] = {}
    physical: dict[str, str] = {}
    for logical_id, declared in template["Resources"].items():
        if not resolver.exists(logical_id):
            continue
        kind = str(declared["Type"])
        physical[logical_id] = resolver.ref(logical_id)
        if kind not in CREATED_TYPES:
            skipped[logical_id] = kind
            continue
        properties = declared.get("Properties") or {}
        if kind in globals_by_type:
            properties = merge_globals(globals_by_type[kind], properties)
        resources[logical_id] = Resource(logical_id, kind, resolver.resolve(properties), physical[logical_id])
    return Stack(path.resolve(), values, conditions, resources, skipped, physical)


def resolve_intrinsics(template: Mapping[str, Any], parameters: Mapping[str, str], value: Any) -> Any:
    """`value` with its intrinsic functions resolved against `template` (for instance the template after the SAM
    transform) and these parameter values, exactly as resolve_template resolves the properties it creates."""
    return _Resolver(template, parameters).resolve(value)


def render_definition(text: str, substitutions: Mapping[str, Any]) -> str:
    """The ASL with SAM's DefinitionSubstitutions applied (`${Name}`, plus the AWS:: pseudo parameters, which
    SAM's Fn::Sub also fills). Fails when a placeholder has no value or a substitution is never used: either
    is a template/definition mismatch that would deploy a broken (or misleading) state machine."""
    used: set[str] = set()
    missing: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in substitutions:
            used.add(name)
            return _scalar_text(substitutions[name])
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        missing.add(name)
        return match.group(0)

    rendered = _SUB_VARIABLE.sub(replace, text)
    unused = set(substitutions) - used
    if missing or unused:
        problems = []
        if missing:
            problems.append(f"placeholders without a DefinitionSubstitutions value: {sorted(missing)}")
        if unused:
            problems.append(f"DefinitionSubstitutions never used in the definition: {sorted(unused)}")
        raise TemplateError("; ".join(problems))
    return rendered
