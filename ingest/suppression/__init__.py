"""Dead numbers: the suppression list a sender should stop texting (from mart
``dim_destinations``), and the hashes of a sender's own numbers to match it against, under the
key the traffic was hashed with -- dlrw never holds a number."""

__all__ = ["MIN_FAILURES"]

# Permanent failures in a row that make a number dead (`dlrw suppression-list`, `dlrw report`).
MIN_FAILURES = 2
