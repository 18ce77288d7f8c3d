"""One dlt end-to-end load of a JSONL file with dlt's defaults (insert_values into Postgres).

    bench/.venv/bin/python bench/dlt_load.py <file.jsonl> <postgres-url> <dataset> [max_items]

Reads the file line by line, yields pages of 1,000 parsed items (as tide's bench does), runs
extract → normalize → load, and prints one JSON line: {seconds, rows, childRows, peakRssMb}.
"""
import json
import os
import resource
import shutil
import sys
import tempfile
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402

PAGE = 1000


def main() -> None:
    file, url, dataset = sys.argv[1:4]
    max_items = int(sys.argv[4]) if len(sys.argv) > 4 else None

    def gen():
        page = []
        n = 0
        with open(file, "r", encoding="utf-8") as f:
            for line in f:
                if max_items is not None and n >= max_items:
                    break
                if not line.strip():
                    continue
                page.append(json.loads(line))
                n += 1
                if len(page) >= PAGE:
                    yield page
                    page = []
        if page:
            yield page

    pipelines_dir = tempfile.mkdtemp(prefix="dlt-bench-pipelines-")
    try:
        t0 = time.perf_counter()
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{dataset}",
            destination=dlt.destinations.postgres(url),
            dataset_name=dataset,
            pipelines_dir=pipelines_dir,
        )
        pipeline.run(gen(), table_name="items")
        seconds = time.perf_counter() - t0
        counts = pipeline.last_trace.last_normalize_info.row_counts if pipeline.last_trace else {}
        rows = int(counts.get("items", 0))
        child = sum(int(v) for k, v in counts.items() if k != "items" and not k.startswith("_dlt"))
        self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(json.dumps({
            "seconds": seconds,
            "rows": rows,
            "childRows": child,
            "peakRssMb": max(self_kb, kids_kb) / 1024,
            "tables": {k: int(v) for k, v in counts.items()},
        }), flush=True)
    finally:
        shutil.rmtree(pipelines_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
