"""Time to compute one report's flags, on the corpus store and on a store of its reports copied many times.

    python bench/flags_time.py [--db data] [--copies 20] [--runs 3]

Prints, per store size, the median over reports of `nlp.consistency.compute_flags` (median of --runs each) and the
slowest report (target: every report <= 2 s). The copies (see bench/retrain.py) carry no status suggestions, so
the status-vs-text detector reads stated statuses and cues only there. The cross-report duplicate check reads only
the units that share a MinHash band with the report (nlp/near_duplicates.py); the copies share every commentary
with 20 other reports, more than the ten after which text counts as a template, so here that check reads nothing
(bench/ingest_scale.py measures it on reports that share one commentary in twenty).
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
from nlp.near_duplicates import refresh_bands  # noqa: E402
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
        # The copies enter as rows, not through ingest: give them their near-duplicate bands as ingest would.
        refresh_bands(store, [r["doc"] for r in store.reports()])
        print(report(f"korpusen kopierad {args.copies} gånger", len(store.units()),
                     time_reports(store, docs, args.runs)))
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
