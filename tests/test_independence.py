"""The product never reads ../shared: ingesting the corpus from a copy of the project with no ../shared beside it
gives exactly the units, suggestions, themes and flags that the checkout (with ../shared beside it) gives. The two
runs use different PYTHONHASHSEEDs, so every id must also be independent of set iteration order.

Both ingests run as `python cli.py ingest` subprocesses, as a user would run them; the copy holds the tracked
files and a link to the prepared model. The second store starts with the first one's embedding cache (vectors by
text hash, the same model), so the corpus is embedded once; every other row is computed afresh.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODEL = ROOT / "models"


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def copy_project(dest: Path) -> Path:
    for rel in tracked_files():
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / "models").symlink_to(MODEL, target_is_directory=True)
    return dest


def ingest(project: Path, db: Path, hash_seed: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KOMMUNRAPPORT_DATA"} | {"PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "cli.py", "ingest", "--quiet", "--db", str(db)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr


def snapshot(db: Path) -> dict[str, list]:
    conn = sqlite3.connect(db / "store.sqlite")
    units = conn.execute("SELECT id, doc, level, title, parent, explicit_status, status, suggested_status, "
                         "status_confidence, status_probs, status_evidence, status_note, themes FROM units "
                         "ORDER BY id").fetchall()
    passages = conn.execute("SELECT id, unit_id, themes FROM passages ORDER BY id").fetchall()
    flags = conn.execute("SELECT id, kind, doc, unit_ids, line, severity, score, message FROM flags "
                         "ORDER BY id").fetchall()
    conn.close()
    return {"units": units, "passages": passages, "flags": flags}


def test_ingest_is_the_same_with_and_without_the_shared_folder(tmp_path):
    if not (MODEL / "multilingual-e5-small" / "model.safetensors").is_file():
        pytest.fail("embedding model not prepared: run `make setup` (python -m index.model_prep)")
    assert SHARED.is_dir(), "this test compares a run with ../shared beside the project against one without"
    with_shared = tmp_path / "with"
    ingest(ROOT, with_shared, "1")
    lone = copy_project(tmp_path / "alone" / "project")
    assert not (lone.parent / "shared").exists()
    without = tmp_path / "without"
    without.mkdir()
    shutil.copy2(with_shared / "store.sqlite", without / "store.sqlite")
    conn = sqlite3.connect(without / "store.sqlite")
    for table in ("reports", "lines", "passages", "units", "flags", "decisions", "meta"):
        conn.execute(f"DELETE FROM {table}")  # keep only the embedding cache
    conn.commit()
    conn.close()
    ingest(lone, without, "2")  # another hash seed too: no id may depend on a set's iteration order
    a, b = snapshot(with_shared), snapshot(without)
    themed = sum(1 for row in a["units"] if json.loads(row[-1] or "[]"))
    suggested = sum(1 for row in a["units"] if row[7])
    print("units, passages, flags, themed units, suggested units:", len(a["units"]), len(a["passages"]),
          len(a["flags"]), themed, suggested)
    for key in ("units", "passages", "flags"):
        assert a[key] == b[key], key
