"""CloudTrail log file integrity validation: digest chains, signatures, log hashes, and what is missing.

Follows CloudTrail's documented algorithm ("Custom implementations of CloudTrail log file integrity
validation", docs/aws-facts.md) and goes beyond `aws cloudtrail validate-logs` (README "Integrity").
Pure core on clients passed in: `chain.validate_account` takes a `Store` and a public-key source.
"""
