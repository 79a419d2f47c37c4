"""Versioned Postgres migrations (NNNN_name.sql), applied in order by `sinks.postgres_schema`."""
