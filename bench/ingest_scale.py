"""Bulk ingest at growing store sizes: does one more report cost the same in a store of 5 and of 500 reports?

    python bench/ingest_scale.py [--reports 500] [--at 5 50 500] [--window 5] [--work bench/work/ingest]

Generates --reports synthetic text reports (below), then ingests them one file per `pipeline.ingest.ingest_paths`
call into one growing store, as a kommun's reports arrive over the years, and times every call. Printed: at each
size in --at, the median time of the --window ingests ending there, the ratio of the last to the first (target: the
500th report <= 1.5x the 5th) and peak RSS; the figures go to bench/results/ingest_scale.json, which
bench/run.py puts in docs/benchmarks.md.

Embedding excluded: the embedding model is replaced by a deterministic hashing embedder (character 4-grams, 64
dimensions, as in the test suite), so the figure is the pipeline's own cost (reading, segmenting, SQLite, index
updates, status, themes, flags). The real model adds a constant ~35 ms per passage on this CPU (see bench/run.py)
whatever the store size. What it cannot show: the status model is the untrained one (no `cli.py train`), and a
store whose reports are long PDFs spends its time in the reader, not here.

The generator: each report is a nämnd's follow-up of 12-18 uppdrag in one plain layout ("Uppdrag N: title", a status
line, the commentary), with titles from the sentences of corpus/ and commentaries of sentences spliced from two
corpus sentences each (seeded; real vocabulary, but no sentence shared by chance), stated statuses from the status
vocabulary, and one commentary in twenty copied from a pool of twenty, so the cross-report duplicate check has
real copies to find (and, as the store grows, template text shared by more than ten reports to leave alone).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_RATIO = 1.5
RESULTS = ROOT / "bench" / "results"
SEED = 20261127
NAMNDER = ["Socialnämnden", "Omsorgsnämnden", "Äldrenämnden", "Vård- och omsorgsnämnden",
           "Kultur- och fritidsnämnden", "Barn- och utbildningsnämnden", "Miljö- och byggnadsnämnden"]
STATUSES = ["Enligt plan", "Försenad", "Genomförd", "Pågår", "Ej påbörjad"]


def use_hash_embedder() -> None:
    import index.embeddings
    import index.indexes
    from tests.conftest import HashEmbedder  # the test suite's deterministic embedder: no model, no weights

    index.embeddings.Embedder.load = classmethod(lambda cls, *a, **k: HashEmbedder("bench/hash-embedder"))
    index.indexes._EMBEDDERS.clear()
    os.environ.pop(index.indexes.MODEL_ENV, None)


def corpus_pool() -> list[str]:
    from run import corpus_sentences

    return [s for s in corpus_sentences()[0] if 6 <= len(s.split()) <= 40 and "|" not in s]


def spliced(rng: random.Random, sentences: list[str], n: int) -> str:
    """n sentences, each the first half of one corpus sentence and the second half of another: real vocabulary
    and lengths, but (like real reports) not the same sentences as other reports."""
    out = []
    for _ in range(n):
        a, b = rng.choice(sentences).split(), rng.choice(sentences).split()
        out.append(" ".join(a[:len(a) // 2] + b[len(b) // 2:]))
    return " ".join(out)


def report_text(r: int, rng: random.Random, sentences: list[str], shared: list[str]) -> tuple[str, str]:
    """A report's text and its file name."""
    kommun, namnd, year = f"Kommun{r // 7:03d}", NAMNDER[r % len(NAMNDER)], 2019 + (r % 6)
    out = [namnd, f"{kommun} kommun", f"Delårsrapport per augusti {year}", f"Datum: {year}-09-20", "",
           "Sammanfattning", spliced(rng, sentences, 3), "", "Uppföljning av nämndens uppdrag", ""]
    for k in range(1, rng.randint(12, 18) + 1):
        title = " ".join(rng.choice(sentences).rstrip(".").split()[:7])
        body = rng.choice(shared) if rng.random() < 0.05 else spliced(rng, sentences, rng.randint(2, 5))
        out += [f"Uppdrag {k}: {title}", f"Status: {rng.choice(STATUSES)}", body, ""]
    return "\n".join(out), f"{kommun.lower()}-{r:04d}-{year}-08.txt"


def generate(folder: Path, n: int) -> list[Path]:
    rng = random.Random(SEED)
    sentences = corpus_pool()
    shared = [" ".join(rng.sample(sentences, 4)) for _ in range(20)]
    paths = []
    for r in range(n):
        text, name = report_text(r, rng, sentences, shared)
        sub = folder / f"r{r:04d}"  # one folder per report: its own manifest-free file, ingested alone
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=500)
    ap.add_argument("--at", type=int, nargs="+", default=[5, 50, 500])
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--work", default=str(ROOT / "bench" / "work" / "ingest"))
    args = ap.parse_args(argv)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    paths = generate(work / "reports", args.reports)
    use_hash_embedder()
    from pipeline.ingest import ingest_paths

    times = []
    for path in paths:
        started = time.perf_counter()
        summary = ingest_paths([path], work / "db", progress=False)
        times.append(time.perf_counter() - started)
        if summary.errors:
            raise SystemExit(f"{path.name}: {summary.errors}")
    at = {n: statistics.median(times[max(0, n - args.window):n]) for n in args.at if n <= len(times)}
    for n, t in at.items():
        # The mean over all reports so far includes the BM25 rebuilds (every 25 % of growth, see
        # index/indexes.py REBUILD_GROWTH) that a median window skips.
        print(f"inläsning, rapport nr {n}: {t:.3f} s (median av nr {max(1, n - args.window + 1)}–{n}); medel över "
              f"nr 1–{n}: {statistics.mean(times[:n]):.3f} s; längst {max(times[:n]):.2f} s")
    first, last = min(at), max(at)
    ratio = at[last] / at[first]
    print(f"inläsning: rapport nr {last} / nr {first} = {ratio:.2f}; mål <= {TARGET_RATIO}: "
          f"{'uppnått' if ratio <= TARGET_RATIO else 'EJ uppnått'} (inbäddning undantagen)")
    print(f"inläsning: högsta RSS {peak_rss_mb():.0f} MB; {summary.line()}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest_scale.json").write_text(json.dumps({
        "reports": len(times), "window": args.window, "seconds": [round(t, 4) for t in times],
        "median_at": {str(n): round(t, 4) for n, t in at.items()}, "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO, "peak_rss_mb": round(peak_rss_mb()), "units": summary.units,
        "passages": summary.passages, "load_avg_end": os.getloadavg()}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
