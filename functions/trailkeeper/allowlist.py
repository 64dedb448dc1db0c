"""Allow-lists: the only shapes a value may have before it is used in SQL, S3 keys or DDL.

Values are accepted by full match against these patterns and then used as-is; nothing is ever
escaped, trimmed or normalised into acceptability (see docs/threat-model.md).
"""

from __future__ import annotations

import datetime as dt
import re

ACCOUNT_ID = re.compile(r"[0-9]{12}")
# Every region shape AWS publishes (botocore's partitions.json `regionRegex`, checked by a test that reads it):
# <area>[-<qualifier>]-<direction>-<number>, e.g. us-east-1, cn-north-1, us-gov-west-1, us-iso-east-1,
# us-isob-east-1, us-isof-south-1, eu-isoe-west-1, eusc-de-east-1 (European Sovereign Cloud). Lower-case
# letters, digits and single hyphens only, so a region can never carry a quote, a slash or a space into SQL.
# The shape is fixed here rather than read from botocore at run time: the Lambda runtime's botocore is not
# ours to pin, and an allow-list guarding SQL must change only by review (a new shape fails the test first).
REGION = re.compile(r"[a-z]{2,4}(-[a-z]{2,4})?-[a-z]{4,12}-[0-9]{1,2}")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")
# S3 bucket naming rules, without the dotted forms Athena LOCATIONs cannot use safely.
BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# A key prefix: segments of safe characters, no empty, '.' or '..' segment, no leading/trailing '/'.
PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
GLUE_NAME = re.compile(r"[a-z0-9_]{1,255}")
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
SHARD_ID = re.compile(r"s[0-9]{5}")  # a backfill shard, as PlanShards names them
# The log objects an exclusion (`"$path" NOT IN`) may name: S3 keys of letters, digits and `._=+-` segments joined
# by single slashes, up to S3's 1,024 bytes. Every CloudTrail log key has this shape
# (<account>_CloudTrail_<region>_..._<unique>.json.gz under AWSLogs/...); a key with any other character never
# becomes an SQL literal.
LOG_OBJECT_KEY = re.compile(r"(?=.{1,1024}\Z)[A-Za-z0-9][A-Za-z0-9._=+-]*(?:/[A-Za-z0-9][A-Za-z0-9._=+-]*)*", re.DOTALL)


def is_account_id(value: object) -> bool:
    return isinstance(value, str) and ACCOUNT_ID.fullmatch(value) is not None


def is_region(value: object) -> bool:
    return isinstance(value, str) and REGION.fullmatch(value) is not None


def is_prefix(value: str) -> bool:
    """True for '' (no prefix) or well-formed segments joined by single slashes."""
    if value == "":
        return True
    return all(PREFIX_SEGMENT.fullmatch(s) is not None and s not in {".", ".."} for s in value.split("/"))


def parse_iso_date(value: object) -> dt.date | None:
    """A real calendar date written exactly as YYYY-MM-DD, else None."""
    if not isinstance(value, str) or ISO_DATE.fullmatch(value) is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
