"""PyTorch's side of `caption bench`'s micro workloads (same keys, same shapes, 2 threads).

    /tmp/ref/bin/python tools/reference/bench_micro.py [--seconds 3]
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)
SECONDS = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 3.0


def rate(fn):
    fn(); fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        fn(); n += 1
    return n / (time.perf_counter() - t0)


res = {"torch": torch.__version__, "threads": torch.get_num_threads()}
with torch.inference_mode():
    for m, k, n in [(1344, 512, 3000), (1344, 256, 1536), (64, 512, 1536)]:
        a, w = torch.randn(m, k), torch.randn(n, k)
        res[f"matmul_{m}x{k}x{n}_gflops"] = rate(lambda: F.linear(a, w)) * 2 * m * k * n / 1e9

cell = nn.GRUCell(256, 512)
x, h = torch.randn(64, 256), torch.randn(64, 512)


def step():
    cell.zero_grad(set_to_none=True)
    cell(x, h).backward(torch.ones(64, 512))


res["gru_cell_b64_i256_h512_fwd_bwd_ms"] = 1000 / rate(step)
print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in res.items()}, indent=1))
