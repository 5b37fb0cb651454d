"""PyTorch reference fixtures for the four decoders (CaptioningTests): loss and every gradient of a
training step and of a self-critical step, and greedy and beam-3 captions of a peaked
("trained-looking") model.

    /tmp/ref/bin/python tools/reference/make_decoder_fixtures.py

The twin's modules are used as they are (python/captioner_twin), with dropout 0 so the
step is deterministic. The search below is the same algorithm as Sources/Captioning/Decoding/BeamSearch.swift.
"""
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
from captioner_twin import ShowTell, SoftAttention, AdaptiveAttention, Stepper, caption_loss  # noqa: E402

PAD, START, END = 0, 1, 2
END_BOOST = {"show-tell-gru": 3.0, "show-tell-lstm": 1.5, "soft-attention-gru": 1.5, "adaptive-attention-gru": 2.0}
V, C, L, E, H, A = 19, 10, 6, 8, 12, 7
SCST_ADVANTAGES = torch.tensor([0.7, -0.4, 1.3])


def make(arch):
    if arch == "show-tell-gru":
        return ShowTell(V, C, embed=E, hidden=H, cell="gru", dropout=0.0)
    if arch == "show-tell-lstm":
        return ShowTell(V, C, embed=E, hidden=H, cell="lstm", dropout=0.0)
    if arch == "soft-attention-gru":
        return SoftAttention(V, C, embed=E, hidden=H, att=A, dropout=0.0)
    return AdaptiveAttention(V, C, embed=E, hidden=H, dropout=0.0)


def word_logp(logits):
    logp = F.log_softmax(logits, 1)
    logp[:, PAD] = -float("inf")
    logp[:, START] = -float("inf")
    return logp


def greedy(stepper, pooled, grid, max_words):
    results = []
    for n in range(pooled.size(0)):
        state = stepper.init(pooled[n:n + 1], None if grid is None else grid[n:n + 1])
        w, toks, lp = torch.tensor([START]), [], 0.0
        for step in range(max_words + 1):
            state, logits = stepper.step(state, w)
            logp = word_logp(logits)[0]
            best = int(logp.argmax())
            if best == END:
                lp += float(logp[best]); break
            if step == max_words:
                break
            toks.append(best); lp += float(logp[best]); w = torch.tensor([best])
        results.append((toks, lp))
    return results


def beam(stepper, pooled, grid, k, max_words):
    out = []
    for n in range(pooled.size(0)):
        p1 = pooled[n:n + 1].expand(k, -1)
        g1 = None if grid is None else grid[n:n + 1].expand(k, -1, -1)
        state = stepper.init(p1, g1)
        beams = [([], 0.0)] * k
        alive = [j == 0 for j in range(k)]
        finished = []
        words = torch.full((k,), START)
        for step in range(max_words + 1):
            new_state, logits = stepper.step(state, words)
            logp = word_logp(logits)
            cands = []
            for j in range(k):
                if not alive[j]:
                    continue
                for w in range(V):
                    s = beams[j][1] + float(logp[j, w])
                    if s != -float("inf"):
                        cands.append((s, j, w))
            cands.sort(key=lambda c: -c[0])
            cands = cands[:2 * k]
            next_beams, next_alive, sources, filled = list(beams), [False] * k, [0] * k, 0
            next_words = [END] * k
            for s, j, w in cands:
                if filled == k:
                    break
                if w == END:
                    finished.append((beams[j][0], s)); continue
                if step == max_words:
                    continue
                next_beams[filled] = (beams[j][0] + [w], s)
                next_alive[filled], sources[filled], next_words[filled] = True, j, w
                filled += 1
            if step == max_words:
                break
            beams, alive = next_beams, next_alive
            if len(finished) >= k or filled == 0:
                break
            state = stepper.select(new_state, torch.tensor(sources))
            words = torch.tensor(next_words)
        results = finished if finished else [beams[j] for j in range(k) if alive[j]]
        results.sort(key=lambda r: -r[1])
        out.append(results[:k])
    return out


def pad_rows(rows, width):
    return torch.tensor([r + [-1] * (width - len(r)) for r in rows], dtype=torch.long)


def main():
    torch.manual_seed(77)
    store = {}
    B, T, MAXW = 3, 7, 8
    tokens = torch.tensor([[1, 5, 9, 7, 2, 0, 0], [1, 12, 4, 4, 18, 8, 2], [1, 3, 2, 0, 0, 0, 0]])
    grid = torch.randn(B, L, C)
    pooled = grid.mean(1)
    for arch in ["show-tell-gru", "show-tell-lstm", "soft-attention-gru", "adaptive-attention-gru"]:
        model = make(arch)
        feats = pooled if arch.startswith("show-tell") else grid
        for k, v in model.state_dict().items():
            store[f"{arch}/param.{k}"] = v.clone()
        # The same weights as PyTorch checkpoints, for `caption import`: zip format, and the legacy
        # format wrapped in {"state_dict": …}.
        fixtures = os.path.join(ROOT, "Tests", "CaptioningTests", "Fixtures")
        if arch == "soft-attention-gru":
            torch.save(model.state_dict(), os.path.join(fixtures, "twin_soft_attention.pth"))
        if arch == "show-tell-lstm":
            torch.save({"state_dict": model.state_dict(), "epoch": 3}, os.path.join(fixtures, "twin_show_tell_lstm_legacy.pth"),
                       _use_new_zipfile_serialization=False)
        logits, alphas = model(feats, tokens)
        loss = caption_loss(logits, alphas, tokens, alpha_reg=1.0 if arch == "soft-attention-gru" else 0.0)
        loss.backward()
        store[f"{arch}/loss"] = loss.detach().reshape(1)
        store[f"{arch}/logits"] = logits.detach()
        if alphas is not None:
            store[f"{arch}/alphas"] = alphas.detach()
        for k, p in model.named_parameters():
            store[f"{arch}/grad.{k}"] = p.grad.clone()
        # Self-critical loss of the same captions taken as samples, with per-caption advantages
        # (reward − baseline): −(1/N) Σ_k a_k Σ_t log p(w_kt), N the real target tokens.
        model.zero_grad()
        logits, _ = model(feats, tokens)
        targets = tokens[:, 1:]
        mask = (targets != PAD).float()
        logp = F.log_softmax(logits, 2).gather(2, targets.unsqueeze(2)).squeeze(2)
        scst = -(SCST_ADVANTAGES.unsqueeze(1) * logp * mask).sum() / mask.sum()
        scst.backward()
        store[f"{arch}/scst.loss"] = scst.detach().reshape(1)
        for k, p in model.named_parameters():
            store[f"{arch}/scst.grad.{k}"] = p.grad.clone()
        # A peaked model: sharper output layer, as training makes it.
        with torch.no_grad():
            model.out.weight.mul_(6.0)
            model.out.bias.mul_(6.0)
            # Make <end> a real contender, so hypotheses finish at different lengths.
            model.out.bias[END] += END_BOOST[arch]
            store[f"{arch}/peaked.out.weight"] = model.out.weight.clone()
            store[f"{arch}/peaked.out.bias"] = model.out.bias.clone()
            stepper = Stepper(model.eval())
            g = None if arch.startswith("show-tell") else grid
            gr = greedy(stepper, pooled, g, MAXW)
            store[f"{arch}/greedy.tokens"] = pad_rows([t for t, _ in gr], MAXW + 1)
            store[f"{arch}/greedy.logp"] = torch.tensor([lp for _, lp in gr])
            bm = beam(stepper, pooled, g, 3, MAXW)
            flat = [h for image in bm for h in image]
            store[f"{arch}/beam.count"] = torch.tensor([len(image) for image in bm], dtype=torch.long)
            store[f"{arch}/beam.tokens"] = pad_rows([t for t, _ in flat], MAXW + 1)
            store[f"{arch}/beam.logp"] = torch.tensor([lp for _, lp in flat])
    store["grid"], store["tokens"], store["scst.advantages"] = grid, tokens, SCST_ADVANTAGES
    out = os.path.join(ROOT, "Tests", "CaptioningTests", "Fixtures", "decoders.safetensors")
    save_file({k: v.contiguous() for k, v in store.items()}, out, metadata={"torch": torch.__version__, "max_words": str(MAXW)})
    print("wrote", out)


if __name__ == "__main__":
    main()
