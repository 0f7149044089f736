"""The CLI contract other checks rely on: command names, help texts, README coverage, `units --jsonl` keys."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import cli
from pipeline.prepare import prepare
from index.store import Store
from nlp.metadata import read_manifest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "reports"
UNIT_KEYS = ["id", "doc", "kommun", "namnd", "year", "period", "level", "parent", "title", "text", "line_start",
             "line_end", "page_start", "page_end", "progress", "explicit_status", "explicit_status_source", "status", "suggested_status",
             "status_confidence", "status_evidence", "themes"]


def commands() -> dict[str, object]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: sub._name_parser_map[name] for name in sub.choices}


def test_commands_are_the_contract():
    assert sorted(commands()) == sorted(["ingest", "remove", "reindex", "backup", "units", "search", "similar", "flags",
                                         "train", "eval", "export", "retitle", "undo", "edit-report", "split", "merge",
                                         "delete-unit", "move-end", "set-level", "set-parent"])


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_has_help_and_is_in_readme(name):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert helps[name] and len(helps[name]) > 10
    assert f"python cli.py {name}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_units_jsonl_contract(tmp_path, capsys):
    store = Store.open(tmp_path, create=True)
    meta, doc, seg = prepare(FIXTURES / "hudiksvall-markdown-2023-08.txt", {}, read_manifest(FIXTURES / "manifest.csv"))
    store.replace_report(meta, doc, seg, "x")
    store.close()
    assert cli.main(["units", "--db", str(tmp_path), "--jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 4
    assert list(records[0])[:len(UNIT_KEYS)] == UNIT_KEYS
    first = {k: records[0][k] for k in UNIT_KEYS if k != "text"}
    assert first == {
        "id": seg.units[0].id, "doc": "hudiksvall-markdown-2023-08.txt", "kommun": "Hudiksvall",
        "namnd": "Social- och omsorgsnämnden", "year": 2023, "period": "augusti", "level": "verksamhetsmål",
        "parent": "Övergripande mål: Samhällstjänster av högsta kvalitet",
        "title": "Kommunfullmäktiges verksamhetsmål: Minska sjukskrivningarna", "line_start": 14, "line_end": 24,
        "page_start": None, "page_end": None, "progress": None, "explicit_status": "Delvis uppfyllt", "explicit_status_source": "column", "status": "försenad",
        "suggested_status": None, "status_confidence": None, "status_evidence": [], "themes": [],
    }


def test_unknown_report_is_a_clear_error(tmp_path, capsys):
    Store.open(tmp_path, create=True).close()
    assert cli.main(["units", "--db", str(tmp_path), "--doc", "finns-inte.txt"]) == 2
    assert capsys.readouterr().err.strip() == "fel: finns-inte.txt: ingen sådan rapport i databasen"
