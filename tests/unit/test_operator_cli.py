"""`trailkeeper plan|backfill|status --stack NAME` against the real state machine on the embedded runtime.

The stack's resources are EmbeddedAws's (template.yaml on moto, handlers and ASL for real). CloudFormation is the
one part answered by botocore's Stubber: moto's CloudFormation needs packages this project does not install
(openapi-spec-validator and its dependencies), and the CLI only reads DescribeStacks and ListStackResources,
whose answers the Stubber checks against the service model.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from localaws.local_run import LOCAL_PARAMETERS, detect_layout
from localaws.patches.awslambda import InjectedFault
from localaws.runtime import EmbeddedAws
from tests.helpers import FIXTURES, ROOT, asl, template
from trailgen.generator import materialise_fixture
from trailkeeper import allowlist, layout
from trailkeeper_cli import history
from trailkeeper_cli import main as cli
from trailkeeper_cli import operator as ops

STACK = "trailkeeper"
START, END = "2024-03-09", "2024-03-10"
ACCOUNT = "111122223333"
# The README's "Operating a deployed stack" commands, exactly (a test checks the README against these).
PLAN = ["plan", "--stack", STACK, "--start", START, "--end", END]
PLAN_SQL = [*PLAN, "--show-sql"]
BACKFILL = ["backfill", "--stack", STACK, "--start", START, "--end", END]
BACKFILL_ONE_ACCOUNT = [*BACKFILL, "--accounts", ACCOUNT]
STATUS = ["status", "--stack", STACK]
README_COMMANDS = [PLAN, PLAN_SQL, BACKFILL, BACKFILL_ONE_ACCOUNT, STATUS]
ALARMS = sorted(lid for lid, r in template()["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm")
NOW = dt.datetime(2024, 3, 11, 2, 0, tzinfo=dt.UTC)


class Deployed:
    """The embedded stack as `trailkeeper --stack` sees it: CloudFormation answers naming its resources."""

    def __init__(self, aws: EmbeddedAws) -> None:
        self.aws = aws
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        self.stubber = Stubber(cloudformation)
        self.stubber.activate()
        self.clients = ops.Clients(
            cloudformation, aws.client("stepfunctions"), aws.client("s3"), aws.client("cloudwatch")
        )
        self.alarm_names = {lid: f"{STACK}-{lid}-0A1B2C3D4E5F" for lid in ALARMS}
        for lid, name in self.alarm_names.items():
            aws.client("cloudwatch").put_metric_alarm(
                AlarmName=name,
                AlarmDescription=template()["Resources"][lid]["Properties"]["AlarmDescription"],
                Namespace="AWS/States",
                MetricName="ExecutionsFailed",
                Statistic="Sum",
                Period=3600,
                EvaluationPeriods=1,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            )
        self.outputs = {
            "StateMachineArn": aws.state_machine_arn,
            "ResultsBucketName": aws.physical["ResultsBucket"],
            "WorkGroupName": aws.physical["AthenaWorkGroup"],
            "TableName": f"{aws.parameters['DatabaseName']}.{aws.parameters['TableName']}",
            "FailureTopicArn": aws.physical["FailureTopic"],
        }

    def run(self, argv: list[str]) -> int:
        """One CLI command; it looks the stack up exactly once."""
        self.answer_stack_lookup(self.outputs)
        code = cli.main(argv, clients=self.clients, poll_seconds=0.005, timeout_seconds=60)
        self.stubber.assert_no_pending_responses()
        return code

    def answer_stack_lookup(self, outputs: dict[str, str]) -> None:
        self.stubber.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": STACK,
                        "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/1",
                        "CreationTime": NOW,
                        "StackStatus": "CREATE_COMPLETE",
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                    }
                ]
            },
            {"StackName": STACK},
        )
        resources = [
            ("TrailkeeperStateMachine", self.aws.state_machine_arn, "AWS::StepFunctions::StateMachine"),
            *((lid, name, "AWS::CloudWatch::Alarm") for lid, name in self.alarm_names.items()),
        ]
        self.stubber.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": [
                    {
                        "LogicalResourceId": lid,
                        "PhysicalResourceId": physical,
                        "ResourceType": kind,
                        "LastUpdatedTimestamp": NOW,
                        "ResourceStatus": "CREATE_COMPLETE",
                    }
                    for lid, physical, kind in resources
                ]
            },
            {"StackName": STACK},
        )

    def catalog(self) -> set[tuple[str, ...]]:
        pages = (
            self.aws.client("glue")
            .get_paginator("get_partitions")
            .paginate(DatabaseName=self.aws.parameters["DatabaseName"], TableName=self.aws.parameters["TableName"])
        )
        return {tuple(p["Values"]) for page in pages for p in page["Partitions"]}

    def executions(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.clients.stepfunctions.list_executions(
            stateMachineArn=self.aws.state_machine_arn
        )["executions"]
        return listed


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployed]:
    logs = tmp_path / "logs"
    materialise_fixture(FIXTURES / "trail-bucket-src", logs)
    with EmbeddedAws.running(parameters={**LOCAL_PARAMETERS, **detect_layout(logs)}) as aws:
        aws.upload_directory(logs, aws.parameters["TrailBucketName"])
        stack = Deployed(aws)
        yield stack
        stack.stubber.deactivate()


def run_nights(deployed: Deployed, *report_days: str) -> None:
    """Scheduled executions as EventBridge Scheduler starts them: {"time": <the next day, 01:30Z>}."""
    for day in report_days:
        run_day = dt.date.fromisoformat(day) + dt.timedelta(days=1)
        result = deployed.aws.run_execution({"time": f"{run_day}T01:30:00Z"}, name=f"nightly-{day}")
        assert result.status == "SUCCEEDED", result.cause


# ------------------------------------------------------------------------------------------------ plan


def test_plan_prints_the_missing_partitions_and_adds_nothing(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deployed.run(PLAN) == 0

    out = capsys.readouterr().out
    assert "8 partitions expected, 0 already there, 8 missing" in out
    assert "partitions it would add (8):" in out
    listed = re.findall(r"^  account=([0-9]{12}) region=(\S+) dt=(\S+)  s3://", out, flags=re.MULTILINE)
    assert len(set(listed)) == 8
    assert re.search(
        rf"^statements: s3://{deployed.outputs['ResultsBucketName']}/runs/plan-{START}-{END}-"
        r"[0-9a-f]{10}/shards/<shard>/statements/$",
        out,
        flags=re.MULTILINE,
    )
    assert deployed.catalog() == set()


def test_plan_show_sql_prints_each_statement_under_its_s3_key(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deployed.run(PLAN_SQL) == 0

    out = capsys.readouterr().out
    key = re.search(r"^-- (s3://\S+/statements/0\.sql)$", out, flags=re.MULTILINE)
    assert key is not None
    statement = out[key.end() :].lstrip("\n").splitlines()[0]
    assert statement.startswith("ALTER TABLE `trailkeeper`.`cloudtrail` ADD IF NOT EXISTS PARTITION (")
    assert statement.count(" PARTITION (") == 8


def test_plan_does_not_start_a_backfill_nor_reuse_an_earlier_plan(deployed: Deployed) -> None:
    assert deployed.run(PLAN) == 0
    assert deployed.run(PLAN) == 0

    names = [e["name"] for e in deployed.executions()]
    assert len(set(names)) == 2 and all(name.startswith("plan-") for name in names)


# ------------------------------------------------------------------------------------------------ backfill


def test_backfill_twice_starts_exactly_one_execution(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert deployed.run(BACKFILL) == 0
    assert deployed.run(BACKFILL) == 0

    assert len(deployed.executions()) == 1
    assert "already exists (same request): following it, not starting another" in capsys.readouterr().err


def test_backfill_reports_each_state_as_it_goes_and_prints_the_summary(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deployed.run(BACKFILL) == 0

    captured = capsys.readouterr()
    entered = re.findall(r"^[0-9]{2}:[0-9]{2}:[0-9]{2} (\w+)$", captured.err, flags=re.MULTILINE)
    assert entered == [
        "ValidateInput",
        "IsBackfill",
        "PlanShards",
        "ReconcileShards",
        "SummariseShards",
        "BackfillDone",
    ]
    assert (
        f"  shard s00000 [1/1] {START}..{END}, 2 account(s): 8 added in 1 statement(s), 0 already there"
        in captured.err.splitlines()
    )
    assert "8 added in 1 statement(s)" in captured.out
    assert "1 of 1 shard(s) done" in captured.out.splitlines()
    assert len(deployed.catalog()) == 8


def test_backfill_of_one_account_adds_only_its_partitions(deployed: Deployed) -> None:
    assert deployed.run(BACKFILL_ONE_ACCOUNT) == 0

    assert {values[0] for values in deployed.catalog()} == {ACCOUNT}
    assert len(deployed.catalog()) == 4


def test_a_failed_backfill_exits_1_naming_the_state_and_cause(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    def unsupported_table(function: str, event: Any) -> None:
        if "PlanPartitions" in function:
            raise InjectedFault("UnsupportedPartitionScheme", "table partition keys (day) are not supported")

    deployed.aws.fault_injector = unsupported_table
    assert deployed.run(BACKFILL) == 1

    captured = capsys.readouterr()
    assert re.search(
        r"FAILED at SummariseShards: ShardsFailed: 1 of 1 shards did not finish \(s00000\); s00000: "
        r"UnsupportedPartitionScheme: table partition keys \(day\) are not supported\.",
        captured.out,
    )
    assert re.search(
        rf"^to run only the unfinished shards: trailkeeper backfill --stack {STACK} --resume "
        rf"backfill-{START}-{END}-[0-9a-f]{{10}}$",
        captured.out,
        flags=re.MULTILINE,
    )
    assert re.search(
        r"^  shard s00000 FAILED .*: UnsupportedPartitionScheme: table partition keys \(day\) are "
        r"not supported$",
        captured.err,
        flags=re.MULTILINE,
    )


def test_a_failure_before_the_shards_run_is_named_with_its_redrive_command(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    def unsupported_table(function: str, event: Any) -> None:
        if "PlanShards" in function:
            raise InjectedFault("UnsupportedPartitionScheme", "table partition keys (day) are not supported")

    deployed.aws.fault_injector = unsupported_table
    assert deployed.run(BACKFILL) == 1

    out = capsys.readouterr().out
    assert re.search(
        r"FAILED at PlanShards: UnsupportedPartitionScheme: "
        r"table partition keys \(day\) are not supported$",
        out,
        flags=re.MULTILINE,
    )
    assert "aws stepfunctions redrive-execution --execution-arn arn:aws:states:" in out


def test_resume_runs_only_the_shards_that_did_not_finish(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    over_a_month_end = ["backfill", "--stack", STACK, "--start", "2024-02-28", "--end", END]  # two shards

    def february_fails(function: str, event: Any) -> None:
        if "PlanPartitions" in function and event["request"]["start"] == "2024-02-28":
            raise InjectedFault("TableNotFound", "injected")

    deployed.aws.fault_injector = february_fails
    assert deployed.run(over_a_month_end) == 1
    name = re.search(r"--resume (\S+)$", capsys.readouterr().out, flags=re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert {values[-1] for values in deployed.catalog()} == {f"2024-03-{day:02d}" for day in range(1, 11)}

    deployed.aws.fault_injector = None
    assert deployed.run(["backfill", "--stack", STACK, "--resume", name]) == 0

    captured = capsys.readouterr()
    assert f"1 of 1 shard(s) done; resumed {name}, whose other 1 shard(s) were done" in captured.out
    assert re.findall(r"^  shard (s[0-9]{5}) ", captured.err, flags=re.MULTILINE) == ["s00000"]
    assert len(deployed.catalog()) == 4 * 12


def test_following_reads_newest_history_pages_only_back_to_what_it_has_seen() -> None:
    # Step Functions pages history newest first with reverseOrder (moto 5.2.5 ignores it: one page, oldest first).
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = "arn:aws:states:us-east-1:123456789012:execution:trailkeeper:backfill-x"
    described = {"executionArn": arn, "stateMachineArn": arn, "name": "backfill-x", "startDate": NOW}
    history = {"executionArn": arn, "reverseOrder": True, "maxResults": 1000}

    def events(*ids: int) -> list[dict[str, Any]]:
        return [
            {"id": i, "timestamp": NOW, "type": "PassStateEntered", "stateEnteredEventDetails": {"name": f"S{i}"}}
            for i in ids
        ]

    with Stubber(sfn) as stubber:
        stubber.add_response("describe_execution", {**described, "status": "RUNNING"}, {"executionArn": arn})
        stubber.add_response("get_execution_history", {"events": events(3, 2, 1)}, history)
        stubber.add_response(
            "describe_execution", {**described, "status": "SUCCEEDED", "output": "{}"}, {"executionArn": arn}
        )
        stubber.add_response("get_execution_history", {"events": events(6, 5, 4), "nextToken": "page2"}, history)
        stubber.add_response(
            "get_execution_history",
            {"events": events(3, 2, 1), "nextToken": "page3"},
            {**history, "nextToken": "page2"},
        )
        lines: list[str] = []
        finished = ops.follow(sfn, arn, lines.append, sleep=lambda seconds: None)
        stubber.assert_no_pending_responses()

    assert finished.status == "SUCCEEDED"
    assert [line.split()[-1] for line in lines] == ["S1", "S2", "S3", "S4", "S5", "S6"]


def test_the_same_request_has_the_same_execution_name_whatever_the_order() -> None:
    day1, day2 = dt.date(2024, 1, 1), dt.date(2024, 1, 31)
    one = ops.backfill_request(day1, day2, ["222222222222", "111111111111"], ["us-east-1"])
    same = ops.backfill_request(day1, day2, ["111111111111", "222222222222", "111111111111"], ["us-east-1"])
    other = ops.backfill_request(day1, day2, ["111111111111", "222222222222"], ["eu-west-1"])

    assert ops.backfill_execution_name(one) == ops.backfill_execution_name(same)
    assert ops.backfill_execution_name(one) != ops.backfill_execution_name(other)
    assert ops.backfill_execution_name(one).startswith("backfill-2024-01-01-2024-01-31-")
    # PlanPartitions refuses a run name outside this allow-list (it becomes an S3 key prefix).
    assert allowlist.EXECUTION_NAME.fullmatch(ops.backfill_execution_name(one))


# ------------------------------------------------------------------------------------------------ status


def test_status_lists_the_nightly_executions_most_recent_first(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    run_nights(deployed, "2024-03-09", "2024-03-10")
    deployed.aws.run_execution({"start": START, "end": END}, name="backfill-by-hand")

    assert deployed.run(STATUS) == 0

    out = capsys.readouterr().out
    listed = re.findall(r"^  \S+Z  (\w+)\s+(\S+)$", out, flags=re.MULTILINE)
    assert listed == [("SUCCEEDED", "nightly-2024-03-10"), ("SUCCEEDED", "nightly-2024-03-09")]


def test_status_shows_the_last_report_day_that_was_emailed(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    run_nights(deployed, "2024-03-09", "2024-03-10")

    assert deployed.run(STATUS) == 0

    assert "last report day: 2024-03-10" in capsys.readouterr().out.splitlines()


def test_status_lists_only_the_stacks_alarms_that_are_in_alarm(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudwatch = deployed.aws.client("cloudwatch")
    firing = deployed.alarm_names["ExecutionsFailedAlarm"]
    cloudwatch.set_alarm_state(AlarmName=firing, StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint")
    cloudwatch.put_metric_alarm(
        AlarmName="someone-elses-alarm",
        Namespace="X",
        MetricName="Y",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="someone-elses-alarm", StateValue="ALARM", StateReason="not ours")

    assert deployed.run(STATUS) == 0

    out = capsys.readouterr().out
    assert f"alarms in ALARM: 1 of {len(ALARMS)}" in out
    assert re.search(rf"^  {firing} since \S+Z: A trailkeeper execution failed;", out, flags=re.MULTILINE)
    assert "    Threshold Crossed: 1 datapoint" in out.splitlines()
    assert "someone-elses-alarm" not in out


def test_last_report_day_skips_a_day_whose_email_was_only_claimed(deployed: Deployed) -> None:
    s3, bucket = deployed.aws.client("s3"), deployed.outputs["ResultsBucketName"]
    for day, name, body in [
        (9, layout.SENT_MARKER, b'{"state": "sent"}'),
        (10, layout.SENT_MARKER, b'{"state": "sending"}'),
        (11, layout.REPORT_TEXT, b"built, never sent"),
    ]:
        s3.put_object(Bucket=bucket, Key=layout.report_key(dt.date(2024, 3, day), name), Body=body)

    assert ops.last_report_day(s3, bucket) == "2024-03-09"


# ------------------------------------------------------------------------------------------------ errors and contracts


def test_a_stack_without_trailkeeper_outputs_exits_2_with_a_clear_message(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.answer_stack_lookup({"SomethingElse": "x"})
    assert cli.main(STATUS, clients=deployed.clients) == 2
    assert capsys.readouterr().err == (
        "trailkeeper: stack trailkeeper has no output StateMachineArn, ResultsBucketName: is it a trailkeeper stack?\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        [*BACKFILL, "--logs", "logs"],
        ["plan", "--logs", "logs", "--start", START, "--end", END],
    ],
    ids=["backfill with --stack and --logs", "plan without --stack"],
)
def test_stack_commands_reject_a_logs_folder(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2


def test_the_outputs_the_cli_reads_are_declared_by_the_template() -> None:
    assert set(ops.REQUIRED_OUTPUTS) <= set(template()["Outputs"])


def test_the_failure_path_states_exist_in_the_definition() -> None:
    states = asl()["States"]
    assert set(states) >= history.FAILURE_PATH_STATES
    assert states["NotifyFailure"]["Next"] == "Failed"


def test_readme_shows_exactly_the_operator_commands_the_tests_run() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Operating a deployed stack", 1)[1].split("\n## ", 1)[0]
    shown = re.findall(r"^trailkeeper (.+)$", section, flags=re.MULTILINE)
    assert shown == [" ".join(argv) for argv in README_COMMANDS]
