"""An example metric plugin: downloads and installs per registry plugin and CPU architecture
(`details.cpu` of the download schema), with a monthly distinct count and a running total."""

from metrics_pipeline.plugins.spec import Column, MetricPlugin, PluginCheck, PluginRollup

PLUGIN = Column("plugin_name", "varchar", "PEP 503-normalized registry plugin")

CPU_ARCHITECTURES = MetricPlugin(
    name="cpu_architectures",
    summary="Downloads and installs per plugin and CPU architecture",
    columns=(
        PLUGIN,
        Column("cpu", "varchar", 'details.cpu, e.g. "x86_64", "arm64"; "unknown" when absent'),
        Column("downloads", "bigint", "download rows (every installer, CI included)", measure=True),
        Column("installs", "bigint", "downloads that count as installs", measure=True),
    ),
    # Runs once per window of days: group by `day` as well as the dimensions.
    sql="""
        SELECT day, plugin_name, details.cpu AS cpu,
               sum(downloads) AS downloads,
               coalesce(sum(downloads) FILTER (WHERE countable), 0) AS installs
        FROM source_rows
        GROUP BY ALL
    """,
    requires=("details.cpu", "countable"),
    checks=(
        PluginCheck("cpu_installs_within_downloads", "installs never exceed downloads",
                    "SELECT day, plugin_name, cpu FROM plugin_rows WHERE installs > downloads"),
    ),
    rollups=(
        PluginRollup(
            "monthly_cpus", "Distinct CPU architectures a plugin was downloaded for, per month",
            columns=(PLUGIN, Column("architectures", "bigint", "distinct details.cpu values", measure=True)),
            sql="""
                SELECT CAST(date_trunc('month', day) AS DATE) AS month_start, plugin_name,
                       count(DISTINCT cpu) AS architectures
                FROM daily_rows GROUP BY ALL
            """,
            period="month",
        ),
        PluginRollup(
            "installs_to_date", "Installs per plugin from the first day to each day",
            columns=(PLUGIN, Column("installs", "bigint", "running total of installs", measure=True)),
            sql="""
                SELECT * FROM (
                    SELECT day, plugin_name,
                           sum(sum(installs)) OVER (PARTITION BY plugin_name ORDER BY day) AS installs
                    FROM daily_rows GROUP BY day, plugin_name
                ) WHERE day >= $start
            """,
            period="day",
        ),
    ),
)
