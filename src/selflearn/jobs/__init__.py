"""Offline jobs: the nightly job graph (sessionize -> detect feedback -> chains -> mine -> publish)
written once over Arrow tables, run by an engine: embedded (in-process, Polars/DuckDB) or Spark."""
