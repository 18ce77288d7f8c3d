"""What dlt loads under each schema contract, from the inputs of test/integration/schema-contract.test.ts.

Run with a venv holding dlt (bench/.venv): `python test/interop/schema_contract_dlt.py`. It loads to
the filesystem destination (jsonl) under /tmp/tide-contracts (contracts act in dlt's extract and
normalize steps, before any destination) and prints, per case, its inputs, each run's outcome, the
rows of each table and the columns of the schema. test/interop/schema-contract.test.ts runs the same
inputs through tide and compares; test/integration/schema-contract.test.ts holds the same expectations.
"""
import glob, gzip, json, shutil

import dlt

ROOT = "/tmp/tide-contracts"
FIRST = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
SECOND = [
    {"id": 3, "name": "c"},
    {"id": 4, "name": "d", "extra": "x"},
    {"id": "five", "name": "e"},
    {"id": 6, "name": "f", "extra": "y"},
    {"id": 7, "name": "g", "tags": [{"t": "u"}]},
]

# a first run that creates a nested table too
NESTED_FIRST = [{"id": 0, "tags": [{"t": "a"}]}]

def run(tag, first_contract, second_contract, where, first=FIRST, second=SECOND, with_other=True):
    bucket = f"{ROOT}/fs_{tag}"
    shutil.rmtree(bucket, ignore_errors=True)
    p = dlt.pipeline(f"c_{tag}", destination=dlt.destinations.filesystem(bucket), dataset_name="ds", pipelines_dir=f"{ROOT}/pl_{tag}")

    def go(data, contract, other):
        kw = {"schema_contract": contract} if where == "resource" and contract is not None else {}
        rs = [dlt.resource(data, name="items", **kw)]
        if other:
            rs.append(dlt.resource([{"k": 1}], name="other", **kw))
        if where == "source":
            @dlt.source(schema_contract=contract, name="src")
            def s():
                return rs
            return p.run(s(), loader_file_format="jsonl")
        if where == "run":
            return p.run(rs, loader_file_format="jsonl", schema_contract=contract)
        return p.run(rs, loader_file_format="jsonl")

    out = {}
    for step, data, contract, other in (("first", first, first_contract, False), ("second", second, second_contract, with_other)):
        try:
            go(data, contract, other)
            out[step] = "ok"
        except Exception as e:  # noqa: BLE001 - the outcome is what we print
            lines = str(e).splitlines()
            why = next((line for line in lines if "contract_mode" in line), lines[-1])
            out[step] = f"{type(e).__name__}: {why[:300]}"
    tables = {}
    for f in sorted(glob.glob(f"{bucket}/ds/*/*")):
        t = f.split("/")[-2]
        if t.startswith("_dlt"):
            continue
        op = gzip.open if f.endswith(".gz") else open
        rows = [json.loads(line) for line in op(f, "rt").read().splitlines() if line.strip()]
        tables.setdefault(t, []).extend({k: v for k, v in r.items() if not k.startswith("_dlt")} for r in rows)
    out["tables"] = tables
    try:
        sch = p.default_schema
        out["columns"] = {t: [c for c in sch.tables[t]["columns"] if not c.startswith("_dlt")] for t in sch.tables if not t.startswith("_dlt")}
    except Exception:  # noqa: BLE001 - no schema when the first run failed
        out["columns"] = None
    return out


CASES = {
    "evolve": (None, "evolve", "resource"),
    "discard_row": (None, "discard_row", "resource"),
    "discard_value": (None, "discard_value", "resource"),
    "freeze_column": (None, "freeze", "resource", FIRST, SECOND[:2], False),
    "freeze_variant": (None, "freeze", "resource", FIRST, [SECOND[0], SECOND[2]], False),
    "freeze_nested_table": (None, "freeze", "resource", FIRST, [SECOND[4]], False),
    "freeze_root_table": (None, "freeze", "resource", FIRST, [SECOND[0]], True),
    "columns_discard_row": (None, {"columns": "discard_row"}, "resource"),
    "data_type_discard_value": (None, {"data_type": "discard_value"}, "resource"),
    "first_run_freeze": ("freeze", "freeze", "resource", FIRST, SECOND, False),
    "first_run_columns_freeze": ({"columns": "freeze"}, {"columns": "freeze"}, "resource", [{"id": 1}, {"id": 2, "name": "b"}], [{"id": 3}], False),
    "first_run_discard_row": ("discard_row", "discard_row", "resource", FIRST, SECOND, False),
    "nested_discard_row": (None, {"columns": "discard_row"}, "resource", NESTED_FIRST, [{"id": 1, "tags": [{"t": "u"}, {"t": "v", "extra": "x", "deeper": [{"a": 1}]}, {"t": "w"}]}], False),
    "nested_discard_value": (None, "discard_value", "resource", NESTED_FIRST, [{"id": 1, "tags": [{"t": "v", "extra": "x", "deeper": [{"a": 1}]}]}], False),
    "source_freeze": (None, "freeze", "source", FIRST, SECOND[:2], False),
    "run_freeze": (None, "freeze", "run", FIRST, SECOND[:2], False),
}

def as_input(first_contract, second_contract, where, first=FIRST, second=SECOND, with_other=True):
    return {"first_contract": first_contract, "second_contract": second_contract, "where": where, "first": first, "second": second, "with_other": with_other}


if __name__ == "__main__":
    # one JSON line per case after the marker (dlt may log before it): the inputs, and what dlt did with them
    print("@@RESULT@@")
    for tag, args in CASES.items():
        print(json.dumps({"case": tag, "input": as_input(*args), "dlt": run(tag, *args)}, default=str))
