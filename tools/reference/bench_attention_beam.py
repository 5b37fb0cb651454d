"""PyTorch's side of `caption bench`'s attention beam-3 workloads: beam 3 of one image through the
twin's soft- and adaptive-attention decoders at the shipped captioner's shapes (V 2,538, a 9×9 grid of
1,280 channels, up to 20 words), as bench_peers.py times show-tell's beam (fp32; bf16 autocast too where
the CPU multiplies bfloat16). Same keys as `caption bench`, with an '@variant' suffix.

    /tmp/ref/bin/python tools/reference/bench_attention_beam.py [--seconds 3]
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import torch
import torch.nn.functional as F
from captioner_twin.models import SoftAttention, AdaptiveAttention

torch.set_num_threads(2)
torch.manual_seed(0)
SECONDS = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 3.0
V, C, L, WORDS, K = 2538, 1280, 81, 20, 3


def soft_steps(m, grid):
    """The twin's forward loop body as (init, step) over a state of (h, grid, projected grid)."""
    def init():
        return (torch.tanh(m.init_h(grid.mean(1))), grid, m.att_v(grid))

    def step(state, w):
        h, g, proj = state
        ctx, _ = m.attend(g, proj, h)
        h = m.cell(torch.cat([m.embed(w), ctx], 1), h)
        return (h, g, proj), m.out(h)
    return init, step


def adaptive_steps(m, grid):
    def init():
        v = F.relu(m.proj_v(grid))
        return (torch.zeros(grid.size(0), v.size(2)), v, F.relu(m.proj_g(grid.mean(1))), m.att_v(v))

    def step(state, w):
        h, v, g, pv = state
        x = torch.cat([m.embed(w), g], 1)
        s_gate = torch.sigmoid(m.sent_x(x) + m.sent_h(h))
        h = m.cell(x, h)
        s = s_gate * torch.tanh(h)
        hg = m.att_g(h).unsqueeze(1)
        z = m.att_w(torch.tanh(pv + hg)).squeeze(2)
        zs = m.att_w(torch.tanh(m.att_s(s).unsqueeze(1) + hg)).squeeze(2)
        a = F.softmax(torch.cat([z, zs], 1), 1)
        c = (a[:, :-1].unsqueeze(2) * v).sum(1)
        return (h, v, g, pv), m.out(a[:, -1:] * s + c + h)
    return init, step


def beam_ms(steps, bf16):
    init, step = steps

    @torch.inference_mode()
    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            state = init()
            scores = torch.zeros(K); scores[1:] = -1e9
            w = torch.ones(K, dtype=torch.long)
            for _ in range(WORDS + 1):
                state, logits = step(state, w)
                cand = (scores.unsqueeze(1) + F.log_softmax(logits.float(), 1)).view(-1)
                scores, idx = cand.topk(K)
                src, w = idx // V, idx % V
                state = tuple(t[src] for t in state)
    run(); run()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        run(); n += 1
    return 1000 * (time.perf_counter() - t0) / n


flags = open("/proc/cpuinfo").read()
variants = [(False, "torch_fp32")] + ([(True, "torch_bf16")] if "avx512_bf16" in flags or "amx_bf16" in flags else [])
grid = torch.randn(1, L, C).expand(K, L, C).contiguous()     # one image, its K beams
res = {"torch": torch.__version__, "threads": torch.get_num_threads()}
for bf16, tag in variants:
    res[f"beam3_soft_attention_gru_v2538_ms@{tag}"] = beam_ms(soft_steps(SoftAttention(V, C).eval(), grid), bf16)
    res[f"beam3_adaptive_attention_gru_v2538_ms@{tag}"] = beam_ms(adaptive_steps(AdaptiveAttention(V, C).eval(), grid), bf16)
print(json.dumps(res, indent=1, sort_keys=True))
