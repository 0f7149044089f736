"""Time a reviewer waits for a structural correction (pipeline/structure.py) to show: the decision stored, the
report's items replayed, suggestions, themes and flags redone. On a copy of the store, never the store itself.

    python bench/structure_edit.py [--db data] [--runs 3]

Each run is a fresh process (what the first correction in a new app session costs: imports included) doing, on the
longest report: delete an item, undo it, merge two items, undo it, and split an item at its second text line with
a given title (a new text: the model loads to embed it, if its sentences were never embedded). Prints the median
of each step over the runs. No target is set by an issue; this says what a reviewer waits.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from index.store import Store
from pipeline.review import undo
from pipeline.structure import edit_structure, next_unit
store = Store.open(sys.argv[1])
doc = max(store.reports(), key=lambda r: r["n_lines"])["doc"]
units = [u for u in store.units(doc) if u.line_end - (u.title_line or u.line_start) >= 3]
target = units[len(units) // 2]
out = {"import_s": time.perf_counter() - t0}
def timed(name, fn):
    t = time.perf_counter(); value = fn(); out[name] = time.perf_counter() - t; return value
d = timed("delete_s", lambda: edit_structure(store, target.id, "bench", "delete"))
timed("undo_delete_s", lambda: undo(store, d, "bench"))
nxt = next_unit(store, target.id)
d = timed("merge_s", lambda: edit_structure(store, target.id, "bench", "merge", **{"with": nxt.id}))
timed("undo_merge_s", lambda: undo(store, d, "bench"))
lines = [n for n, t in store.lines(doc, (target.title_line or target.line_start) + 1, target.line_end) if t.strip()]
timed("split_s", lambda: edit_structure(store, target.id, "bench", "split", line=lines[1], title="Ny post"))
out["doc"], out["units"] = doc, len(store.units(doc))
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=str(ROOT / "data"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "data"
            shutil.copytree(args.db, copy)
            done = subprocess.run([sys.executable, "-c", CHILD, str(copy)], cwd=ROOT, capture_output=True, text=True,
                                  check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    steps = [k for k in results[0] if k.endswith("_s")]
    med = {k: statistics.median(r[k] for r in results) for k in steps}
    print(f"strukturrättelse i {results[0]['doc']} ({results[0]['units']} poster), ny process, median av "
          f"{args.runs}: " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in med.items()))


if __name__ == "__main__":
    main()
