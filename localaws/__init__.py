"""The embedded AWS: trailkeeper's real state machine, handlers and SQL, offline, on moto + DuckDB.

Used by `make demo`, the `trailkeeper` CLI and the tests. Never shipped to Lambda.
"""
