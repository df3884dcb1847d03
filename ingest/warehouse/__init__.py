"""The warehouse: raw tables loaded from the event stream, on DuckDB or PostgreSQL."""
