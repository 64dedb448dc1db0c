"""The synthetic CloudTrail organization bucket (logs, digests) for the demo, the tests and the benchmarks."""
