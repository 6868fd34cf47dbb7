"""Okendo profile and event sync: DuckDB warehouse, dbt models, Dagster orchestration."""
