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
from captioner_twin import AdaptiveAttention, SoftAttention, Stepper

torch.set_num_threads(2)
torch.manual_seed(0)
SECONDS = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 3.0
V, C, L, WORDS, K = 2538, 1280, 81, 20, 3


def beam_ms(model, bf16):
    stepper = Stepper(model)

    @torch.inference_mode()
    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            state = stepper.init(None, grid)
            scores = torch.zeros(K); scores[1:] = -1e9
            w = torch.ones(K, dtype=torch.long)
            for _ in range(WORDS + 1):
                state, logits = stepper.step(state, w)
                cand = (scores.unsqueeze(1) + F.log_softmax(logits.float(), 1)).view(-1)
                scores, idx = cand.topk(K)
                src, w = idx // V, idx % V
                state = stepper.select(state, src)
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
    res[f"beam3_soft_attention_gru_v2538_ms@{tag}"] = beam_ms(SoftAttention(V, C).eval(), bf16)
    res[f"beam3_adaptive_attention_gru_v2538_ms@{tag}"] = beam_ms(AdaptiveAttention(V, C).eval(), bf16)
print(json.dumps(res, indent=1, sort_keys=True))
