"""Build the marts: run the dbt project in ``dbt_project/`` against the configured warehouse."""

from __future__ import annotations

from dlrw.ingest.build.runner import BuildSummary, run_build

__all__ = ["BuildSummary", "run_build"]
