-- Application events for SQL readers: raw events (kept 90 days by the sink) and rollups (forever).

CREATE TABLE events_raw (
    event_id        text PRIMARY KEY,
    event_day       date NOT NULL,
    event_time      timestamp NOT NULL,     -- UTC
    product         text NOT NULL,
    event_type      text NOT NULL,
    user_id         text,
    session_id      text,
    idempotency_key text,
    bytes           bigint,
    response_ms     double precision,
    properties      jsonb NOT NULL
);
CREATE INDEX events_raw_day ON events_raw (event_day);

CREATE TABLE events_daily (
    event_day       date   NOT NULL,
    product         text   NOT NULL,
    event_type      text   NOT NULL,
    events          bigint NOT NULL,
    distinct_users  bigint NOT NULL,
    bytes           bigint,
    response_ms_p50 double precision,
    response_ms_p95 double precision,
    PRIMARY KEY (event_day, product, event_type)
);

CREATE TABLE events_monthly (
    month_start    date   NOT NULL,
    product        text   NOT NULL,
    event_type     text   NOT NULL,
    events         bigint NOT NULL,
    distinct_users bigint NOT NULL,
    bytes          bigint,
    PRIMARY KEY (month_start, product, event_type)
);
