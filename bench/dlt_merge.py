"""dlt's side of bench/merge-e2e.ts: an initial merge load (untimed) then a timed merge load.

    bench/.venv/bin/python bench/dlt_merge.py <strategy> <initial.jsonl> <timed.jsonl> <postgres-url> <dataset> [initial_format]

strategy: delete-insert | upsert (both with primary_key="id") | scd2 (no keys, full snapshot).
initial_format: loader_file_format of the UNTIMED initial fill ("default" = dlt's default,
insert_values; "csv" = dlt's postgres csv COPY path). The TIMED run always uses dlt's defaults.

Both runs read the JSONL file line by line and yield pages of 1,000 parsed items (as tide does).
The timed window runs from dlt.pipeline(...) (attaching to the pipeline of the initial load) to
run() returning: extract, normalize, load into staging, merge SQL, state and _dlt_loads.
Prints one JSON line: {initialSeconds, seconds, initialFormat, rows}.
"""
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402

PAGE = 1000


def pages(file):
    page = []
    with open(file, "r", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            page.append(json.loads(line))
            if len(page) >= PAGE:
                yield page
                page = []
    if page:
        yield page


def main() -> None:
    strategy, initial, timed, url, dataset = sys.argv[1:6]
    initial_format = sys.argv[6] if len(sys.argv) > 6 else "default"
    if strategy not in ("delete-insert", "upsert", "scd2"):
        raise SystemExit(f"unknown strategy {strategy}")

    def items(file):
        hints = {"name": "items", "write_disposition": {"disposition": "merge", "strategy": strategy}}
        if strategy != "scd2":
            hints["primary_key"] = "id"
        return dlt.resource(pages(file), **hints)

    pipelines_dir = tempfile.mkdtemp(prefix="dlt-bench-merge-")
    name = f"bench_{dataset}"
    try:
        t0 = time.perf_counter()
        p = dlt.pipeline(pipeline_name=name, destination=dlt.destinations.postgres(url), dataset_name=dataset, pipelines_dir=pipelines_dir)
        if initial_format == "default":
            p.run(items(initial))
        else:
            p.run(items(initial), loader_file_format=initial_format)
        initial_seconds = time.perf_counter() - t0
        # the caller settles the table (VACUUM ANALYZE, CHECKPOINT) as it does for tide, then says go
        print(f"SETTLE {initial_seconds}", flush=True)
        sys.stdin.readline()

        t0 = time.perf_counter()
        p = dlt.pipeline(pipeline_name=name, destination=dlt.destinations.postgres(url), dataset_name=dataset, pipelines_dir=pipelines_dir)
        p.run(items(timed))
        seconds = time.perf_counter() - t0

        counts = p.last_trace.last_normalize_info.row_counts if p.last_trace else {}
        print(json.dumps({
            "initialSeconds": initial_seconds,
            "seconds": seconds,
            "initialFormat": initial_format,
            "rows": int(counts.get("items", 0)),
        }), flush=True)
    finally:
        shutil.rmtree(pipelines_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
