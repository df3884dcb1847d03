"""The warehouse's status model (seed ``statuses``) is the Python status model, status by status."""

from __future__ import annotations

import csv

from dlrw.ingest.resources import SEEDS_DIR
from dlrw.models.status import FAILED_STATUSES, FINAL_STATUSES, Status


def _outcome(status: Status) -> str:
    if status is Status.DELIVERED:
        return "delivered"
    return "failed" if status in FAILED_STATUSES else "pending"


def test_the_statuses_seed_is_the_status_model() -> None:
    with (SEEDS_DIR / "statuses.csv").open(newline="") as handle:
        seed = {
            row["status"]: (row["is_final"] == "true", row["outcome"])
            for row in csv.DictReader(handle)
        }
    assert seed == {s.value: (s in FINAL_STATUSES, _outcome(s)) for s in Status}
