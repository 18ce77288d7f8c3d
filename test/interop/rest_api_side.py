"""The dlt side of the REST API parity test: runs dlt's rest_api_source with a config and loads it.

    python rest_api_side.py < {"name": "...", "config": {...rest_api config, dlt's keys...}}  -> {"state": ...}

Environment: PG_URL (with a password: dlt requires one), PIPELINE_NAME, DATASET, PIPELINES_DIR.
"""
import json
import os
import sys

import dlt
from dlt.sources.rest_api import rest_api_source


def main():
    req = json.load(sys.stdin)
    os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = os.environ["PG_URL"]
    p = dlt.pipeline(
        pipeline_name=os.environ["PIPELINE_NAME"],
        pipelines_dir=os.environ["PIPELINES_DIR"],
        destination="postgres",
        dataset_name=os.environ["DATASET"],
    )
    p.run(rest_api_source(req["config"], name=req["name"]))
    print("@@RESULT@@" + json.dumps({"state": p.state, "dlt_version": dlt.__version__}, default=str))


main()
