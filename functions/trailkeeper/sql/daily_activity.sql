-- trailkeeper daily activity, version 4 (version 3 without the dropped column and rows, version 2 also
-- without the writes and detections columns).
-- One row per (account, region, principal, eventsource, eventname) for one report day D (UTC), then one row per
-- reason with dropped records: every key column '', `dropped` the reason, `events` the count.
--
-- Filled in by trailkeeper/report/query.py, never by hand:
--   the three brace placeholders: the account expression (the "account" partition column, or the one
--     account of a single-account table as a literal read from its LOCATION), the validated
--     "database"."table" reference, and the partition filter built from the table's partition keys
--     (identifiers cannot be bound as parameters);
--   the positional parameters, in text order: D and D+1 as 'YYYY-MM-DD' literals (the day kept), the
--     partition values of D (the folder whose dropped records are counted), D - 1 and D + 1 as literals (its
--     bounds, trailkeeper/dropped.py), then the partition values of D and D+1 (Athena ExecutionParameters,
--     taken from validated dates only);
--   the dropped placeholders: the reasons' names, from trailkeeper/dropped.py.
-- Full-line comments are removed before the text is sent, so they may say anything but a placeholder.
--
-- Why D and D+1: CloudTrail folders are delivery days, so events of late D sit in D+1 folders.
-- Why a string comparison on eventtime: CloudTrail writes 'YYYY-MM-DDTHH:MM:SSZ', which sorts like time,
-- and 'YYYY-MM-DD' sorts before every instant of that day; nothing is parsed, nothing can fail. A value of
-- another shape (every digit made 0, it is not '0000-00-00T00:00:00Z') is never kept: it is dropped.
-- Why the dropped rows (issue 12): no record may vanish without a trace. A record of D's folder is dropped when
-- its eventtime is not of that shape, or lies outside [D - 1 day, D + 1 day): then no report counts it (report
-- D' reads the folders D' and D'+1). Only D's folder is counted, so each folder is counted once, complete
-- (folders are delivery days); D+1's folder is counted by the next day's report. The drops are counted in this
-- same scan (one table reference: Athena would read a second reference again): dropped rows go through the
-- grouping with blank keys and their reason as `dropped`; every other aggregate is empty for them.
-- Why the account of the partition: it is the folder CloudTrail wrote, present on every record;
-- recipientAccountId is missing from some records (README, "Principals and failures").
-- Why the principal CASE: one actor is one principal and two actors are never one; sessions that
-- change every day (instance ids, CI run ids) are not actors and go to the samples instead. The rules
-- and a published record for each are in the README table "Principals and failures"; the generator's
-- principal_of() implements them independently for the end-to-end tests. A principal is never NULL.
-- Why the failure rule: sign-in failures carry no errorCode; AWS documents them as
-- responseElements.ConsoleLogin = 'Failure', serviceEventDetails.<step> = 'Failure' (CredentialChallenge,
-- CredentialVerification, UserAuthentication) and an errorMessage such as 'Failed authentication'.
-- Why every text value is cut to {value_chars} characters (the placeholder is filled from
-- report/activity.py VALUE_CHARS): one attacker-long field (a 200,000-character user agent) must not make
-- a cell the csv module refuses to read; the reader's limit is computed from this cap.
-- Why sorted, capped samples: the same input gives the same row, byte for byte (diffs and tests).
-- Every output expression is aliased: Athena would name the others _colN.
-- count_if gets a never-NULL condition: engines differ on count_if over only NULLs (0 or NULL).
-- Why the detection placeholders: the nightly detections run in this same scan of D and D+1 (issue 15).
--   the flags placeholder becomes ", <predicate> AS d_<id>, ..." (one never-NULL boolean per detection and
--   escalation, from trailkeeper/detections/evaluate.py), the column placeholder the expression listing a
--   row's matched detections as "<id>:<events>:<escalated>:<first time>" tokens, and the names placeholder
--   carries the flags through the identified CTE. All come from the catalog's allow-listed parts only.
WITH day_events AS (
    SELECT
        {account} AS account,
        substr(awsregion, 1, {value_chars}) AS region,
        useridentity AS who,
        coalesce(strpos(useridentity.sessioncontext.sessionissuer.arn, '/AWSReservedSSO_'), 0) > 0 AS sso,
        coalesce(useridentity.onbehalfof.userid, '') <> '' AS on_behalf,
        substr(eventsource, 1, {value_chars}) AS eventsource,
        substr(eventname, 1, {value_chars}) AS eventname,
        substr(eventtime, 1, {value_chars}) AS eventtime,
        (
            coalesce(errorcode, '') <> ''
            OR coalesce(errormessage, '') <> ''
            OR coalesce(json_extract_scalar(responseelements, '$.ConsoleLogin'), '') = 'Failure'
            OR coalesce(json_extract_scalar(serviceeventdetails, '$.CredentialChallenge'), '') = 'Failure'
            OR coalesce(json_extract_scalar(serviceeventdetails, '$.CredentialVerification'), '') = 'Failure'
            OR coalesce(json_extract_scalar(serviceeventdetails, '$.UserAuthentication'), '') = 'Failure'
        ) AS failed,
        substr(sourceipaddress, 1, {value_chars}) AS sourceipaddress,
        substr(useragent, 1, {value_chars}) AS useragent,
        readonly AS readonly{detection_flags},
        (
            coalesce(regexp_replace(eventtime, '[0-9]', '0') = '0000-00-00T00:00:00Z', false)
            AND eventtime >= ?
            AND eventtime < ?
        ) AS kept,
        (CASE
            WHEN NOT ({folder_day_filter}) THEN ''
            WHEN NOT coalesce(regexp_replace(eventtime, '[0-9]', '0') = '0000-00-00T00:00:00Z', false)
                THEN '{dropped_not_timestamp}'
            WHEN eventtime < ? OR eventtime >= ? THEN '{dropped_far_from_folder_day}'
            ELSE ''
        END) AS dropped
    FROM {table}
    WHERE ({partition_filter})
),
identified AS (
    SELECT
        (CASE WHEN kept THEN account ELSE '' END) AS account,
        (CASE WHEN kept THEN region ELSE '' END) AS region,
        (CASE WHEN NOT kept THEN '' ELSE substr(CASE who.type
            WHEN 'AssumedRole' THEN
                (CASE
                    WHEN sso AND coalesce(who.arn, '') <> '' THEN who.arn
                    ELSE coalesce(nullif(who.sessioncontext.sessionissuer.arn, ''), nullif(who.arn, ''), 'AssumedRole')
                END)
                || (CASE
                    WHEN on_behalf THEN ' on behalf of identitycenter:'
                        || coalesce(who.onbehalfof.identitystorearn, '') || '/' || who.onbehalfof.userid
                    ELSE ''
                END)
            WHEN 'IAMUser' THEN coalesce(nullif(who.arn, ''), nullif(who.username, ''), 'IAMUser')
            WHEN 'Root' THEN 'root'
            WHEN 'AWSService' THEN coalesce(nullif(who.invokedby, ''), 'AWSService')
            WHEN 'AWSAccount' THEN
                (CASE
                    WHEN coalesce(who.accountid, '') = 'ANONYMOUS_PRINCIPAL'
                        OR coalesce(who.principalid, '') = 'ANONYMOUS_PRINCIPAL' THEN 'anonymous'
                    ELSE 'account:' || coalesce(nullif(who.accountid, ''), nullif(who.principalid, ''), 'unknown')
                END)
            WHEN 'FederatedUser' THEN coalesce(nullif(who.arn, ''), nullif(who.principalid, ''), 'FederatedUser')
            WHEN 'SAMLUser' THEN 'saml:' || coalesce(who.identityprovider, '') || '/'
                || coalesce(nullif(who.username, ''), who.principalid, '')
            WHEN 'WebIdentityUser' THEN 'web:' || coalesce(who.identityprovider, '') || '/'
                || coalesce(nullif(who.username, ''), who.principalid, '')
            ELSE
                (CASE
                    WHEN on_behalf THEN 'identitycenter:' || coalesce(who.onbehalfof.identitystorearn, '') || '/'
                        || who.onbehalfof.userid
                    ELSE coalesce(nullif(who.invokedby, ''), nullif(who.username, ''), nullif(who.type, ''), 'Unknown')
                END)
        END, 1, {value_chars}) END) AS principal,
        substr((CASE
            WHEN who.type = 'AssumedRole' AND NOT sso THEN regexp_extract(coalesce(who.arn, ''), '[^/]*$')
            ELSE ''
        END)
        || (CASE
            WHEN coalesce(who.sessioncontext.sourceidentity, '') <> ''
                THEN ' (source identity ' || who.sessioncontext.sourceidentity || ')'
            ELSE ''
        END), 1, {value_chars}) AS session,
        (CASE WHEN kept THEN eventsource ELSE '' END) AS eventsource,
        (CASE WHEN kept THEN eventname ELSE '' END) AS eventname,
        eventtime AS eventtime,
        failed AS failed,
        sourceipaddress AS sourceipaddress,
        useragent AS useragent,
        readonly AS readonly{detection_flag_names},
        kept AS kept,
        dropped AS dropped
    FROM day_events
    WHERE kept OR dropped <> ''
)
SELECT
    account AS account,
    region AS region,
    principal AS principal,
    eventsource AS eventsource,
    eventname AS eventname,
    count(*) AS events,
    count_if(kept AND coalesce(failed, false)) AS failures,
    min(eventtime) FILTER (WHERE kept) AS first_at,
    array_join(
        slice(array_sort(array_agg(DISTINCT sourceipaddress) FILTER (WHERE kept AND sourceipaddress <> '')), 1, 3),
        ' | '
    ) AS sample_source_ips,
    array_join(
        slice(array_sort(array_agg(DISTINCT useragent) FILTER (WHERE kept AND useragent <> '')), 1, 3),
        ' | '
    ) AS sample_user_agents,
    array_join(
        slice(array_sort(array_agg(DISTINCT session) FILTER (WHERE kept AND session <> '')), 1, 3),
        ' | '
    ) AS sample_sessions,
    count_if(kept AND coalesce(readonly, '') = 'false') AS writes,
    (CASE WHEN dropped = '' THEN {detections_column} ELSE '' END) AS detections,
    dropped AS dropped
FROM identified
GROUP BY account, region, principal, eventsource, eventname, dropped
ORDER BY account, region, principal, eventsource, eventname, dropped
