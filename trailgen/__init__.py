"""trailgen: a seeded, deterministic CloudTrail trail bucket on local disk, with its ground truth; digests.py adds
CloudTrail's signed digest files (with `cryptography`).

Used by `trailkeeper local generate|demo`, the end-to-end and hardening tests and the benchmarks; see
trailgen.generator.
"""
