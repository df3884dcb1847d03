"""Build tests share a module's warehouse (fixture ``warehouse``): dbt runs take seconds."""

from __future__ import annotations

import os

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
