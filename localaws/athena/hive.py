"""Glue (Hive) column types -> DuckDB, and CloudTrail's camelCase JSON keys -> Athena's lower-case names.

The embedded Athena reads a CloudTrail table the way the Glue catalog describes it: the column names, nesting
and types come from the table's `Columns`, never from a copy kept here. Two facts are not in the catalog:

* JSON keys. Hive's JsonSerDe matches keys case-insensitively, DuckDB's JSON reader matches them exactly. So the
  reader is given CloudTrail's spelling of each key (`userIdentity`, `sessionIssuer`, `resources[].ARN`), taken
  from the CloudTrail record-contents reference below; a name not listed is read as spelled in the catalog.
* Hive `string` columns holding JSON objects (`requestparameters` ...) must come back as the object's JSON text.
  Declaring every `string` as DuckDB VARCHAR does exactly that (DuckDB renders a non-string JSON value as its
  JSON text), so `json_extract_scalar(requestparameters, '$.bucketName')` works as in Athena.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# CloudTrail record contents, keyed by the lower-case name Athena exposes (docs.aws.amazon.com/awscloudtrail/latest/
# userguide/cloudtrail-event-reference-record-contents.html and cloudtrail-event-reference-user-identity.html).
_CLOUDTRAIL_SPELLINGS = {
    name.lower(): name
    for name in (
        # record
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "errorMessage",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "requestID",
        "eventID",
        "eventType",
        "apiVersion",
        "managementEvent",
        "readOnly",
        "resources",
        "recipientAccountId",
        "serviceEventDetails",
        "sharedEventID",
        "vpcEndpointId",
        "vpcEndpointAccountId",
        "eventCategory",
        "addendum",
        "sessionCredentialFromConsole",
        "edgeDeviceDetails",
        "tlsDetails",
        "insightDetails",
        # userIdentity
        "principalId",
        "accountId",
        "accessKeyId",
        "userName",
        "sessionContext",
        "invokedBy",
        "onBehalfOf",
        "identityProvider",
        "credentialId",
        "inScopeOf",
        "userId",
        "identityStoreArn",
        "issuerType",
        "credentialsIssuedTo",
        "issuerAccountId",
        # userIdentity.sessionContext
        "sessionIssuer",
        "webIdFederationData",
        "sourceIdentity",
        "ec2RoleDelivery",
        "assumedRoot",
        "creationDate",
        "mfaAuthenticated",
        "federatedProvider",
        # addendum, tlsDetails
        "updatedFields",
        "originalRequestID",
        "originalEventID",
        "tlsVersion",
        "cipherSuite",
        "clientProvidedHostHeader",
    )
}
# Where one lower-case name has two spellings, the path (struct field names, arrays/maps skipped) decides.
_CLOUDTRAIL_PATH_SPELLINGS: dict[tuple[str, ...], str] = {("resources", "arn"): "ARN"}


def json_key(path: tuple[str, ...], name: str) -> str:
    """The JSON key CloudTrail writes for the catalog field `name` found at `path` (lower-case names)."""
    return _CLOUDTRAIL_PATH_SPELLINGS.get((*path, name), _CLOUDTRAIL_SPELLINGS.get(name, name))


@dataclass(frozen=True)
class HiveType:
    """A parsed Hive type. `children`: struct fields, ("element", T) for arrays, ("key", K), ("value", V) for maps."""

    name: str
    params: tuple[int, ...] = ()
    children: tuple[tuple[str, HiveType], ...] = ()


class HiveTypeError(ValueError):
    pass


_SCALARS = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "decimal": "DECIMAL",
}
_TYPE_TOKEN = re.compile(r"\s*(?:(`(?:[^`]|``)+`)|([A-Za-z_][A-Za-z0-9_]*)|([0-9]+)|([<>,:()]))")


def parse_hive_type(text: str) -> HiveType:
    """Parse a Glue column type such as `array<struct<arn:string,accountid:string>>`; raise HiveTypeError."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _TYPE_TOKEN.match(text, pos)
        if not match:
            raise HiveTypeError(f"cannot read column type {text!r} at position {pos}")
        token = next(group for group in match.groups() if group is not None)
        tokens.append(token)
        pos = match.end()
    parser = _TypeParser(tokens, text)
    parsed = parser.type_()
    if parser.pos != len(tokens):
        raise HiveTypeError(f"unexpected {tokens[parser.pos]!r} in column type {text!r}")
    return parsed


class _TypeParser:
    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens, self.text, self.pos = tokens, text, 0

    def take(self, expected: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise HiveTypeError(f"column type {self.text!r} ends early")
        token = self.tokens[self.pos]
        if expected is not None and token.lower() != expected:
            raise HiveTypeError(f"expected {expected!r}, found {token!r} in column type {self.text!r}")
        self.pos += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def type_(self) -> HiveType:
        name = self.take().lower()
        if name == "array":
            self.take("<")
            element = self.type_()
            self.take(">")
            return HiveType("array", children=(("element", element),))
        if name == "map":
            self.take("<")
            key = self.type_()
            self.take(",")
            value = self.type_()
            self.take(">")
            return HiveType("map", children=(("key", key), ("value", value)))
        if name == "struct":
            self.take("<")
            fields: list[tuple[str, HiveType]] = []
            while True:
                field = self.take()
                if field.startswith("`"):
                    field = field[1:-1].replace("``", "`")
                self.take(":")
                fields.append((field.lower(), self.type_()))
                separator = self.take()
                if separator == ">":
                    break
                if separator != ",":
                    raise HiveTypeError(f"unexpected {separator!r} in column type {self.text!r}")
            if len({field for field, _ in fields}) != len(fields):
                raise HiveTypeError(f"duplicate struct field in column type {self.text!r}")
            return HiveType("struct", children=tuple(fields))
        if name not in _SCALARS:
            raise HiveTypeError(f"column type {name!r} is not supported by the embedded engine")
        params: list[int] = []
        if self.peek() == "(":
            self.take("(")
            params.append(self.number())
            while (separator := self.take()) != ")":
                if separator != ",":
                    raise HiveTypeError(f"unexpected {separator!r} in column type {self.text!r}")
                params.append(self.number())
        return HiveType(name, params=tuple(params))

    def number(self) -> int:
        token = self.take()
        if not token.isdigit():
            raise HiveTypeError(f"expected a number, found {token!r} in column type {self.text!r}")
        return int(token)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_type(hive: HiveType, path: tuple[str, ...] = (), *, json_keys: bool = False) -> str:
    """The DuckDB type for `hive`; with json_keys, struct fields carry CloudTrail's JSON spelling (for read_json)."""
    if hive.name == "array":
        return duckdb_type(hive.children[0][1], path, json_keys=json_keys) + "[]"
    if hive.name == "map":
        key, value = (child for _, child in hive.children)
        key_type = duckdb_type(key, path, json_keys=json_keys)
        return f"MAP({key_type}, {duckdb_type(value, path, json_keys=json_keys)})"
    if hive.name == "struct":
        fields = ", ".join(
            f"{quote_identifier(json_key(path, name) if json_keys else name)} "
            f"{duckdb_type(child, (*path, name), json_keys=json_keys)}"
            for name, child in hive.children
        )
        return f"STRUCT({fields})"
    if hive.name == "decimal":
        precision, scale = (hive.params + (10, 0)[len(hive.params) :])[:2]  # Hive's default is decimal(10,0)
        return f"DECIMAL({precision}, {scale})"
    return _SCALARS[hive.name]


def renames_needed(hive: HiveType, path: tuple[str, ...]) -> bool:
    """True if some struct field below `path` is spelled differently in JSON than in the catalog."""
    if hive.name == "struct":
        return any(
            json_key(path, name) != name or renames_needed(child, (*path, name)) for name, child in hive.children
        )
    return any(renames_needed(child, path) for _, child in hive.children)


def exposed_value(source: str, hive: HiveType, path: tuple[str, ...], depth: int = 0) -> str:
    """SQL turning a value read with JSON spellings (`source`) into the catalog's lower-case shape."""
    if not renames_needed(hive, path):
        return source
    variable = f"__v{depth}"
    if hive.name == "array":
        inner = exposed_value(variable, hive.children[0][1], path, depth + 1)
        return f"list_transform({source}, lambda {variable}: {inner})"
    if hive.name == "map":
        value = exposed_value(f"{variable}.value", hive.children[1][1], path, depth + 1)
        return (
            f"map_from_entries(list_transform(map_entries({source}), "
            f"lambda {variable}: struct_pack(key := {variable}.key, value := {value})))"
        )
    fields = ", ".join(
        f"{quote_identifier(name)} := "
        + exposed_value(f"struct_extract({source}, {quote_literal(json_key(path, name))})", child, (*path, name), depth)
        for name, child in hive.children
    )
    # struct_pack of a NULL struct would give a struct of NULLs; Athena shows NULL.
    return f"CASE WHEN {source} IS NULL THEN NULL ELSE struct_pack({fields}) END"
