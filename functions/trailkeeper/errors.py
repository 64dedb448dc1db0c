"""Named failures. The class name is the ASL error name that Retry/Catch match on, so keep them stable."""


class TrailkeeperError(Exception):
    """Base class; never raised itself."""


class InvalidInput(TrailkeeperError):
    """The execution input is malformed. Permanent: the execution ends, nothing is written."""


class ConfigurationError(TrailkeeperError):
    """The deployment's configuration (environment) is unusable. Permanent."""


class UnsupportedPartitionScheme(TrailkeeperError):
    """The table's partition keys are not one of the supported schemes. Permanent."""


class TableNotFound(TrailkeeperError):
    """The Glue database or table does not exist (dropped, or misconfigured). Permanent."""


class TransientAwsError(TrailkeeperError):
    """Throttling or a 5xx that outlived botocore's own retries. ASL retries it with backoff."""


class PartitionsStillMissing(TrailkeeperError):
    """After adding, some planned partitions are still absent from the catalog."""


class PlanTooLarge(TrailkeeperError):
    """A nightly run would need more statements than one Map can run; a backfill (sharded) is needed."""


class ShardsFailed(TrailkeeperError):
    """Some shards of a backfill did not finish; the others did. Resuming runs only the unfinished ones."""


class BaselineUnreadable(TrailkeeperError):
    """A saved daily result exists but cannot be parsed; never treated as 'everything is new'."""


class QueryResultUnreadable(TrailkeeperError):
    """The daily query's fresh result cannot be parsed. Not a baseline: nothing is saved, the day fails loudly."""


class EmailRejected(TrailkeeperError):
    """SES refused the report (unverified identity, sandbox recipient, suspended sending). Permanent."""


class UnreadableLogsNotFound(TrailkeeperError):
    """The activity query failed as on unreadable data, but every log object of the day reads cleanly."""


class UnreadableLogsNotExcludable(TrailkeeperError):
    """Unreadable log objects that one query cannot leave out (a key outside the allow-list, or too many)."""
