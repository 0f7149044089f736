"""Imports follow the data flow: file -> document model -> segmenter -> store -> indexes -> classifiers -> flags ->
services -> CLI and app. A module may import from its own stage or an earlier one, never a later one; nothing in
the product imports evaluation/. Read from the source with ast (function-level imports count too)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Stage of each product module; shared vocabularies and result types (stage 0) may be imported by anyone.
STAGES: dict[str, int] = {
    "errors": 0, "records": 0, "nlp.text": 0, "nlp.status_vocab": 0, "nlp.swedish": 0, "nlp.labels": 0,
    "nlp.taxonomy": 0, "nlp.periods": 0,
    "nlp.reader": 1, "nlp.document": 1, "nlp.page_image": 1, "nlp.pdf_reader": 1, "nlp.docx_reader": 1, "nlp.metadata": 1,
    "nlp.layout": 2, "nlp.segmenter": 2, "nlp.profile": 2,
    "index.store": 3, "index.cite": 3, "index.checksum": 3,
    "index.embeddings": 4, "index.model_prep": 4, "index.onnx_embedder": 4, "index.lexical": 4, "index.dense": 4, "index.indexes": 4,
    "index.search": 4,
    "nlp.status": 5, "nlp.status_learning": 5, "nlp.themes": 5,
    "nlp.consistency": 6, "nlp.flag_thresholds": 6, "nlp.flag_feedback": 6, "nlp.near_duplicates": 6,
    "pipeline": 7, "pipeline.prepare": 7, "pipeline.limits": 7, "pipeline.derive": 7, "pipeline.recovery": 7,
    "pipeline.ingest": 7, "pipeline.identity": 7, "pipeline.upload": 7, "pipeline.backup": 7, "pipeline.review": 7, "pipeline.corrections": 7, "pipeline.structure": 7, "pipeline.export": 7, "pipeline.train": 7,
    "cli": 8, "app": 8,
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def product_files() -> list[Path]:
    files = [ROOT / "cli.py", ROOT / "app.py", ROOT / "errors.py", ROOT / "records.py"]
    for folder in ("nlp", "index", "pipeline"):
        files += sorted((ROOT / folder).glob("*.py"))
    return files


def imported(path: Path) -> set[str]:
    """Product modules a file imports (from x import y counts x, and x.y when that is a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in out if name in STAGES or name.split(".")[0] == "evaluation"}


def test_every_product_module_has_a_stage():
    assert sorted(module_name(p) for p in product_files() if module_name(p) not in STAGES) == []


def test_no_module_imports_from_a_later_stage_or_from_evaluation():
    wrong = []
    for path in product_files():
        name = module_name(path)
        for target in sorted(imported(path)):
            if target.startswith("evaluation") or STAGES[target] > STAGES[name]:
                wrong.append(f"{name} -> {target}")
    assert wrong == []
