"""The states each MockConfigFile TestCase enters, in order: what test_state_machine.py asserts of an execution,
and what test_mock_config_contract.py checks mock_config.json against (every Task entered must be mocked)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExpectedPath:
    states: list[str]
    child_states: list[str] | None = None  # one Distributed Map child execution's states (embedded runtime only)


ADDING = [
    "IsBackfill",
    "PlanPartitions",
    "AnythingToAdd",
    "ListStatements",
    "AddPartitions",
    "LoadStatement",
    "RunStatement",
    "VerifyPartitions",
]
SHARDED = ["ValidateInput", "IsBackfill", "PlanShards", "ReconcileShards", "SummariseShards"]
INTEGRITY_NOTHING_TO_VALIDATE = ["IsIntegrityDue", "PlanIntegrity", "AnythingToValidate"]
PREPARING = ["IsReportDue", "PrepareReport", "ReportAlreadySent"]
REPORTING = [*PREPARING, "RunActivityQuery", "BuildReport", "SendReport"]
NOTIFIED = ["DescribeFailure", "NotifyFailure", "Failed"]
NIGHT = ["ValidateInput", *ADDING, *INTEGRITY_NOTHING_TO_VALIDATE]  # a nightly run up to its report
HAPPY = [*NIGHT, *REPORTING, "Done"]
QUERY_FAILED = [*NIGHT, *PREPARING, "RunActivityQuery", "DescribeQueryFailure", "IsUnreadableData"]
LEFT_OUT = ["ExcludeUnreadableLogs", "RunActivityQueryExcluding", "BuildReport", "SendReport", "Done"]

PATHS: dict[str, ExpectedPath] = {
    "HappyPath": ExpectedPath(HAPPY),
    "NothingMissing": ExpectedPath(
        [
            "ValidateInput",
            "IsBackfill",
            "PlanPartitions",
            "AnythingToAdd",
            "VerifyPartitions",
            *INTEGRITY_NOTHING_TO_VALIDATE,
            *REPORTING,
            "Done",
        ]
    ),
    "RetryOnAthenaThrottle": ExpectedPath(HAPPY),
    "RetryOnTransientLambdaError": ExpectedPath(HAPPY),
    "AddQueryFails": ExpectedPath(["ValidateInput", *ADDING[:-1], *NOTIFIED]),
    "LambdaErrorCaught": ExpectedPath(["ValidateInput", "IsBackfill", "PlanPartitions", *NOTIFIED]),
    "DescribeFailureFails": ExpectedPath(["ValidateInput", "IsBackfill", "PlanPartitions", *NOTIFIED]),
    "PartitionsStillMissing": ExpectedPath(["ValidateInput", *ADDING, *NOTIFIED]),
    "DryRun": ExpectedPath([*SHARDED, "BackfillDone"], ["PlanShard", "ShardHasWork", "ShardPlanned"]),
    "InvalidInput": ExpectedPath(["ValidateInput", "DescribeRejection", "InputRejected"]),
    "BackfillDoesNotReport": ExpectedPath(
        [*SHARDED, "BackfillDone"],
        [
            "PlanShard",
            "ShardHasWork",
            "ListShardStatements",
            "AddShardPartitions",
            "LoadShardStatement",
            "RunShardStatement",
            "VerifyShard",
        ],
    ),
    "FailedShardFailsTheBackfill": ExpectedPath(
        [*SHARDED, *NOTIFIED], ["PlanShard", "RecordShardFailure", "ShardFailed"]
    ),
    "ReportAlreadySent": ExpectedPath([*NIGHT, *PREPARING, "ReportSkipped", "Done"]),
    "NothingNew": ExpectedPath(HAPPY),
    "ReportQueryFails": ExpectedPath([*QUERY_FAILED, "QueryFailed", "NotifyFailure", "Failed"]),
    "UnreadableObjectLeftOut": ExpectedPath([*QUERY_FAILED, "PlanLogScan", "AnythingToScan", *LEFT_OUT]),
    "UnreadableObjectFoundByTheScan": ExpectedPath(
        [*QUERY_FAILED, "PlanLogScan", "AnythingToScan", "ScanLogs", *LEFT_OUT], ["ScanLogBatch"]
    ),
    "IntegrityValidated": ExpectedPath(
        [
            "ValidateInput",
            *ADDING,
            "IsIntegrityDue",
            "PlanIntegrity",
            "AnythingToValidate",
            "ValidateIntegrity",
            "SummariseIntegrity",
            *REPORTING,
            "Done",
        ],
        ["ValidateBatch"],
    ),
    "SesRejected": ExpectedPath([*NIGHT, *REPORTING, *NOTIFIED]),
}
