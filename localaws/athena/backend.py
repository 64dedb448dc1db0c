"""moto's Athena, made to run SQL for real (moto==5.2.5): DuckDB for SELECT, moto's Glue for partition DDL.

moto 5.2.5 Athena executes nothing: every query SUCCEEDS, broken or injected DDL included, and results exist only
if a test queues them. `install()` replaces five methods so that a query runs synchronously when it starts
(see engine.py) and the execution then reports what Athena would:

* `AthenaBackend.start_query_execution` - runs the statement; SUCCEEDED or FAILED with the engine's reason;
  the result goes to `<OutputLocation>/<QueryExecutionId>.csv` (`.txt` for DDL, as Athena names them), the
  location coming from the request or from the WorkGroup (its setting wins when the WorkGroup enforces it).
* `AthenaBackend.stop_query_execution` - moto would turn a finished query into CANCELLED; Athena leaves it.
* `AthenaResponse.start_query_execution` - moto drops ClientRequestToken and the default WorkGroup; Athena
  returns the same execution for a repeated token (idempotent start).
* `AthenaResponse.get_query_execution` - moto hard-codes SUCCEEDED-style statistics; report the real state,
  StateChangeReason, StatementType, DataScannedInBytes and OutputLocation.
* `AthenaResponse.get_query_results` - moto ignores MaxResults/NextToken; page like Athena (<= 1,000 rows,
  header row first for SELECT) and refuse results of a query that did not succeed.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.athena.models import AthenaBackend, Execution, QueryResults, WorkGroup
from moto.athena.responses import AthenaResponse
from moto.core.exceptions import JsonRESTError

from localaws.athena.catalog import DEFAULT_CATALOG, QueryFailed, put_result
from localaws.athena.engine import Outcome, execute, statement_type
from localaws.athena.results import column_info, csv_bytes, result_rows, text_bytes
from localaws.counters import Counters, QueryStats
from localaws.patches import Undo, replace, undo_all

MAX_RESULTS = 1000  # GetQueryResults' maximum page size
_MOTO_GET_QUERY_EXECUTION = AthenaResponse.get_query_execution


class InvalidRequest(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidRequestException", message)


class EngineExecution(Execution):
    """An Athena query execution that really ran; kept in moto's `AthenaBackend.executions`."""

    def __init__(
        self,
        *,
        query: str,
        context: dict[str, Any] | None,
        workgroup: WorkGroup | None,
        execution_parameters: list[str] | None,
        result_configuration: dict[str, Any],
        client_request_token: str | None,
    ) -> None:
        super().__init__(query, context, None, workgroup, execution_parameters)  # type: ignore[arg-type]
        self.config = result_configuration
        self.client_request_token = client_request_token
        self.statement_type, _ = statement_type(query)
        self.state_change_reason: str | None = None
        self.data_scanned_bytes = 0
        self.engine_millis = 0

    def same_request(
        self, query: str, context: dict[str, Any] | None, workgroup: WorkGroup | None, parameters: list[str] | None
    ) -> bool:
        return (self.query, self.context, self.workgroup, self.execution_parameters) == (
            query,
            context,
            workgroup,
            parameters,
        )


@dataclass
class _Engine:
    counters: Counters
    lock: threading.Lock


_engine: _Engine | None = None


def install(counters: Counters) -> Undo:
    """Patch moto's Athena (call inside an active `mock_aws()`); returns the callable that undoes it."""
    global _engine
    if _engine is not None:
        raise RuntimeError("the embedded Athena engine is already installed")
    undo_patches = undo_all([replace(owner, name, replacement) for owner, name, replacement in _PATCHES])
    _engine = _Engine(counters, threading.Lock())

    def undo() -> None:
        global _engine
        undo_patches()
        _engine = None

    return undo


def _active() -> _Engine:
    if _engine is None:
        raise RuntimeError("the embedded Athena engine is not installed")
    return _engine


def _backend_start_query_execution(
    self: AthenaBackend,
    query: str,
    context: dict[str, Any] | None,
    config: dict[str, Any] | None,
    workgroup: str | None,
    execution_parameters: list[str] | None,
    client_request_token: str | None = None,
) -> str:
    """Replaces AthenaBackend.start_query_execution: run the statement now, record it, write its result.

    The execution joins `self.executions` only once it has ended, so nobody can observe it half-way (moto's
    state model would report a QUEUED execution as SUCCEEDED)."""
    engine = _active()
    work_group = self.work_groups.get(workgroup or "primary")
    with engine.lock:  # one query at a time: DuckDB work, Glue updates and the token check stay consistent
        if client_request_token:
            for previous in self.executions.values():
                if isinstance(previous, EngineExecution) and previous.client_request_token == client_request_token:
                    if not previous.same_request(query, context, work_group, execution_parameters):
                        raise InvalidRequest(
                            "ClientRequestToken was already used by a different StartQueryExecution request"
                        )
                    return previous.id
        execution = EngineExecution(
            query=query,
            context=context,
            workgroup=work_group,
            execution_parameters=execution_parameters,
            result_configuration=_result_configuration(work_group, config),
            client_request_token=client_request_token,
        )
        suffix = ".txt" if execution.statement_type == "DDL" else ".csv"
        location = execution.config["OutputLocation"]
        execution.config["OutputLocation"] = f"{location}{'' if location.endswith('/') else '/'}{execution.id}{suffix}"
        started = time.perf_counter()
        outcome = _run(self, execution)
        execution.engine_millis = round((time.perf_counter() - started) * 1000)
        self.executions[execution.id] = execution
        engine.counters.queries.append(
            QueryStats(
                execution.id,
                outcome.statement_type,
                outcome.state,
                outcome.objects_read,
                outcome.bytes_read,
                outcome.partitions_read,
            )
        )
    return execution.id


def _run(backend: AthenaBackend, execution: EngineExecution) -> Outcome:
    context: dict[str, Any] = execution.context if isinstance(execution.context, dict) else {}
    catalog = str(context.get("Catalog") or DEFAULT_CATALOG)
    if catalog.lower() != DEFAULT_CATALOG:
        outcome = Outcome(execution.statement_type, "FAILED", f"CATALOG_NOT_FOUND: Catalog '{catalog}' does not exist")
    else:
        database = str(context.get("Database") or "default")
        outcome = execute(
            execution.query, database, execution.execution_parameters or [], backend.account_id, backend.region_name
        )
    if outcome.state == "SUCCEEDED" and outcome.result is not None:
        result = outcome.result
        body = csv_bytes(result) if execution.statement_type == "DML" else text_bytes([r[0] or "" for r in result.rows])
        try:
            put_result(backend.account_id, backend.region_name, execution.config["OutputLocation"], body)
        except QueryFailed as failure:
            outcome.state, outcome.reason = "FAILED", str(failure)
        else:
            backend.query_results[execution.id] = QueryResults(
                rows=result_rows(result), column_info=column_info(result)
            )
    execution.status = outcome.state
    execution.state_change_reason = outcome.reason
    execution.data_scanned_bytes = outcome.bytes_read
    execution.end_time = time.time()
    return outcome


def _result_configuration(work_group: WorkGroup | None, requested: dict[str, Any] | None) -> dict[str, Any]:
    """Athena's rule: the WorkGroup's ResultConfiguration wins if it enforces it, else the request's settings do."""
    configuration = work_group.configuration if work_group else {}
    from_work_group = dict(configuration.get("ResultConfiguration") or {})
    if configuration.get("EnforceWorkGroupConfiguration", True) and from_work_group.get("OutputLocation"):
        chosen = from_work_group
    else:
        chosen = {**from_work_group, **(requested or {})}
    if not chosen.get("OutputLocation"):
        raise InvalidRequest(
            "No output location provided. An output location is required either through the Workgroup result "
            "configuration setting or as an API input."
        )
    return chosen


def _backend_stop_query_execution(self: AthenaBackend, exec_id: str) -> None:
    """Replaces AthenaBackend.stop_query_execution: only a query still queued or running can be cancelled."""
    execution = self.executions[exec_id]
    if execution.status in ("QUEUED", "RUNNING"):
        execution.status = "CANCELLED"


def _response_start_query_execution(self: AthenaResponse) -> str | tuple[str, dict[str, int]]:
    """Replaces AthenaResponse.start_query_execution: also pass ClientRequestToken; WorkGroup defaults to primary."""
    workgroup = self._get_param("WorkGroup") or "primary"
    if not self.athena_backend.get_work_group(workgroup):
        return self.error(f"WorkGroup {workgroup} is not found.", 400)
    execution_id = _backend_start_query_execution(
        self.athena_backend,
        query=self._get_param("QueryString"),
        context=self._get_param("QueryExecutionContext"),
        config=self._get_param("ResultConfiguration"),
        workgroup=workgroup,
        execution_parameters=self._get_param("ExecutionParameters"),
        client_request_token=self._get_param("ClientRequestToken"),
    )
    return json.dumps({"QueryExecutionId": execution_id})


def _response_get_query_execution(self: AthenaResponse) -> str | tuple[str, dict[str, int]]:
    """Replaces AthenaResponse.get_query_execution: the execution as it really ended."""
    exec_id = self._get_param("QueryExecutionId")
    execution = self.athena_backend.executions.get(exec_id)
    if execution is None:
        return self.error(f"QueryExecution {exec_id} was not found", 400)
    if not isinstance(execution, EngineExecution):  # started before install()
        return _MOTO_GET_QUERY_EXECUTION(self)
    return json.dumps({"QueryExecution": describe(execution)})


def describe(execution: EngineExecution) -> dict[str, Any]:
    """The GetQueryExecution `QueryExecution` of an engine execution."""
    status: dict[str, Any] = {
        "State": execution.status,
        "SubmissionDateTime": execution.start_time,
        "CompletionDateTime": execution.end_time,
    }
    if execution.state_change_reason:
        status["StateChangeReason"] = execution.state_change_reason
        status["AthenaError"] = {"ErrorCategory": 2, "Retryable": False, "ErrorMessage": execution.state_change_reason}
    work_group = execution.workgroup
    engine_version = (work_group.configuration.get("EngineVersion") if work_group else None) or {
        "SelectedEngineVersion": "AUTO",
        "EffectiveEngineVersion": "Athena engine version 3",
    }
    described: dict[str, Any] = {
        "QueryExecutionId": execution.id,
        "Query": execution.query,
        "StatementType": execution.statement_type,
        "ResultConfiguration": execution.config,
        "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
        "QueryExecutionContext": execution.context or {},
        "Status": status,
        "Statistics": {
            "EngineExecutionTimeInMillis": execution.engine_millis,
            "DataScannedInBytes": execution.data_scanned_bytes,
            "TotalExecutionTimeInMillis": execution.engine_millis,
            "QueryQueueTimeInMillis": 0,
            "ServicePreProcessingTimeInMillis": 0,
            "QueryPlanningTimeInMillis": 0,
            "ServiceProcessingTimeInMillis": 0,
            "ResultReuseInformation": {"ReusedPreviousResult": False},
        },
        "WorkGroup": work_group.name if work_group else "primary",
        "EngineVersion": engine_version,
    }
    if execution.execution_parameters:
        described["ExecutionParameters"] = execution.execution_parameters
    return described


def _response_get_query_results(self: AthenaResponse) -> str | tuple[str, dict[str, int]]:
    """Replaces AthenaResponse.get_query_results: pages of at most MaxResults rows, with NextToken."""
    exec_id = self._get_param("QueryExecutionId")
    execution = self.athena_backend.executions.get(exec_id)
    if execution is None:
        return self.error(f"QueryExecution {exec_id} was not found", 400)
    state = execution.status
    if state in ("FAILED", "CANCELLED"):
        return self.error(f"Query did not finish successfully. Final query state: {state}", 400)
    if state != "SUCCEEDED":
        return self.error(f"Query has not yet finished. Current state: {state}", 400)
    page_size = self._get_param("MaxResults") or MAX_RESULTS
    if not 1 <= int(page_size) <= MAX_RESULTS:
        return self.error(f"MaxResults must be between 1 and {MAX_RESULTS}", 400)
    offset = _offset_of(self._get_param("NextToken"), exec_id)
    if offset is None:
        return self.error("Invalid NextToken", 400)
    results = self.athena_backend.get_query_results(exec_id)
    end = offset + int(page_size)
    body: dict[str, Any] = {
        "ResultSet": {"Rows": results.rows[offset:end], "ResultSetMetadata": {"ColumnInfo": results.column_info}},
        "UpdateCount": 0,
    }
    if end < len(results.rows):
        body["NextToken"] = base64.urlsafe_b64encode(f"{exec_id}:{end}".encode()).decode()
    return json.dumps(body)


def _offset_of(token: str | None, exec_id: str) -> int | None:
    if not token:
        return 0
    try:
        owner, _, offset = base64.urlsafe_b64decode(token.encode()).decode().rpartition(":")
        return int(offset) if owner == exec_id and int(offset) >= 0 else None
    except ValueError:
        return None


_PATCHES: tuple[tuple[type, str, Callable[..., Any]], ...] = (
    (AthenaBackend, "start_query_execution", _backend_start_query_execution),
    (AthenaBackend, "stop_query_execution", _backend_stop_query_execution),
    (AthenaResponse, "start_query_execution", _response_start_query_execution),
    (AthenaResponse, "get_query_execution", _response_get_query_execution),
    (AthenaResponse, "get_query_results", _response_get_query_results),
)
