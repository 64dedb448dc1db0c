-- trailkeeper daily activity, version 3 (version 2 without the writes and detections columns).
-- One row per (account, region, principal, eventsource, eventname) for one report day D (UTC).
--
-- Filled in by trailkeeper/report/query.py, never by hand:
--   the three brace placeholders: the account expression (the "account" partition column, or the one
--     account of a single-account table as a literal read from its LOCATION), the validated
--     "database"."table" reference, and the partition filter built from the table's partition keys
--     (identifiers cannot be bound as parameters);
--   the positional parameters, in text order: the partition values of D and D+1, then D and D+1 as
--     'YYYY-MM-DD' literals (Athena ExecutionParameters, taken from validated dates only).
-- Full-line comments are removed before the text is sent, so they may say anything but a placeholder.
--
-- Why D and D+1: CloudTrail folders are delivery days, so events of late D sit in D+1 folders.
-- Why a string comparison on eventtime: it is always 'YYYY-MM-DDTHH:MM:SSZ', which sorts like time,
-- and 'YYYY-MM-DD' sorts before every instant of that day; nothing is parsed, nothing can fail.
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
        readonly AS readonly{detection_flags}
    FROM {table}
    WHERE ({partition_filter})
        AND eventtime >= ?
        AND eventtime < ?
),
identified AS (
    SELECT
        account AS account,
        region AS region,
        substr(CASE who.type
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
        END, 1, {value_chars}) AS principal,
        substr((CASE
            WHEN who.type = 'AssumedRole' AND NOT sso THEN regexp_extract(coalesce(who.arn, ''), '[^/]*$')
            ELSE ''
        END)
        || (CASE
            WHEN coalesce(who.sessioncontext.sourceidentity, '') <> ''
                THEN ' (source identity ' || who.sessioncontext.sourceidentity || ')'
            ELSE ''
        END), 1, {value_chars}) AS session,
        eventsource AS eventsource,
        eventname AS eventname,
        eventtime AS eventtime,
        failed AS failed,
        sourceipaddress AS sourceipaddress,
        useragent AS useragent,
        readonly AS readonly{detection_flag_names}
    FROM day_events
)
SELECT
    account AS account,
    region AS region,
    principal AS principal,
    eventsource AS eventsource,
    eventname AS eventname,
    count(*) AS events,
    count_if(coalesce(failed, false)) AS failures,
    min(eventtime) AS first_at,
    array_join(
        slice(array_sort(array_agg(DISTINCT sourceipaddress) FILTER (WHERE sourceipaddress <> '')), 1, 3),
        ' | '
    ) AS sample_source_ips,
    array_join(
        slice(array_sort(array_agg(DISTINCT useragent) FILTER (WHERE useragent <> '')), 1, 3),
        ' | '
    ) AS sample_user_agents,
    array_join(
        slice(array_sort(array_agg(DISTINCT session) FILTER (WHERE session <> '')), 1, 3),
        ' | '
    ) AS sample_sessions,
    count_if(coalesce(readonly, '') = 'false') AS writes,
    {detections_column} AS detections
FROM identified
GROUP BY account, region, principal, eventsource, eventname
ORDER BY account, region, principal, eventsource, eventname
