"""The edge: every AWS call trailkeeper makes, on clients the caller creates once and passes in.

AWS errors are translated here into the named exceptions of trailkeeper.errors, which are the
vocabulary of the state machine's Retry/Catch (throttling -> TransientAwsError, retried with backoff).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import IO, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from trailkeeper.discovery import Lister, PageLister
from trailkeeper.errors import EmailRejected, TableNotFound, TransientAwsError
from trailkeeper.integrity.chain import StoredObject

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalError",
        "InternalServerError",
        "InternalServiceException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "OperationTimeoutException",
        "ConcurrentModificationException",
    }
)
# Above this many partitions in a window, list Glue with parallel segments (Glue allows up to 10).
SEGMENT_THRESHOLD = 20_000
MAX_SEGMENTS = 10


def pooled(connections: int) -> Config:
    """A client config whose connection pool holds `connections` keep-alive connections: one per thread that
    shares the client (botocore keeps 10 by default and opens, then discards, a new connection per request beyond).
    """
    return Config(max_pool_connections=connections)


def trail_reader(connections: int, **client_args: Any) -> Any:
    """The S3 client of S3Store's reads of the trail bucket (integrity validation), `connections` pooled.

    It parses less, as its callers use less: timestamps stay the text S3 sent (botocore parses each with dateutil,
    most of a listing's client CPU: LastModified of every key; nothing here reads them), and the wire CRC of a
    GetObject is not recomputed (`response_checksum_validation="when_required"`): every byte read is hashed with
    SHA-256 against a signed digest, which is the check. Other reads (lifecycle dates) use an ordinary client.
    """
    session = botocore.session.get_session()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    config = Config(max_pool_connections=connections, response_checksum_validation="when_required")
    return boto3.session.Session(botocore_session=session).client("s3", config=config, **client_args)


@contextmanager
def translated_errors(what: str) -> Iterator[None]:
    """Re-raise AWS failures as trailkeeper's named errors, keeping the AWS message for the person."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in TRANSIENT_CODES or status >= 500:
            raise TransientAwsError(f"{what}: {code} {message}".strip()) from error
        if code == "EntityNotFoundException":
            raise TableNotFound(f"{what}: {message}") from error
        raise
    except (ConnectionError, HTTPClientError) as error:  # timeouts and resets after botocore's retries
        raise TransientAwsError(f"{what}: {error}") from error


def s3_lister(s3: Any, bucket: str, page_size: int | None = None) -> Lister:
    """ListObjectsV2 with a delimiter, every page (at most 1,000 entries a page; `page_size` asks for fewer)."""
    pagination = {"PageSize": page_size} if page_size else {}

    def children(prefix: str) -> Iterator[tuple[str, bool]]:
        with translated_errors(f"listing s3://{bucket}/{prefix}"):
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, Delimiter="/", PaginationConfig=pagination
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    yield common["Prefix"], True
                for obj in page.get("Contents", []):
                    yield obj["Key"], False

    return children


def s3_page_lister(s3: Any, bucket: str) -> PageLister:
    """One ListObjectsV2 call with a delimiter: its first page (at most 1,000 entries) and whether there is more.
    boto3 asks for EncodingType=url and decodes the answer, so keys with characters XML 1.0 cannot carry arrive
    intact (S3 keys are UTF-8: a name that is not cannot be in a bucket at all)."""

    def first_page(prefix: str) -> tuple[list[tuple[str, bool]], bool]:
        with translated_errors(f"listing s3://{bucket}/{prefix}"):
            page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
        children = [(c["Prefix"], True) for c in page.get("CommonPrefixes", [])]
        children += [(o["Key"], False) for o in page.get("Contents", [])]
        return children, bool(page.get("IsTruncated"))

    return first_page


def get_table(glue: Any, database: str, table: str) -> dict[str, Any]:
    with translated_errors(f"reading table {database}.{table}"):
        result: dict[str, Any] = glue.get_table(DatabaseName=database, Name=table)["Table"]
        return result


def partitions(
    glue: Any, database: str, table: str, expression: str, *, expected_size: int = 0
) -> Iterator[tuple[list[str], str]]:
    """(values, LOCATION) of every partition matching `expression`; parallel segments when the window is large.

    The LOCATION is what Athena reads for the partition, so it is compared as carefully as the values: a
    partition pointing at another folder hides its own folder's logs (docs/threat-model.md, catalog drift).
    """
    segments = min(MAX_SEGMENTS, max(1, expected_size // SEGMENT_THRESHOLD))

    def one_segment(segment: int) -> list[tuple[list[str], str]]:
        kwargs: dict[str, Any] = {
            "DatabaseName": database,
            "TableName": table,
            "Expression": expression,
            "ExcludeColumnSchema": True,
        }
        if segments > 1:
            kwargs["Segment"] = {"SegmentNumber": segment, "TotalSegments": segments}
        found: list[tuple[list[str], str]] = []
        with translated_errors(f"listing partitions of {database}.{table}"):
            for page in glue.get_paginator("get_partitions").paginate(**kwargs):
                found.extend(
                    (p["Values"], str((p.get("StorageDescriptor") or {}).get("Location", "")))
                    for p in page.get("Partitions", [])
                )
        return found

    if segments == 1:
        yield from one_segment(0)
        return
    with ThreadPoolExecutor(max_workers=segments) as pool:
        for found in pool.map(one_segment, range(segments)):
            yield from found


def put_text(s3: Any, bucket: str, key: str, text: str, content_type: str = "text/plain") -> None:
    with translated_errors(f"writing s3://{bucket}/{key}"):
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType=content_type)


def get_text(s3: Any, bucket: str, key: str) -> str:
    with translated_errors(f"reading s3://{bucket}/{key}"):
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body.decode()


def put_json(s3: Any, bucket: str, key: str, data: Any) -> None:
    put_text(s3, bucket, key, json.dumps(data, separators=(",", ":")), "application/json")


def get_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(get_text(s3, bucket, key))


def get_json_if_exists(s3: Any, bucket: str, key: str) -> Any:
    text = get_text_if_exists(s3, bucket, key)
    return None if text is None else json.loads(text)


SES_REJECTIONS = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "AccountSuspendedException",
        "SendingPausedException",
        "NotFoundException",
        "BadRequestException",
    }
)


@contextmanager
def _rejections_named() -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in SES_REJECTIONS:
            message = error.response["Error"].get("Message", "")
            raise EmailRejected(f"SES refused the report: {code} {message}") from error
        raise


def put_text_if_absent(s3: Any, bucket: str, key: str, text: str, content_type: str = "text/plain") -> bool:
    """Write once: True if this call created the object, False if it already existed (left untouched)."""
    try:
        with translated_errors(f"writing s3://{bucket}/{key}"):
            s3.put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType=content_type, IfNoneMatch="*")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"PreconditionFailed", "ConditionalRequestConflict"}:
            return False
        raise
    return True


def get_text_if_exists(s3: Any, bucket: str, key: str) -> str | None:
    try:
        return get_text(s3, bucket, key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise


def delete_object(s3: Any, bucket: str, key: str) -> None:
    with translated_errors(f"deleting s3://{bucket}/{key}"):
        s3.delete_object(Bucket=bucket, Key=key)


def send_raw_email(sesv2: Any, sender: str, recipients: tuple[str, ...], message: bytes) -> str:
    """SES v2 SendEmail of a complete MIME message (Content.Raw, report/message.py); returns the MessageId."""
    with translated_errors("sending the report email"), _rejections_named():
        response = sesv2.send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": list(recipients)},
            Content={"Raw": {"Data": message}},
        )
        message_id: str = response["MessageId"]
        return message_id


def put_bytes(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    with translated_errors(f"writing s3://{bucket}/{key}"):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def get_bytes(s3: Any, bucket: str, key: str) -> bytes:
    with translated_errors(f"reading s3://{bucket}/{key}"):
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Every key directly under `prefix` (not in its sub-folders), every page."""
    with translated_errors(f"listing s3://{bucket}/{prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for item in page.get("Contents", []):
                yield str(item["Key"])


def download_if_exists(s3: Any, bucket: str, key: str, fileobj: IO[bytes]) -> bool:
    """Stream an object into `fileobj` (never all of it in memory); False if there is no such object."""
    try:
        with translated_errors(f"reading s3://{bucket}/{key}"):
            s3.download_fileobj(bucket, key, fileobj)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return False
        raise
    return True


def upload_file(s3: Any, bucket: str, key: str, path: str, content_type: str) -> None:
    """Stream a local file to S3 (multipart when large)."""
    with translated_errors(f"writing s3://{bucket}/{key}"):
        s3.upload_file(path, bucket, key, ExtraArgs={"ContentType": content_type})


# --------------------------------------------------------------------------------------------
# Integrity validation: the trail bucket read-only, CloudTrail's public keys, the bucket's lifecycle.

LOG_CHUNK_BYTES = 1 << 20


class S3Store:
    """trailkeeper.integrity.chain.Store on an S3 client: ListObjectsV2, GetObject (with its metadata)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """Every key under `prefix` (after `start_after`), ascending; the next page is asked for only when the
        caller reads on."""
        after = {"StartAfter": start_after} if start_after else {}
        with translated_errors(f"listing s3://{self.bucket}/{prefix}"):
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix, **after)
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"]

    def get(self, key: str) -> StoredObject | None:
        response = self._get(key)
        if response is None:
            return None
        with translated_errors(f"reading s3://{self.bucket}/{key}"):
            return StoredObject(response["Body"].read(), dict(response.get("Metadata") or {}))

    def chunks(self, key: str) -> Iterator[bytes] | None:
        response = self._get(key)
        if response is None:
            return None
        body = response["Body"]

        def read() -> Iterator[bytes]:
            with translated_errors(f"reading s3://{self.bucket}/{key}"):
                yield from body.iter_chunks(LOG_CHUNK_BYTES)

        return read()

    def _get(self, key: str) -> dict[str, Any] | None:
        try:
            with translated_errors(f"reading s3://{self.bucket}/{key}"):
                response: dict[str, Any] = self.s3.get_object(Bucket=self.bucket, Key=key)
                return response
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise


def public_keys(cloudtrail: Any, start: Any, end: Any) -> dict[str, bytes]:
    """cloudtrail:ListPublicKeys over [start, end]: {fingerprint: DER PKCS#1 public key}, every page."""
    found: dict[str, bytes] = {}
    with translated_errors("listing CloudTrail public keys"):
        kwargs: dict[str, Any] = {"StartTime": start, "EndTime": end}
        while True:
            page = cloudtrail.list_public_keys(**kwargs)
            for key in page.get("PublicKeyList", []):
                found[key["Fingerprint"]] = key["Value"]
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]


def lifecycle_rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules; none when it has no lifecycle configuration."""
    try:
        with translated_errors(f"reading the lifecycle of s3://{bucket}"):
            rules: list[dict[str, Any]] = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
            return rules
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise


def list_objects(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under `prefix`, sub-folders included, every page."""
    with translated_errors(f"listing s3://{bucket}/{prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"]), int(item.get("Size", 0))
