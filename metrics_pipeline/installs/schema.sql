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

-- The opening balance: qualifying installs on days before the first daily partition, per month.
CREATE TABLE IF NOT EXISTS opening_installs (
    month_start   DATE    NOT NULL,
    plugin_name   VARCHAR NOT NULL,
    install_count BIGINT  NOT NULL,
    PRIMARY KEY (month_start, plugin_name)
);

-- Every month's installs: the monthly rollup of the partitions plus the opening balance (the
-- first partition's month may hold both). MONTH items, TOTAL and readers use this view.
CREATE OR REPLACE VIEW installs_by_month AS
SELECT month_start, plugin_name, sum(install_count)::BIGINT AS install_count
FROM (
    SELECT month_start, plugin_name, install_count FROM monthly_installs
    UNION ALL
    SELECT month_start, plugin_name, install_count FROM opening_installs
)
GROUP BY month_start, plugin_name;
