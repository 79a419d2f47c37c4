"""Sinks: projections of the warehouse rollups into DynamoDB (the hub's layout) and Postgres."""
