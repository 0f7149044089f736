"""Loading the analyst-labelled development set at run time and matching it to what the product found.

Nothing here is used by the product itself; only `cli.py eval` and tests read gold files.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from records import Unit

DEFAULT_GOLD_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev"


@dataclass
class GoldReport:
    doc: str
    units: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)  # doc_<report>.json
    qrels: list[dict[str, Any]] = field(default_factory=list)


def load_gold(gold_dir: Path | str | None = None) -> dict[str, GoldReport]:
    """{doc file name: GoldReport} for every units_<doc>.jsonl in the folder."""
    gold_dir = Path(gold_dir) if gold_dir else DEFAULT_GOLD_DIR
    if not gold_dir.is_dir():
        raise FileNotFoundError(f"gold folder not found: {gold_dir}")
    out: dict[str, GoldReport] = {}
    for path in sorted(gold_dir.glob("units_*.jsonl")):
        stem = path.stem[len("units_"):]
        units = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        doc = units[0]["doc"] if units else f"{stem}.txt"
        info_path = gold_dir / f"doc_{stem}.json"
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        qrels_path = gold_dir / f"qrels_{stem}.jsonl"
        qrels = ([json.loads(x) for x in qrels_path.read_text(encoding="utf-8").splitlines() if x.strip()]
                 if qrels_path.exists() else [])
        out[doc] = GoldReport(doc=doc, units=units, info=info, qrels=qrels)
    return out


def load_queries(gold_dir: Path | str | None = None) -> dict[str, str]:
    gold_dir = Path(gold_dir) if gold_dir else DEFAULT_GOLD_DIR
    return json.loads((gold_dir / "queries.json").read_text(encoding="utf-8"))


def norm_title(text: str) -> str:
    """Lowercase letters and digits only, so markup, numbering punctuation and wrapping do not matter."""
    text = unicodedata.normalize("NFC", text or "").lower()
    text = re.sub(r"<[^<>]+>", " ", text)
    return " ".join(re.findall(r"[0-9a-zåäöéü]+", text))


def titles_match(gold_title: str, title: str) -> bool:
    """Gold titles are the first 200 characters verbatim; ours may carry a numbering prefix or be longer."""
    g, t = norm_title(gold_title), norm_title(title)
    if not g or not t:
        return False
    if g in t or t in g:
        return min(len(g), len(t)) >= 0.5 * max(len(g), min(len(t), 200)) or len(t) >= 15
    head = min(len(g), len(t), 120)
    return SequenceMatcher(None, g[:head], t[:head]).ratio() >= 0.8


def match_units(gold_units: list[dict[str, Any]], units: list[Unit]) -> list[Unit | None]:
    """For each gold unit, the unit of ours that covers its line and whose title matches (each used once)."""
    used: set[str] = set()
    out: list[Unit | None] = []
    for g in gold_units:
        candidates = [u for u in units if u.line_start <= g["line"] <= u.line_end and u.id not in used
                      and titles_match(g["title"], u.title)]
        # Prefer the tightest unit: a parent goal also covers its children's lines.
        best = min(candidates, key=lambda u: (u.line_end - u.line_start, abs((u.title_line or u.line_start) - g["line"])),
                   default=None)
        if best is not None:
            used.add(best.id)
        out.append(best)
    return out
