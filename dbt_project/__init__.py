"""The dbt project, shipped as package data of ``dlrw`` and found with importlib.resources."""
