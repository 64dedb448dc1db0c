-- trailkeeper daily activity, version 2 (version 1 without the writes and detections columns).
-- One row per (account, region, principal, eventsource, eventname) for one report day D (UTC).
--
-- Filled in by trailkeeper/report/query.py, never by hand:
--   the two brace placeholders: the validated "database"."table" reference, and the partition filter
--     built from the table's partition keys (identifiers cannot be bound as parameters);
--   the positional parameters, in text order: the partition values of D and D+1, then D and D+1 as
--     'YYYY-MM-DD' literals (Athena ExecutionParameters, taken from validated dates only).
-- Full-line comments are removed before the text is sent, so they may say anything but a placeholder.
--
-- Why D and D+1: CloudTrail folders are delivery days, so events of late D sit in D+1 folders.
-- Why a string comparison on eventtime: it is always 'YYYY-MM-DDTHH:MM:SSZ', which sorts like time,
-- and 'YYYY-MM-DD' sorts before every instant of that day; nothing is parsed, nothing can fail.
-- Why the principal CASE: sessions must not look new every day (see README, "Principals"); a principal
-- is never NULL, so keys compare cleanly after the CSV round trip.
-- Why sorted, capped samples: the same input gives the same row, byte for byte (diffs and tests).
-- Every output expression is aliased: Athena would name the others _colN.
-- count_if gets a never-NULL condition: engines differ on count_if over only NULLs (0 or NULL).
-- Why the detection placeholders: the nightly detections run in this same scan of D and D+1 (issue 15).
--   the flags placeholder becomes ", <predicate> AS d_<id>, ..." (one never-NULL boolean per detection and
--   escalation, from trailkeeper/detections/evaluate.py), the column placeholder the expression listing a
--   row's matched detections as "<id>:<events>:<escalated>:<first time>" tokens. Both come from the
--   catalog's allow-listed parts only.
WITH day_events AS (
    SELECT
        recipientaccountid AS account,
        awsregion AS region,
        CASE useridentity.type
            WHEN 'AssumedRole' THEN coalesce(nullif(useridentity.sessioncontext.sessionissuer.arn, ''), 'AssumedRole')
            WHEN 'IAMUser' THEN coalesce(nullif(useridentity.arn, ''), 'IAMUser')
            WHEN 'Root' THEN 'root'
            WHEN 'AWSService' THEN coalesce(nullif(useridentity.invokedby, ''), 'AWSService')
            ELSE coalesce(nullif(useridentity.type, ''), 'Unknown')
        END AS principal,
        eventsource AS eventsource,
        eventname AS eventname,
        eventtime AS eventtime,
        errorcode AS errorcode,
        sourceipaddress AS sourceipaddress,
        useragent AS useragent,
        readonly AS readonly{detection_flags}
    FROM {table}
    WHERE ({partition_filter})
        AND eventtime >= ?
        AND eventtime < ?
)
SELECT
    account AS account,
    region AS region,
    principal AS principal,
    eventsource AS eventsource,
    eventname AS eventname,
    count(*) AS events,
    count_if(coalesce(errorcode, '') <> '') AS errors,
    min(eventtime) AS first_seen,
    array_join(
        slice(array_sort(array_agg(DISTINCT sourceipaddress) FILTER (WHERE sourceipaddress <> '')), 1, 3),
        ' | '
    ) AS sample_source_ips,
    array_join(
        slice(array_sort(array_agg(DISTINCT useragent) FILTER (WHERE useragent <> '')), 1, 3),
        ' | '
    ) AS sample_user_agents,
    count_if(coalesce(readonly, '') = 'false') AS writes,
    {detections_column} AS detections
FROM day_events
GROUP BY account, region, principal, eventsource, eventname
ORDER BY account, region, principal, eventsource, eventname
