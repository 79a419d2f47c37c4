"""metrics_pipeline: plugin install and commit metrics as Dagster software-defined assets."""
