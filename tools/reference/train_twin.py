"""Train a PyTorch twin decoder (python/captioner_twin) the way `caption train` does, on the
same dataset and feature file, and report its scores with pycocoevalcap: the quality anchor for the
Swift decoders (same features, sizes, seed budget and epochs; the best epoch by validation BLEU-4).

    /tmp/ref/bin/python tools/reference/train_twin.py --data DIR --features F.safetensors [--save twin.safetensors] \
        --arch soft-attention-gru --epochs 6 [--hidden 512] [--attention-penalty 1] [--seed 1] [--score-split test]

Datasets: the Kaggle layout (captions.txt + splits/{train,val,test}.txt, as `caption synth` writes it),
Flickr8k's original layout (Flickr8k.token.txt with Flickr_8k.{train,dev,test}Images.txt anywhere under
DIR; dev is the validation split, a missing list is an empty split), or a Karpathy split JSON
(restval joins train). --score-split picks the split scored at the end (test, or val when the
test split is withheld).
"""
import argparse
import csv
import json
import os
import random
import re
import sys
import time
from collections import Counter

import torch
import torch.nn as nn
from safetensors.torch import load_file
from safetensors import safe_open

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from captioner_twin import ShowTell, SoftAttention, AdaptiveAttention, caption_loss  # noqa: E402

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")   # SPEC row 2: runs of letters/digits, inner apostrophes kept


def tokenize(caption):
    return WORD.findall(caption.lower())


def load_dataset(path):
    """(captions by image, split name → images) for the layouts `caption train` reads most often."""
    if path.endswith(".json"):
        data = json.load(open(path))
        captions, split = {}, {"train": [], "val": [], "test": []}
        for image in data["images"]:
            captions[image["filename"]] = [s["raw"] for s in image["sentences"]]
            split["train" if image["split"] == "restval" else image["split"]].append(image["filename"])
        return captions, split
    if os.path.exists(os.path.join(path, "captions.txt")):
        captions = {}
        with open(os.path.join(path, "captions.txt"), newline="") as f:
            for row in csv.DictReader(f):
                captions.setdefault(row["image"], []).append(row["caption"])
        lists = {s: os.path.join(path, "splits", f"{s}.txt") for s in ["train", "val", "test"]}
    else:
        found = {}
        for root, _, files in os.walk(path):
            for name in files:
                found.setdefault(name, os.path.join(root, name))
        if "Flickr8k.token.txt" not in found:
            sys.exit(f"{path}: no captions.txt, Flickr8k.token.txt or Karpathy JSON found")
        captions = {}
        for line in open(found["Flickr8k.token.txt"], encoding="utf-8"):
            if "\t" not in line:
                continue
            key, caption = line.rstrip("\n").split("\t", 1)
            captions.setdefault(key.split("#")[0], []).append(caption)
        lists = {s: found.get(f"Flickr_8k.{name}Images.txt", "") for s, name in [("train", "train"), ("val", "dev"), ("test", "test")]}
    split = {s: [l.strip() for l in open(f) if l.strip() in captions] if os.path.exists(f) else [] for s, f in lists.items()}
    return captions, split


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--arch", default="soft-attention-gru")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--embed", type=int, default=256)
    ap.add_argument("--attention", type=int, default=256, help="attention size (soft attention)")
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--attention-penalty", type=float, default=None, help="λ of the soft-attention penalty (default 1)")
    ap.add_argument("--max-words", type=int, default=30)
    ap.add_argument("--score-split", default="test", choices=["test", "val"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", help="write the best state dict here (safetensors) and vocab.txt beside it, for `caption import`")
    ap.add_argument("--threads", type=int, default=2, help="1 is faster on a machine that is busy with other work")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)

    captions, split = load_dataset(args.data)
    counts = Counter(w for image in split["train"] for c in captions[image] for w in tokenize(c))
    words = sorted((w for w, n in counts.items() if n >= args.min_count), key=lambda w: (-counts[w], w))
    vocab = ["<pad>", "<start>", "<end>", "<unk>"] + words
    ids = {w: i for i, w in enumerate(vocab)}

    feats = load_file(args.features)
    with safe_open(args.features, "pt") as f:
        names = json.loads(f.metadata()["images"])
    row = {n: i for i, n in enumerate(names)}
    grid, pooled = feats["grid"], feats["pooled"]
    V, C = len(vocab), pooled.size(1)
    sizes = dict(embed=args.embed, hidden=args.hidden, dropout=args.dropout)
    if args.arch.startswith("show-tell"):
        model = ShowTell(V, C, cell="lstm" if args.arch.endswith("lstm") else "gru", **sizes)
        inputs = pooled
    elif args.arch == "soft-attention-gru":
        model, inputs = SoftAttention(V, C, att=args.attention, **sizes), grid
    else:
        model, inputs = AdaptiveAttention(V, C, **sizes), grid
    alpha_reg = (1.0 if args.attention_penalty is None else args.attention_penalty) if args.arch == "soft-attention-gru" else 0.0

    samples = [(row[image], [1] + [ids.get(w, 3) for w in tokenize(c)[:args.max_words]] + [2])
               for image in split["train"] if image in row for c in captions[image]]
    split = {name: [i for i in images if i in row] for name, images in split.items()}
    opt = torch.optim.Adam(model.parameters(), args.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.8, patience=1)

    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    def greedy(images, max_words=args.max_words):
        model.eval()
        out = {}
        with torch.no_grad():
            for s in range(0, len(images), 64):
                batch = images[s:s + 64]
                x = inputs[[row[i] for i in batch]]
                toks = torch.full((len(batch), 1), 1, dtype=torch.long)
                for _ in range(max_words + 1):
                    logits, _ = model(x, torch.cat([toks, torch.zeros(len(batch), 1, dtype=torch.long)], 1))
                    step = logits[:, -1]
                    step[:, 0] = -1e9
                    step[:, 1] = -1e9
                    step[:, 3] = -1e9    # <unk> is never emitted, as in `caption`
                    toks = torch.cat([toks, step.argmax(1, keepdim=True)], 1)
                for image, t in zip(batch, toks.tolist()):
                    words = []
                    for i in t[1:]:
                        if i == 2:
                            break
                        words.append(vocab[i])
                    out[image] = " ".join(words[:max_words])
        return out

    def score(images):
        pred = greedy(images)
        tok = PTBTokenizer()
        gts = tok.tokenize({i: [{"caption": c} for c in captions[i]] for i in images})
        res = tok.tokenize({i: [{"caption": pred[i]}] for i in images})
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        cider, _ = Cider().compute_score(gts, res)
        rouge, _ = Rouge().compute_score(gts, res)
        return {**{f"BLEU-{n + 1}": bleu[n] for n in range(4)}, "ROUGE-L": rouge, "CIDEr-D": cider}

    best, best_state, seconds, tokens_seen = -1.0, None, 0.0, 0
    for epoch in range(args.epochs):
        model.train()
        random.shuffle(samples)
        t0, total, ntok = time.time(), 0.0, 0
        for s in range(0, len(samples), args.batch):
            batch = samples[s:s + args.batch]
            width = max(len(t) for _, t in batch)
            tokens = torch.zeros(len(batch), width, dtype=torch.long)
            for r, (_, t) in enumerate(batch):
                tokens[r, :len(t)] = torch.tensor(t)
            logits, alphas = model(inputs[[i for i, _ in batch]], tokens)
            loss = caption_loss(logits, alphas, tokens, alpha_reg=alpha_reg)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            n = sum(len(t) - 1 for _, t in batch)
            total, ntok = total + loss.item() * n, ntok + n
        seconds, tokens_seen = seconds + time.time() - t0, tokens_seen + ntok
        val = score(split["val"])
        sched.step(val["BLEU-4"])
        print(f"epoch {epoch + 1}: loss {total / ntok:.4f}, {ntok / (time.time() - t0):.0f} tokens/s, "
              f"val BLEU-4 {val['BLEU-4']:.4f}, CIDEr-D {val['CIDEr-D']:.4f}", file=sys.stderr, flush=True)
        if val["BLEU-4"] > best:
            best, best_state = val["BLEU-4"], {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    if args.save:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in best_state.items()}, args.save)
        with open(os.path.join(os.path.dirname(os.path.abspath(args.save)), "vocab.txt"), "w") as f:
            f.write("\n".join(vocab) + "\n")
    print(json.dumps({"arch": args.arch, "val_BLEU-4": best, "train_seconds": round(seconds, 1),
                      "tokens_per_second": round(tokens_seen / max(seconds, 1e-9)), "threads": args.threads,
                      **{f"{args.score_split}_{k}": v for k, v in score(split[args.score_split]).items()}}))


if __name__ == "__main__":
    main()
