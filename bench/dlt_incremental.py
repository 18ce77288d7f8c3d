"""dlt side of bench/incremental.ts: N items through `dlt.sources.incremental('updated_at', primary_key='id')`.

    bench/.venv/bin/python bench/dlt_incremental.py [N] [PAGE] [iso|int]

Items are generated exactly like bench/incremental.ts: {"id": i, "updated_at": <ISO 'YYYY-MM-DDTHH:MM:SSZ' of
1_700_000_000 + i // 10 seconds>, "name": "x"} (`int`: updated_at = i // 10), yielded in pages of PAGE (default 1000) from pages built
before the clock starts. Timed: `list(resource)` with the incremental (the seed's way of iterating a resource),
the same resource without an incremental (dlt's pipe overhead alone), and the state size of the bound
incremental. Prints one JSON line.
"""
import json
import sys
import time
from datetime import datetime, timezone

import dlt

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
PAGE = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
CURSOR = sys.argv[3] if len(sys.argv) > 3 else "iso"


def iso(i: int) -> str:
    return datetime.fromtimestamp(1_700_000_000 + i // 10, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


pages = []
for start in range(0, N, PAGE):
    if CURSOR == "int":
        pages.append([{"id": i, "updated_at": i // 10, "name": "x"} for i in range(start, min(N, start + PAGE))])
    else:
        pages.append([{"id": i, "updated_at": iso(i), "name": "x"} for i in range(start, min(N, start + PAGE))])

captured = {}


@dlt.resource(name="items")
def items_inc(updated_at=dlt.sources.incremental("updated_at", primary_key="id")):
    captured["inc"] = updated_at
    yield from pages


@dlt.resource(name="items")
def items_plain():
    yield from pages


def timed(res):
    t0 = time.perf_counter()
    out = list(res)
    return time.perf_counter() - t0, len(out)


# warm-up on a small slice (imports, first bind)
list(items_inc().add_limit(2))
plain_s, plain_n = timed(items_plain())
inc_s, inc_n = timed(items_inc())
state = None
try:
    state = captured["inc"]._cached_state  # the cursor state dlt would persist
except Exception:  # noqa: BLE001
    pass
state_bytes = len(json.dumps(state, default=str)) if state is not None else -1
print(
    json.dumps(
        {
            "dlt_version": dlt.__version__,
            "cursor": CURSOR,
            "items": N,
            "kept": inc_n,
            "seconds": inc_s,
            "items_per_s": N / inc_s,
            "plain_seconds": plain_s,
            "plain_kept": plain_n,
            "net_incremental_seconds": max(inc_s - plain_s, 1e-9),
            "net_items_per_s": N / max(inc_s - plain_s, 1e-9),
            "state_bytes": state_bytes,
        }
    )
)
