"""Flags against the analysts' inconsistency labels, leave-one-report-out.

Gold problems (nlp.labels.label_problems): a labelled item with an "inconsistency", found by a flag on its unit or
inside its lines; a document-level "doc_inconsistencies" entry, found by a flag whose line or evidence line lies
within nlp.labels.LINE_TOLERANCE lines.

Held out: for each labelled report, (1) the status classifier whose probabilities the status/text detector reads
is trained without that report (evaluation.heldout), and (2) every detector's minimum score is chosen on the other
labelled reports only (nlp.flag_thresholds.choose, the procedure `cli.py train --labels` runs). What is *not* held
out: the detectors themselves were written by people who had read these reports; only reports nobody here has
read can show how much that flatters the figures.

Recall = gold problems found / gold problems; precision = flags that find some gold problem / all flags.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from evaluation.gold import load_gold
from evaluation.heldout import held_out_status
from nlp import flag_thresholds as T
from nlp.consistency import KINDS, context_from_store, run_detectors
from nlp.flag_feedback import adjust, case_key
from nlp.labels import Problem, finds, label_problems
from records import Flag

RECALL_TARGET, PRECISION_TARGET, MAX_SHARE = 0.6, 0.5, 0.2


def held_out_flags(store: Any, doc: str, fields: dict[str, dict[str, Any]]) -> list[Flag]:
    """All flags of a report (no thresholds), with status suggestions from a model that did not see the report."""
    ctx = context_from_store(store, doc)
    for u in ctx.units:
        for key, value in fields.get(u.id, {}).items():
            setattr(u, key, value)
    return run_detectors(ctx)


def index_vs_all_pairs(store: Any, docs: list[str]) -> str:
    """The copied commentaries found through the MinHash band index (what the product runs) against comparing
    every unit with every other report's units (what it replaced)."""
    from dataclasses import replace

    from nlp.consistency import cross_report_duplicates

    def copied(flags: list[Any]) -> int:  # the flag's message opens with the number of copied commentaries
        return sum(int(f.message.split()[0]) for f in flags)

    by_index = by_pairs = 0
    all_units = store.units()
    namnd = {r["doc"]: r.get("namnd") for r in store.reports()}
    for d in docs:
        ctx = context_from_store(store, d)
        by_index += copied(cross_report_duplicates(ctx))
        by_pairs += copied(cross_report_duplicates(replace(ctx, other_units=[u for u in all_units if u.doc != d],
                                                           other_namnd=namnd)))
    return (f"kopierade kommentarer mellan rapporter: {by_index} via MinHash-index, {by_pairs} vid jämförelse av "
            f"alla par ({by_index / by_pairs if by_pairs else 1:.3f})")


def line(label: str, s: tuple[int, int, int, int]) -> str:
    found, problems, hits, flags = s
    recall = found / problems if problems else 0.0
    precision = hits / flags if flags else 0.0
    return (f"{label:48s} recall {recall:5.3f} ({found:3d}/{problems:3d})  "
            f"precision {precision:5.3f} ({hits:3d}/{flags:3d})")


def unit_shares(store: Any, flags_by_doc: dict[str, list[Flag]]) -> dict[str, tuple[float, str]]:
    """Per detector: the largest share of one report's units it points at, and that report."""
    out: dict[str, tuple[float, str]] = {}
    for doc, flags in flags_by_doc.items():
        n = len(store.units(doc)) or 1
        per_kind: dict[str, set[str]] = defaultdict(set)
        for f in flags:
            per_kind[f.kind] |= set(f.unit_ids)
        for kind in KINDS:
            share = len(per_kind.get(kind, set())) / n
            if share >= out.get(kind, (-1.0, ""))[0]:
                out[kind] = (share, doc)
    return out


def feedback_lines(docs: list[str], raw: dict[str, list[Flag]], loro: dict[str, list[Flag]],
                   chosen: dict[str, dict[str, float]], problems: dict[str, list[Problem]]) -> list[str]:
    """Reviewers' decisions as feedback (nlp.flag_feedback), the analysts' labels playing the reviewer: (a) every
    flag of the other reports decided, then the held-out report's flags; (b) the first half of the held-out
    report's queue decided, then the rest of it, before and after the feedback."""
    def decided(flags: list[Flag], doc: str) -> list[tuple[str, bool]]:
        return [(case_key(f), any(finds(f, p) for p in problems[doc])) for f in flags]

    elsewhere = {d: T.apply(adjust(raw[d], [r for o in docs if o != d for r in decided(loro[o], o)]), chosen[d])
                 for d in docs}
    before, after, rest_problems = {}, {}, {}
    for d in docs:
        queue = sorted(loro[d], key=lambda f: -f.score)
        first, rest = queue[:len(queue) // 2], {f.id for f in queue[len(queue) // 2:]}
        rest_problems[d] = [p for p in problems[d] if not any(finds(f, p) for f in first)]
        before[d] = [f for f in loro[d] if f.id in rest]
        after[d] = [f for f in T.apply(adjust(raw[d], decided(first, d)), chosen[d]) if f.id in rest]
    return [line("alla, med granskarbeslut på de andra rapporterna", T.score_all(elsewhere, problems, finds)),
            line("resten av kön, före beslut om första halvan", T.score_all(before, rest_problems, finds)),
            line("resten av kön, efter beslut om första halvan", T.score_all(after, rest_problems, finds))]


def evaluate(store: Any, gold_dir: Path | str | None = None, verbose: bool = True, embedder: Any | None = None
             ) -> list[str]:
    gold = load_gold(gold_dir)
    reports = {r["doc"] for r in store.reports()}
    docs = [d for d in sorted(gold) if d in reports]
    held = held_out_status(store, gold, embedder)
    raw = {d: held_out_flags(store, d, held.fields) for d in docs}
    problems: dict[str, list[Problem]] = {d: label_problems(gold[d], store.units(d)) for d in docs}
    chosen = {d: T.choose({o: raw[o] for o in docs if o != d}, {o: problems[o] for o in docs if o != d}, finds,
                          KINDS) for d in docs}
    loro = {d: T.apply(raw[d], chosen[d]) for d in docs}
    baseline = {d: [f for f in raw[d] if f.kind == "status_text_conflict"] for d in docs}
    out = ["## Flaggor mot analytikernas inkonsekvenser – lämna en rapport utanför",
           "statusmodellen och varje detektors tröskel väljs utan den utelämnade rapporten; detektorerna själva är "
           "skrivna av personer som läst rapporterna"]
    for d in docs:
        out.append(line(f"  {d}", T.score_all({d: loro[d]}, {d: problems[d]}, finds)))
    total = T.score_all(loro, problems, finds)
    found, n_problems, hits, n_flags = total
    ok = n_problems and found / n_problems >= RECALL_TARGET and n_flags and hits / n_flags >= PRECISION_TARGET
    out.append(line("alla, trösklar valda utan rapporten", total)
               + f"  mål recall >= {RECALL_TARGET} vid precision >= {PRECISION_TARGET}: {'uppnått' if ok else 'EJ uppnått'}")
    out.append(line("alla, utan trösklar", T.score_all(raw, problems, finds)))
    out.append(line("baslinje: bara status mot text", T.score_all(baseline, problems, finds)))
    out += feedback_lines(docs, raw, loro, chosen, problems)
    out.append("per detektor (lämna en rapport utanför; recall: problem som detektorn ensam hittar):")
    shares = unit_shares(store, {d: run_detectors(context_from_store(store, d)) for d in sorted(reports)})
    for kind in KINDS:
        own = {d: [f for f in loro[d] if f.kind == kind] for d in docs}
        share, where = shares.get(kind, (0.0, ""))
        thresholds = "/".join(f"{chosen[d][kind]:.2f}" for d in docs)
        out.append(line(f"  {kind}", T.score_all(own, problems, finds)) + f"  trösklar {thresholds}"
                   + f"  störst andel poster {share:5.3f}" + (f" ({where})" if share else "")
                   + ("" if share <= MAX_SHARE else f"  ÖVER {MAX_SHARE:.0%}"))
    out.append(index_vs_all_pairs(store, sorted(reports)))
    counts = Counter(f.severity for fl in loro.values() for f in fl)
    out.append("flaggor per rapport (lämna en rapport utanför): "
               + ", ".join(f"{d}: {len(f)}" for d, f in loro.items()) + f"; allvar {dict(counts)}")
    if verbose:
        for d in docs:
            out += [f"    missad {d}:{p.line} [{p.level}] {p.what[:110]}" for p in problems[d]
                    if not any(finds(f, p) for f in loro[d])]
            out += [f"    obekräftad {d}:{f.line} [{f.kind}, {f.severity}] {f.message[:110]}" for f in loro[d]
                    if not any(finds(f, p) for p in problems[d])]
    return out
