"""Where dlrw's package data is: the dbt project and its seeds, found through importlib.resources.

The same lookup works from a checkout (editable install) and from an installed wheel.
"""

from __future__ import annotations

import csv
from importlib.resources import files
from pathlib import Path

from dlrw.ingest.errors import ConfigError

__all__ = ["DBT_PROJECT_DIR", "SEEDS_DIR", "package_path", "read_seed"]


def package_path(package: str, *parts: str) -> Path:
    """A file or folder shipped inside ``package``, as a filesystem path (dbt and java need one)."""
    return Path(str(files(package).joinpath(*parts)))


DBT_PROJECT_DIR = package_path("dlrw.dbt_project")
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"


def read_seed(path: Path) -> list[dict[str, str]]:
    """The rows of a dbt seed CSV (or a file of its shape); a ConfigError if it cannot be read."""
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise ConfigError(f"cannot read the seed {path}: {exc.strerror}") from exc
