"""trailkeeper: keep CloudTrail partitions complete in the Glue catalog, and report new activity.

The package is pure logic plus one edge module (`aws.py`) that talks to AWS through clients
handed in by the caller. Lambda handlers in `functions/*.py` are thin adapters around it.
"""
