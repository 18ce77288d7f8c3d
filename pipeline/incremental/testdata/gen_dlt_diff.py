"""Differential cases for tide's incremental against real dlt (1.26).

Run: bench/.venv/bin/python pipeline/incremental/testdata/gen_dlt_diff.py <seed> <n> [int|iso] [out.json]
Each case: random incremental options x 3 runs of random batches; records dlt's kept rows and cursor state.
Replayed by test/unit/incremental-dlt-diff.test.ts.
"""
import dlt, json, random, sys, shutil, logging, tempfile
logging.disable(logging.CRITICAL)
seed = int(sys.argv[1]); N = int(sys.argv[2]); MODE = sys.argv[3] if len(sys.argv) > 3 else "int"; OUT = sys.argv[4] if len(sys.argv) > 4 else f"cases_{MODE}_{seed}.json"
PL = tempfile.mkdtemp(prefix="dlt-diff-")
rnd = random.Random(seed)
def iso(v): return "2024-01-01T00:00:%02d.%06dZ" % (v, 500000 if v % 3 == 0 else 0)
def cv(v): return iso(v) if MODE == "iso" else v
out = []
for ci in range(N):
    func = rnd.choice(["max", "min"])
    opts = {}
    initial = rnd.choice([None, rnd.randint(1, 10)])
    if initial is not None: opts["initial_value"] = cv(initial)
    if initial is not None and rnd.random() < 0.3:
        opts["end_value"] = cv(initial + rnd.randint(0, 5) if func == "max" else max(0, initial - rnd.randint(0, 5)))
    opts["last_value_func"] = func
    pkmode = rnd.choice(["resource", "explicit", "empty", "none", "compound"])
    if pkmode == "explicit": opts["primary_key"] = "id"
    if pkmode == "empty": opts["primary_key"] = ()
    if pkmode == "compound": opts["primary_key"] = ["id", "x"]
    if rnd.random() < 0.3: opts["range_start"] = "open"
    if rnd.random() < 0.3: opts["range_end"] = "closed"
    if rnd.random() < 0.25: opts["lag"] = rnd.randint(1, 3)
    if rnd.random() < 0.3: opts["row_order"] = rnd.choice(["asc", "desc"])
    missing = rnd.choice(["raise", "include", "exclude"])
    opts["on_cursor_value_missing"] = missing
    runs = []
    for r in range(3):
        batches = []
        for b in range(rnd.randint(1, 3)):
            rows = []
            for k in range(rnd.randint(0, 6)):
                row = {"id": rnd.randint(1, 6), "x": rnd.randint(0, 1)}
                if missing == "raise" or rnd.random() < 0.85:
                    row["c"] = cv(rnd.randint(1, 12))
                elif rnd.random() < 0.5:
                    row["c"] = None
                rows.append(row)
            batches.append(rows)
        runs.append(batches)
    p = dlt.pipeline(pipeline_name=f"d{seed}_{ci}", pipelines_dir=PL)
    results = []
    for batches in runs:
        got = []
        @dlt.transformer(name="cap")
        def cap(items):
            got.extend(items if isinstance(items, list) else [items])
            yield items
        pyopts = dict(opts)
        pyopts["last_value_func"] = max if func == "max" else min
        def mk():
            kw = {"name": "r"}
            if pkmode == "resource": kw["primary_key"] = "id"
            @dlt.resource(**kw)
            def r(inc=dlt.sources.incremental("c", **pyopts)):
                for b in batches:
                    yield b
            return r
        err = None
        try:
            p.extract(mk()() | cap)
        except Exception as e:
            err = type(e.__context__ or e).__name__
        st = (((p.state.get("sources") or {}).get(p.pipeline_name) or {}).get("resources") or {}).get("r", {}).get("incremental", {}).get("c")
        results.append({"kept": got, "state": st, "error": err})
    out.append({"opts": {k: v for k, v in opts.items() if k != "primary_key"} | ({"primary_key": list(opts["primary_key"]) if isinstance(opts["primary_key"], (list, tuple)) else opts["primary_key"]} if "primary_key" in opts else {}), "pkmode": pkmode, "runs": runs, "results": results})
json.dump(out, open(OUT, "w"), default=str, separators=(",", ":"))
shutil.rmtree(PL, ignore_errors=True)
print("ok", N)
