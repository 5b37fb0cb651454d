"""PyTorch reference fixtures for the tensor core and layers (TensorCoreTests, LayersTests).

Run with a PyTorch virtualenv (see docs/contributing.md); CI never runs this, it reads the committed output:
    /tmp/ref/bin/python tools/reference/make_fixtures.py

References are computed in float64 from float32 inputs, then stored as float32, so the Swift float32
results are compared against the exact answer rather than against PyTorch's own rounding.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
from captioner_twin import ShowTell, caption_loss  # noqa: E402

torch.manual_seed(1234)


def rand(*shape, positive=False):
    x = torch.randn(*shape)
    return (x.abs() + 0.5) if positive else x


def backward_through(store, name, outs):
    """Stores name/out.i and a random upstream gradient name/up.i for each output, then back-propagates
    sum_i(out_i * up_i), so every input's gradient is its vector-Jacobian product with the upstream."""
    outs = outs if isinstance(outs, tuple) else (outs,)
    loss = 0
    for i, o in enumerate(outs):
        up = torch.randn(o.shape)
        store[f"{name}/up.{i}"] = up
        store[f"{name}/out.{i}"] = o.detach().float()
        loss = loss + (o * up.double()).sum()
    loss.backward()


def op_case(store, name, fn, inputs, ints=None):
    """Stores name/in.K, name/out[.i], name/up[.i], name/grad.K for out = fn(*inputs, *ints)."""
    ints = ints or {}
    leaves = {k: v.double().requires_grad_(True) for k, v in inputs.items()}
    outs = fn(**leaves, **{k: v for k, v in ints.items()})
    backward_through(store, name, outs)
    for k, v in inputs.items():
        store[f"{name}/in.{k}"] = v
        store[f"{name}/grad.{k}"] = leaves[k].grad.float()
    for k, v in ints.items():
        store[f"{name}/int.{k}"] = v.long()


def op_fixtures():
    s = {}
    op_case(s, "matmul", lambda a, b: a @ b, {"a": rand(5, 7), "b": rand(7, 3)})
    op_case(s, "matmul_ta", lambda a, b: a.t() @ b, {"a": rand(7, 5), "b": rand(7, 3)})
    op_case(s, "matmul_tb", lambda a, b: a @ b.t(), {"a": rand(5, 7), "b": rand(3, 7)})
    op_case(s, "matmul_tab", lambda a, b: a.t() @ b.t(), {"a": rand(7, 5), "b": rand(3, 7)})
    op_case(s, "bmm", lambda a, b: a @ b, {"a": rand(2, 4, 6), "b": rand(2, 6, 3)})
    op_case(s, "bmm_tb", lambda a, b: a @ b.transpose(1, 2), {"a": rand(2, 4, 6), "b": rand(2, 3, 6)})
    op_case(s, "linear", lambda x, w, b: F.linear(x, w, b), {"x": rand(2, 3, 6), "w": rand(5, 6), "b": rand(5)})
    op_case(s, "add", lambda a, b: a + b, {"a": rand(3, 4, 5), "b": rand(4, 1)})
    op_case(s, "add_mid", lambda a, b: a + b, {"a": rand(3, 4, 5), "b": rand(3, 1, 5)})
    op_case(s, "sub", lambda a, b: a - b, {"a": rand(3, 4, 5), "b": rand(5)})
    op_case(s, "mul", lambda a, b: a * b, {"a": rand(3, 4, 5), "b": rand(3, 4, 1)})
    op_case(s, "div", lambda a, b: a / b, {"a": rand(3, 4), "b": rand(1, 4, positive=True)})
    op_case(s, "scale", lambda a: a * -2.5, {"a": rand(4, 3)})
    op_case(s, "shift", lambda a: 1.0 - a, {"a": rand(4, 3)})
    op_case(s, "sum1", lambda x: x.sum(1), {"x": rand(3, 4, 5)})
    op_case(s, "mean0k", lambda x: x.mean(0, keepdim=True), {"x": rand(3, 4, 5)})
    op_case(s, "sumall", lambda x: x.sum(), {"x": rand(3, 4)})
    op_case(s, "meanall", lambda x: x.mean(), {"x": rand(3, 4)})
    op_case(s, "tanh", lambda x: torch.tanh(x), {"x": rand(4, 5)})
    op_case(s, "sigmoid", lambda x: torch.sigmoid(x), {"x": rand(4, 5)})
    op_case(s, "relu", lambda x: torch.relu(x), {"x": rand(4, 5)})
    op_case(s, "exp", lambda x: torch.exp(x), {"x": rand(4, 5)})
    op_case(s, "log", lambda x: torch.log(x), {"x": rand(4, 5, positive=True)})
    op_case(s, "softmax_last", lambda x: F.softmax(x, -1), {"x": rand(3, 4, 5)})
    op_case(s, "softmax_mid", lambda x: F.softmax(x, 1), {"x": rand(3, 4, 5)})
    op_case(s, "logsoftmax", lambda x: F.log_softmax(x, -1), {"x": rand(3, 4, 5)})
    op_case(s, "concat", lambda a, b: torch.cat([a, b], 1), {"a": rand(2, 3, 4), "b": rand(2, 1, 4)})
    op_case(s, "slice", lambda x: x[:, 1:3], {"x": rand(2, 4, 3)})
    op_case(s, "permute", lambda x: x.permute(2, 0, 1), {"x": rand(2, 3, 4)})
    op_case(s, "reshape", lambda x: x.reshape(6, 4), {"x": rand(2, 3, 4)})
    op_case(s, "gather", lambda table, ids: table[ids], {"table": rand(6, 4)}, {"ids": torch.tensor([[1, 3, 1], [0, 5, 1]])})
    targets = torch.tensor([2, 0, 4, 1, 0, 3])
    op_case(s, "cross_entropy", lambda logits, t: F.cross_entropy(logits, t, ignore_index=0),
            {"logits": rand(6, 5) * 2}, {"t": targets})
    op_case(s, "attention_penalty", lambda alphas, mask: ((1.0 - (alphas * mask).sum(1)) ** 2).sum(1).mean(),
            {"alphas": F.softmax(rand(2, 3, 4), -1), "mask": torch.tensor([[[1.], [1.], [0.]], [[1.], [1.], [1.]]])})

    B, I, H = 3, 5, 4
    def gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
        return torch._VF.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    k = 1 / H ** 0.5
    u = lambda *shape: (torch.rand(*shape) * 2 - 1) * k
    op_case(s, "gru_cell", gru_cell, {"x": rand(B, I), "h": rand(B, H), "w_ih": u(3 * H, I), "w_hh": u(3 * H, H),
                                      "b_ih": u(3 * H), "b_hh": u(3 * H)})
    def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
        return tuple(torch._VF.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh))
    op_case(s, "lstm_cell", lstm_cell, {"x": rand(B, I), "h": rand(B, H), "c": rand(B, H), "w_ih": u(4 * H, I),
                                        "w_hh": u(4 * H, H), "b_ih": u(4 * H), "b_hh": u(4 * H)})
    T = 5
    def gru_seq(x, h0, w_ih, w_hh, b_ih, b_hh):
        y, _ = torch._VF.gru(x, h0.unsqueeze(0), [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, True)
        return y
    op_case(s, "gru_seq", gru_seq, {"x": rand(B, T, I), "h0": rand(B, H), "w_ih": u(3 * H, I), "w_hh": u(3 * H, H),
                                    "b_ih": u(3 * H), "b_hh": u(3 * H)})
    def lstm_seq(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        y, hn, cn = torch._VF.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)), [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, True)
        return y, cn.squeeze(0)
    op_case(s, "lstm_seq", lstm_seq, {"x": rand(B, T, I), "h0": rand(B, H), "c0": rand(B, H), "w_ih": u(4 * H, I),
                                      "w_hh": u(4 * H, H), "b_ih": u(4 * H), "b_hh": u(4 * H)})
    return s


def module_case(store, name, module, inputs, call):
    """name/param.K (state dict), name/in.K, name/out.i, name/up.i, name/grad.param.K, name/grad.in.K."""
    module = module.double()
    for k, v in module.state_dict().items():
        store[f"{name}/param.{k}"] = v.float()
    leaves = {k: v.double().requires_grad_(True) if v.is_floating_point() else v for k, v in inputs.items()}
    outs = call(module, **leaves)
    backward_through(store, name, outs)
    for k, p in module.named_parameters():
        store[f"{name}/grad.param.{k}"] = p.grad.float()
    for k, v in inputs.items():
        store[f"{name}/in.{k}"] = v if v.is_floating_point() else v.long()
        if v.is_floating_point():
            store[f"{name}/grad.in.{k}"] = leaves[k].grad.float()


def layer_fixtures():
    s = {}
    module_case(s, "linear", nn.Linear(6, 4), {"x": rand(3, 6)}, lambda m, x: m(x))
    module_case(s, "embedding", nn.Embedding(7, 3), {"ids": torch.tensor([[1, 6, 1], [0, 2, 2]])}, lambda m, ids: m(ids))
    module_case(s, "gru_cell", nn.GRUCell(5, 4), {"x": rand(2, 5), "h": rand(2, 4)}, lambda m, x, h: m(x, h))
    module_case(s, "lstm_cell", nn.LSTMCell(5, 4), {"x": rand(2, 5), "h": rand(2, 4), "c": rand(2, 4)},
                lambda m, x, h, c: tuple(m(x, (h, c))))
    module_case(s, "gru", nn.GRU(5, 4, batch_first=True), {"x": rand(2, 6, 5), "h": rand(2, 4)},
                lambda m, x, h: m(x, h.unsqueeze(0))[0])
    module_case(s, "lstm", nn.LSTM(5, 4, batch_first=True), {"x": rand(2, 6, 5), "h": rand(2, 4), "c": rand(2, 4)},
                lambda m, x, h, c: (lambda r: (r[0], r[1][1].squeeze(0)))(m(x, (h.unsqueeze(0), c.unsqueeze(0)))))
    return s


def optimizer_fixtures():
    """Three steps of each optimizer on fixed gradients, float32 as PyTorch runs them."""
    s = {}
    configs = {
        "adam": lambda p: torch.optim.Adam(p, lr=1e-2),
        "adam_wd": lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.1),
        "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
        "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
        "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    }
    theta0 = rand(4, 3)
    grads = [rand(4, 3) for _ in range(3)]
    s["optim/theta0"] = theta0
    for i, g in enumerate(grads):
        s[f"optim/grad.{i}"] = g
    for name, make in configs.items():
        p = nn.Parameter(theta0.clone())
        opt = make([p])
        for i, g in enumerate(grads):
            p.grad = g.clone()
            opt.step()
            s[f"optim/{name}.{i}"] = p.detach().clone()
    # Clipping: two gradients whose joint norm exceeds the limit.
    a, b = nn.Parameter(torch.zeros(3, 4)), nn.Parameter(torch.zeros(5))
    a.grad, b.grad = rand(3, 4) * 3, rand(5) * 3
    s["clip/a"], s["clip/b"] = a.grad.clone(), b.grad.clone()
    norm = nn.utils.clip_grad_norm_([a, b], 2.0)
    s["clip/norm"] = norm.reshape(1)
    s["clip/a_clipped"], s["clip/b_clipped"] = a.grad.clone(), b.grad.clone()
    return s


def showtell_step_fixture():
    """One whole training step of the show-tell GRU twin: loss, every gradient, the parameters after
    gradient clipping and one Adam step. Dropout is 0 so the step is deterministic."""
    s = {}
    V, C, E, H, B, T = 23, 12, 8, 16, 4, 7
    model = ShowTell(V, C, embed=E, hidden=H, cell="gru", dropout=0.0)
    pooled = rand(B, C)
    tokens = torch.tensor([
        [1, 5, 9, 7, 2, 0, 0],
        [1, 12, 4, 4, 22, 8, 2],
        [1, 3, 2, 0, 0, 0, 0],
        [1, 17, 6, 19, 11, 2, 0],
    ])
    for k, v in model.state_dict().items():
        s[f"showtell/param.{k}"] = v.clone()
    s["showtell/pooled"] = pooled
    s["showtell/tokens"] = tokens
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    logits, alphas = model(pooled, tokens)
    loss = caption_loss(logits, alphas, tokens)
    opt.zero_grad()
    loss.backward()
    s["showtell/loss"] = loss.detach().reshape(1)
    s["showtell/logits"] = logits.detach()
    for k, p in model.named_parameters():
        s[f"showtell/grad.{k}"] = p.grad.clone()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    s["showtell/grad_norm"] = norm.reshape(1)
    opt.step()
    for k, p in model.named_parameters():
        s[f"showtell/after.{k}"] = p.detach().clone()
    return s


def main():
    contiguous = lambda d: {k: v.contiguous() for k, v in d.items()}
    core = os.path.join(ROOT, "Tests", "TensorCoreTests", "Fixtures")
    layers = os.path.join(ROOT, "Tests", "LayersTests", "Fixtures")
    save_file(contiguous(op_fixtures()), os.path.join(core, "ops.safetensors"), metadata={"torch": torch.__version__})
    save_file(contiguous({**layer_fixtures(), **optimizer_fixtures(), **showtell_step_fixture()}),
              os.path.join(layers, "layers.safetensors"), metadata={"torch": torch.__version__})
    print("wrote", core, layers)


if __name__ == "__main__":
    main()
