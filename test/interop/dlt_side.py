"""The dlt side of the interop suite: runs one dlt step on a dataset tide shares, or inspects it.

    python dlt_side.py run      < {"spec": {...}, "items": [...]}   -> {"load_ids": [...]}
    python dlt_side.py inspect  < {"spec": {...}}                   -> {"state": ..., "row_counts": ..., "info": ...}

Environment: PG_URL (with a password: dlt requires one), PIPELINE_NAME, DATASET, PIPELINES_DIR (a
folder of this step's own: every step starts without local state, so dlt restores it from the dataset).
"""
import json
import os
import subprocess
import sys

import dlt


def resource_of(spec, items):
    """A dlt resource with the hints of the neutral spec (the tide side maps the same spec)."""
    hints = {"name": spec["resource"], "write_disposition": spec["disposition"]}
    if spec["disposition"] == "scd2":
        hints["write_disposition"] = {"disposition": "merge", "strategy": "scd2"}
    if spec.get("primary_key"):
        hints["primary_key"] = spec["primary_key"]
    cursor = spec.get("cursor")

    if cursor:
        def gen(c=dlt.sources.incremental(cursor, initial_value=spec.get("initial_value"))):
            yield items
    else:
        def gen():
            yield items

    return dlt.resource(gen, **hints)()


def pipeline():
    os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = os.environ["PG_URL"]
    return dlt.pipeline(
        pipeline_name=os.environ["PIPELINE_NAME"],
        pipelines_dir=os.environ["PIPELINES_DIR"],
        destination="postgres",
        dataset_name=os.environ["DATASET"],
    )


def cursor_state(p, spec):
    if not spec.get("cursor"):
        return None
    sources = p.state.get("sources", {})
    res = sources.get(p.default_schema_name or p.pipeline_name, {}).get("resources", {}).get(spec["resource"], {})
    return res.get("incremental", {}).get(spec["cursor"])


def run(req):
    p = pipeline()
    info = p.run(resource_of(req["spec"], req["items"]))
    return {"load_ids": list(info.loads_ids), "dlt_version": dlt.__version__}


def inspect(req):
    """What a dlt user sees on the dataset: the restored state and schema, `dlt pipeline info`, row_counts()."""
    p = pipeline()
    p.sync_destination()
    cli = subprocess.run(
        [sys.executable, "-m", "dlt", "pipeline", "--pipelines-dir", os.environ["PIPELINES_DIR"], p.pipeline_name, "info"],
        capture_output=True, text=True, env=os.environ,
    )
    ds = dlt.dataset(dlt.destinations.postgres(os.environ["PG_URL"]), os.environ["DATASET"])
    counts = {name: int(n) for name, n in ds.row_counts().fetchall()}
    return {
        "cursor": cursor_state(p, req["spec"]),
        "schema_version_hash": p.default_schema.version_hash if p.default_schema_name else None,
        "row_counts": counts,
        "info_rc": cli.returncode,
        "info_out": cli.stdout + cli.stderr,
        "dlt_version": dlt.__version__,
    }


if __name__ == "__main__":
    command = sys.argv[1]
    request = json.loads(sys.stdin.read())
    out = {"run": run, "inspect": inspect}[command](request)
    sys.stdout.write("\n@@RESULT@@" + json.dumps(out, default=str) + "\n")
