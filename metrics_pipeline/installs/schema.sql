-- Warehouse tables of the installs domain (DuckDB; timestamps are naive UTC).

CREATE TABLE IF NOT EXISTS raw_installs (
    download_day   DATE    NOT NULL,   -- UTC date of the download's timestamp
    plugin_name    VARCHAR NOT NULL,   -- PEP 503-normalized registry name
    installer_name VARCHAR NOT NULL,
    download_count BIGINT  NOT NULL    -- qualifying download rows in this group
);

CREATE TABLE IF NOT EXISTS daily_installs (
    download_day  DATE    NOT NULL,
    plugin_name   VARCHAR NOT NULL,
    install_count BIGINT  NOT NULL,
    PRIMARY KEY (download_day, plugin_name)
);

CREATE TABLE IF NOT EXISTS monthly_installs (
    month_start   DATE    NOT NULL,
    plugin_name   VARCHAR NOT NULL,
    install_count BIGINT  NOT NULL,
    PRIMARY KEY (month_start, plugin_name)
);

CREATE TABLE IF NOT EXISTS total_installs (
    plugin_name   VARCHAR PRIMARY KEY,
    install_count BIGINT  NOT NULL
);
