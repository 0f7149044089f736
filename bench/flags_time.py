"""Time to compute one report's flags, on the corpus store and on a store of its reports copied many times.

    python bench/flags_time.py [--db data] [--copies 20] [--runs 3]

Prints, per store size, the median over reports of `nlp.consistency.compute_flags` (median of --runs each) and the
slowest report (target: every report <= 2 s). The copies (see bench/retrain.py) carry no status suggestions, so
the status-vs-text detector reads stated statuses and cues only there; the cross-report duplicate check compares
each report with every other one, which is what grows with the store.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from index.store import Store  # noqa: E402
from nlp.consistency import compute_flags  # noqa: E402
from retrain import bench_args, copy_reports, store_copy  # noqa: E402

TARGET_S = 2.0


def time_reports(store: Store, docs: list[str], runs: int) -> dict[str, float]:
    out = {}
    for doc in docs:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            compute_flags(store, doc)
            times.append(time.perf_counter() - started)
        out[doc] = statistics.median(times)
    return out


def report(label: str, n_units: int, times: dict[str, float]) -> str:
    worst = max(times, key=times.get)
    verdict = "uppnått" if times[worst] <= TARGET_S else "EJ uppnått"
    return (f"flaggor per rapport, {label} ({len(times)} rapporter mätta, {n_units} poster i databasen): median "
            f"{statistics.median(times.values()):.2f} s, längst {times[worst]:.2f} s ({worst}); mål <= "
            f"{TARGET_S:.0f} s: {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = bench_args(argv)
    with store_copy(args.db, "flags-bench-") as (_, store):
        docs = [r["doc"] for r in store.reports()]
        print(report("korpusen", len(store.units()), time_reports(store, docs, args.runs)))
        copy_reports(store, args.copies)
        print(report(f"korpusen kopierad {args.copies} gånger", len(store.units()),
                     time_reports(store, docs, args.runs)))
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
