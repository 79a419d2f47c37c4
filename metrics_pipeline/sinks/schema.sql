-- Warehouse tables of the sinks domain (DuckDB; timestamps are naive UTC).

-- Sinks: what each sink last wrote, so a run writes only the difference (sinks/published.py).
CREATE TABLE IF NOT EXISTS sink_published (
    sink         VARCHAR NOT NULL,  -- e.g. 'dynamodb:install-activity'
    pk           VARCHAR NOT NULL,
    sk           VARCHAR NOT NULL,
    item_value   VARCHAR,           -- canonical value last written; NULL = write in flight
    published_at TIMESTAMP,
    PRIMARY KEY (sink, pk, sk)
);

CREATE TABLE IF NOT EXISTS sink_targets (
    sink      VARCHAR PRIMARY KEY,
    target_id VARCHAR NOT NULL      -- identity of the table written (endpoint, ARN, creation time)
);

-- Sinks: items/rows a sink refused (key or item too large, a value it rejects). Kept visible;
-- an unchanged refused item is not offered again (sinks/quarantine.py).
CREATE TABLE IF NOT EXISTS sink_quarantine (
    sink       VARCHAR NOT NULL,
    pk         VARCHAR NOT NULL,
    sk         VARCHAR NOT NULL,
    reason     VARCHAR NOT NULL,
    seen_at    TIMESTAMP NOT NULL,
    item_value VARCHAR,             -- the refused value: a changed value is checked again
    PRIMARY KEY (sink, pk, sk)
);
