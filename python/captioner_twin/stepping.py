"""The twin's decoders one word at a time, as the searches drive them (the loop bodies of their
`forward`, without dropout): `init(pooled, grid)` -> state, `step(state, words)` -> (state, logits),
`select(state, rows)` keeps the rows of surviving hypotheses."""
import torch
import torch.nn.functional as F

from .models import AdaptiveAttention, ShowTell, SoftAttention


class Stepper:
    def __init__(self, model):
        self.m = model

    def init(self, pooled, grid):
        m = self.m
        if isinstance(m, ShowTell):
            return m.init_state(pooled)
        if isinstance(m, SoftAttention):
            return (torch.tanh(m.init_h(grid.mean(1))), grid, m.att_v(grid))
        v = F.relu(m.proj_v(grid))
        return (torch.zeros(grid.size(0), v.size(2)), v, F.relu(m.proj_g(grid.mean(1))), m.att_v(v))

    def step(self, state, words):
        m = self.m
        if isinstance(m, ShowTell):
            return m.step(state, words)
        if isinstance(m, SoftAttention):
            h, grid, proj = state
            ctx, _ = m.attend(grid, proj, h)
            h = m.cell(torch.cat([m.embed(words), ctx], 1), h)
            return (h, grid, proj), m.out(h)
        assert isinstance(m, AdaptiveAttention)
        h, v, g, pv = state
        x = torch.cat([m.embed(words), g], 1)
        s_gate = torch.sigmoid(m.sent_x(x) + m.sent_h(h))
        h = m.cell(x, h)
        s = s_gate * torch.tanh(h)
        hg = m.att_g(h).unsqueeze(1)
        z = m.att_w(torch.tanh(pv + hg)).squeeze(2)
        zs = m.att_w(torch.tanh(m.att_s(s).unsqueeze(1) + hg)).squeeze(2)
        a = F.softmax(torch.cat([z, zs], 1), 1)
        c = (a[:, :-1].unsqueeze(2) * v).sum(1)
        return (h, v, g, pv), m.out(a[:, -1:] * s + c + h)

    def select(self, state, rows):
        if isinstance(self.m, ShowTell):
            if self.m.cell == "lstm":
                return (state[0][:, rows], state[1][:, rows])
            return state[:, rows]
        return tuple(t[rows] for t in state)
