"""One dlt end-to-end load of a JSONL file into Postgres: dlt's defaults, or its fastest JSON setting.

    bench/.venv/bin/python bench/dlt_load.py <file.jsonl> <postgres-url> <dataset> [max_items]
        [--loader-file-format csv] [--normalize-workers N]

Reads the file line by line, yields pages of 1,000 parsed items (as tide's bench does), runs
extract → normalize → load, and prints one JSON line: {seconds, rows, childRows, peakRssMb, ...}.

Without options: dlt's defaults (`insert_values`, normalize in the main process, one extract file).
`--loader-file-format csv` passes `loader_file_format="csv"` to `pipeline.run` (dlt's Postgres COPY
of csv files). `--normalize-workers N` (N > 1) sets `NORMALIZE__WORKERS=N` (a process pool) and
splits the extract files with `SOURCES__DATA_WRITER__FILE_MAX_ITEMS` (the extract stage only: dlt
rotates no file by default, and one file is never shared by two workers) into N × 4 − 1 files, so
every worker gets some of them (see `extract_file_max_items`).

The row counts dlt reports are NOT the figures: with split files its normalize counts are wrong
(20,000 items reported as ~180,000); the caller counts rows in the database. What dlt really did
is printed under `check` (untimed): the file formats and counts of the completed load jobs per
table, the extract files per table, and with N > 1 one entry per normalize task (pid, item files,
CPU seconds), written by a pass-through wrapper of dlt's worker function.
"""
import argparse
import json
import math
import os
import resource
import shutil
import tempfile
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

PAGE = 1000


def count_lines(file: str, limit) -> int:
    n = 0
    with open(file, "rb") as f:
        for line in f:
            if line.strip():
                n += 1
                if limit is not None and n >= limit:
                    break
    return n


def counted_w_normalize_files(*args, **kwargs):
    """dlt's normalize worker function, unchanged, plus one line per call in $DLT_BENCH_WORKER_LOG:
    the worker's pid, its extract files and its CPU seconds (the check that both workers got work;
    the row counts in its writer metrics are not used: they are as wrong as the normalize counts).
    Module-level so the process pool can pickle it by name."""
    from dlt.normalize.worker import w_normalize_files

    t0 = time.process_time()
    rv = w_normalize_files(*args, **kwargs)
    with open(os.environ["DLT_BENCH_WORKER_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps({
            "pid": os.getpid(),
            "extract_files": sorted(os.path.basename(p).split(".")[0] for p in args[5]),
            "cpu_s": round(time.process_time() - t0, 3),
        }) + "\n")
    return rv


def extract_file_max_items(items: int, workers: int, per_worker: int) -> int:
    """`file_max_items` that splits `items` into workers × per_worker − 1 extract files.

    dlt's normalize (`group_worker_files`) sorts the extract files by name and cuts them into
    `len(files) // workers`-sized groups, one per worker; the pipeline-state file `_dlt_pipeline_state.*`
    sorts first and counts as a file. With 2 item files + the state file the groups are [state] and
    [items, items]: one worker does all the work. workers × m − 1 item files + the state file make
    equal groups of m files, the first of them with the state file and m − 1 item files (m = 4:
    3 : 4 of the items). Rotation happens after a whole page (1,000 items) is written, so the size is
    a multiple of the page.
    """
    files = max(1, workers * per_worker - 1)
    return max(1, math.ceil(items / (PAGE * files))) * PAGE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("url")
    ap.add_argument("dataset")
    ap.add_argument("max_items", nargs="?", type=int)
    ap.add_argument("--loader-file-format", default=None)
    ap.add_argument("--normalize-workers", type=int, default=1)
    ap.add_argument("--files-per-worker", type=int, default=4)
    a = ap.parse_args()
    file, url, dataset, max_items = a.file, a.url, a.dataset, a.max_items

    if a.normalize_workers > 1:
        # untimed: the split size needs the item count (the data file's lines, up to max_items)
        items = count_lines(file, max_items)
        os.environ["NORMALIZE__WORKERS"] = str(a.normalize_workers)
        # extract stage only (the "sources" section); normalize's csv files are not rotated
        os.environ["SOURCES__DATA_WRITER__FILE_MAX_ITEMS"] = str(extract_file_max_items(items, a.normalize_workers, a.files_per_worker))

    import dlt  # noqa: E402  (after the env: dlt reads its config from it)

    worker_log = None
    if a.normalize_workers > 1:
        import dlt.normalize.normalize as dlt_normalize

        fd, worker_log = tempfile.mkstemp(prefix="dlt-bench-workers-", suffix=".jsonl")
        os.close(fd)
        os.environ["DLT_BENCH_WORKER_LOG"] = worker_log
        dlt_normalize.w_normalize_files = counted_w_normalize_files

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
        run_kwargs = {"table_name": "items"}
        if a.loader_file_format:
            run_kwargs["loader_file_format"] = a.loader_file_format
        t0 = time.perf_counter()
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{dataset}",
            destination=dlt.destinations.postgres(url),
            dataset_name=dataset,
            pipelines_dir=pipelines_dir,
        )
        load_info = pipeline.run(gen(), **run_kwargs)
        seconds = time.perf_counter() - t0

        # untimed: what dlt really did, from its trace and load package
        trace = pipeline.last_trace
        counts = trace.last_normalize_info.row_counts if trace else {}
        load_files = {}  # table -> {format: files}
        for package in load_info.load_packages:
            for state, jobs in package.jobs.items():
                if state != "completed_jobs":
                    continue
                for job in jobs:
                    t = job.job_file_info.table_name
                    fmt = job.job_file_info.file_format
                    load_files.setdefault(t, {}).setdefault(fmt, 0)
                    load_files[t][fmt] += 1
        extract_files = {}
        if trace and trace.last_extract_info:
            for package in trace.last_extract_info.load_packages:
                for jobs in package.jobs.values():
                    for job in jobs:
                        t = job.job_file_info.table_name
                        extract_files[t] = extract_files.get(t, 0) + 1
        normalize_config = {
            "workers": int(os.environ.get("NORMALIZE__WORKERS", "1")),
            "extract_file_max_items": os.environ.get("SOURCES__DATA_WRITER__FILE_MAX_ITEMS"),
        }
        if worker_log:
            with open(worker_log, encoding="utf-8") as f:
                calls = [json.loads(line) for line in f if line.strip()]
            os.unlink(worker_log)
            # one entry per pool task; a pid may appear twice (a task retried after a schema conflict)
            normalize_config["calls"] = [
                {"pid": c["pid"], "item_files": c["extract_files"].count("items"), "cpu_s": c["cpu_s"]}
                for c in calls
            ]
        self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(json.dumps({
            "seconds": seconds,
            # dlt's own normalize counts: informative only (wrong with split extract files)
            "rows": int(counts.get("items", 0)),
            "childRows": sum(int(v) for k, v in counts.items() if k != "items" and not k.startswith("_dlt")),
            "peakRssMb": max(self_kb, kids_kb) / 1024,
            "tables": {k: int(v) for k, v in counts.items()},
            "check": {
                "loader_file_format": a.loader_file_format or "default",
                "normalize": normalize_config,
                "extract_files": extract_files,
                "load_files": load_files,
            },
        }), flush=True)
    finally:
        shutil.rmtree(pipelines_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
