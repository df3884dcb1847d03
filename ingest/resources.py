"""Where dlrw's package data is: the dbt project and its seeds, found through importlib.resources.

The same lookup works from a checkout (editable install) and from an installed wheel.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["DBT_PROJECT_DIR", "SEEDS_DIR", "package_path"]


def package_path(package: str, *parts: str) -> Path:
    """A file or folder shipped inside ``package``, as a filesystem path (dbt and java need one)."""
    return Path(str(files(package).joinpath(*parts)))


DBT_PROJECT_DIR = package_path("dlrw.dbt_project")
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
