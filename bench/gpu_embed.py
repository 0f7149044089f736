"""Passage embedding throughput through the product's own path (index.embeddings.Embedder) on a device.

    python bench/gpu_embed.py [--model DIR] [--device cuda] [--repeat 5] [--random-init TEMPLATE_DIR]

Embeds the corpus's 2,416 passages (bench/fixtures/corpus_passages.json.gz, exported from the corpus store) with
`Embedder.embed_passages` – on cuda in fp16 with GPU_BATCH-sized, length-sorted batches – and prints passages/s
(median of --repeat passes after one warm-up pass) and, on cuda, the cosine of the fp16 vectors to fp32 ones
from the same weights on the same GPU.

--random-init TEMPLATE_DIR builds a model folder with the architecture, tokenizer and prompts of TEMPLATE_DIR (a
sentence-transformers folder without its weights) and random weights: for a machine the real weights cannot be
copied to (the product's model is ~470 MB). Throughput does not depend on the weights' values; the fp16/fp32
cosine on random weights says little about the real model's (tests/test_embeddings.py checks the CPU path's
vectors).
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSAGES = ROOT / "bench" / "fixtures" / "corpus_passages.json.gz"


def random_model(template: Path, dest: Path) -> Path:
    """A sentence-transformers folder like `template`, with randomly initialised weights."""
    from transformers import AutoConfig, AutoModel

    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    AutoModel.from_config(AutoConfig.from_pretrained(template)).save_pretrained(dest)
    return dest


def throughput(embedder, passages: list[str], repeat: int) -> tuple[float, np.ndarray]:
    embedder.embed_passages(passages[:512])  # warm-up: kernels, allocator
    times, vectors = [], None
    for _ in range(repeat):
        if embedder.device == "cuda":
            import torch

            torch.cuda.synchronize()
        started = time.perf_counter()
        vectors = embedder.embed_passages(passages)
        times.append(time.perf_counter() - started)
    return len(passages) / statistics.median(times), vectors


def main(argv: list[str] | None = None) -> int:
    from index.embeddings import GPU_BATCH, Embedder

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="sentence-transformers folder (default: the product's model)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--random-init", metavar="TEMPLATE_DIR")
    ap.add_argument("--limit", type=int, help="only the first N passages (a quick check on a CPU)")
    args = ap.parse_args(argv)
    with gzip.open(PASSAGES, "rt", encoding="utf-8") as f:
        passages = json.load(f)[:args.limit]
    work = Path(tempfile.mkdtemp(prefix="gpu-embed-"))
    model = str(random_model(Path(args.random_init), work / "model")) if args.random_init else args.model
    embedder = Embedder.load(model, device=args.device)
    rate, vectors = throughput(embedder, passages, args.repeat)
    import torch

    name = torch.cuda.get_device_name(0) if embedder.device == "cuda" else "cpu"
    weights = "slumpade vikter, samma arkitektur" if args.random_init else "modellens vikter"
    print(f"inbäddning av korpusens {len(passages)} passager på {name} ({embedder.device}, "
          f"{'fp16, satser om ' + str(GPU_BATCH) if embedder.device == 'cuda' else 'fp32'}, {weights}): "
          f"{rate:.0f} passager/s (median av {args.repeat})")
    if embedder.device == "cuda":
        embedder.model.float()
        embedder.device = "cuda-fp32"  # same GPU, fp32 weights, same batch size
        exact = embedder.model.encode(passages, prompt=embedder.passage_prefix or None, batch_size=GPU_BATCH,
                                      convert_to_numpy=True, normalize_embeddings=True)
        cos = np.sum(np.asarray(vectors, dtype=np.float64) * exact, axis=1)
        print(f"  fp16 mot fp32 på samma GPU: cosinus min {cos.min():.5f}, median {np.median(cos):.5f}")
        print(f"  20 miljoner passager i den takten: {20e6 / rate / 60:.0f} minuter")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
