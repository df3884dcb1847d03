"""The HTML deliverability report (`dlrw report`), dbt docs (`dlrw docs`) and BI access."""

from __future__ import annotations

from dlrw.ingest.report.bi import BI_ROLE, grant_bi_role
from dlrw.ingest.report.render import PLOT_IDS, TABLE_IDS
from dlrw.ingest.report.writer import write_report

__all__ = ["BI_ROLE", "PLOT_IDS", "TABLE_IDS", "grant_bi_role", "write_report"]
