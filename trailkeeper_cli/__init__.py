"""trailkeeper_cli: the operator's `trailkeeper` command.

`trailkeeper plan|backfill|status --stack NAME` operate a deployed stack with boto3 alone; the offline commands
(`trailkeeper local demo|run|backfill|generate`) run the real state machine on the embedded runtime (localaws),
which they import only when used: it needs the `local` extra (`pip install '.[local]'` in a clone).
"""
