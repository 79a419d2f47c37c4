"""Data quality: blocking and warning checks, the alert sensor, the restatement log."""
