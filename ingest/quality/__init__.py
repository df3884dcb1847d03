"""Data quality: `dlrw check` catches reporting gaps before anyone reads a wrong number.

Gap and threshold checks, each a Great Expectations suite written as code (``checks.py``) over
per-cell figures computed in SQL, with every threshold in one file (``thresholds.toml``). Row
rules are dbt tests that `dlrw build` runs (docs/design.md, "Data quality"). Among the checks:

- ``missing_receipts``: per provider x operator, the share of messages older than the receipt
  window with no receipt at all;
- ``silent_hours``: hours with no sends or no receipts in a provider x operator cell that
  normally has traffic at that hour of the day;
- ``freshness``: age of the newest receipt against ``--now``;
- ``orphan_receipts``: per provider, the share of deduplicated receipts that match no message
  (``int_receipts_matched``);
- ``reconciliation``: per event type and day, Avro store records = raw table rows (quarantine
  included);

Results go to the warehouse table ``dq_results`` and to GX Data Docs under the data dir.
"""

from dlrw.ingest.quality.runner import CheckRun, Finding, run_checks
from dlrw.ingest.quality.thresholds import Thresholds, load_thresholds

__all__ = ["CheckRun", "Finding", "Thresholds", "load_thresholds", "run_checks"]
