"""Install the top-level folders as one import package, ``dlrw``.

The repository keeps one folder per stage of the data flow (``ingest/``, ``models/``,
``dbt_project/``); installed, they are ``dlrw.ingest``, ``dlrw.models`` and the package data
``dlrw.dbt_project``. Everything else about the distribution is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

CODE = ("ingest", "models")
DBT_PROJECT_FILES = [
    "dbt_project.yml",
    "macros/*.sql",
    "models/**/*.sql",
    "models/**/*.yml",
    "seeds/*.csv",
    "seeds/*.yml",
    "tests/*.sql",
]

# `dlrw` itself is a namespace package: it has no folder and no code of its own.
packages = ["dlrw.dbt_project"]
package_dir = {"dlrw.dbt_project": "dbt_project"}
for folder in CODE:
    for name in find_packages(include=[folder, f"{folder}.*"]):
        packages.append(f"dlrw.{name}")
    package_dir[f"dlrw.{folder}"] = folder

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "dlrw.dbt_project": DBT_PROJECT_FILES,
        "dlrw.models": ["schemas/*.avsc"],
        "dlrw.ingest.local": ["broker_files/*", "registry_files/*", "spark_files/*"],
        "dlrw.ingest.quality": ["thresholds.toml"],
    },
)
