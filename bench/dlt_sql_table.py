"""One dlt sql_table copy of a Postgres table into another schema of the same server.

    bench/.venv-sql/bin/python bench/dlt_sql_table.py <postgres-url> <source-schema> <table> <dataset> <backend>

`backend` is sql_table's: `sqlalchemy` (its default) or `pyarrow`. Everything else is dlt's defaults
(chunk_size 50,000, loader file format chosen by dlt). Prints one JSON line:
{seconds, rows, peakRssMb, cpuSeconds, loadFormats}; the caller counts the rows in the database.
"""
import json
import os
import resource
import shutil
import sys
import tempfile
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def main() -> None:
    url, src_schema, table, dataset, backend = sys.argv[1:6]
    import dlt
    from dlt.sources.sql_database import sql_table

    # SQLAlchemy 2 knows the scheme as postgresql://, not postgres://, and picks psycopg 3 unless told
    sa_url = "postgresql://" + url.split("://", 1)[1]
    src_url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    pipelines_dir = tempfile.mkdtemp(prefix="dlt-bench-sql-")
    try:
        t0 = time.perf_counter()
        p = dlt.pipeline(
            pipeline_name=f"bench_{dataset}",
            destination=dlt.destinations.postgres(sa_url),
            dataset_name=dataset,
            pipelines_dir=pipelines_dir,
        )
        info = p.run(sql_table(credentials=src_url, schema=src_schema, table=table, backend=backend))
        seconds = time.perf_counter() - t0
        formats = sorted({j.job_file_info.file_format for pkg in info.load_packages for j in pkg.jobs["completed_jobs"]})
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        rss_kb = max(me.ru_maxrss, kids.ru_maxrss)
        cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        print(json.dumps({"seconds": seconds, "rows": 0, "peakRssMb": rss_kb / 1024, "cpuSeconds": cpu, "loadFormats": formats}))
    finally:
        shutil.rmtree(pipelines_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
