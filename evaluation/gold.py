"""The analyst-labelled development set for `cli.py eval` (read at run time, never by the product).

Reading and matching labels is the product's own code (nlp/labels.py, also used by `cli.py train --labels`);
this module only knows where the development set lives.
"""
from __future__ import annotations

import json
from pathlib import Path

from nlp.labels import LabelledReport as GoldReport, load_labels, match_units, norm_title, titles_match

DEFAULT_GOLD_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev"

__all__ = ["DEFAULT_GOLD_DIR", "GoldReport", "load_gold", "load_queries", "match_units", "norm_title",
           "titles_match"]


def load_gold(gold_dir: Path | str | None = None) -> dict[str, GoldReport]:
    """{doc file name: GoldReport} for every units_<doc>.jsonl in the folder (default: ../shared/eval/dev)."""
    return load_labels(Path(gold_dir) if gold_dir else DEFAULT_GOLD_DIR)


def load_queries(gold_dir: Path | str | None = None) -> dict[str, str]:
    gold_dir = Path(gold_dir) if gold_dir else DEFAULT_GOLD_DIR
    return json.loads((gold_dir / "queries.json").read_text(encoding="utf-8"))
