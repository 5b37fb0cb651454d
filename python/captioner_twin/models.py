"""The PyTorch twin of Captioner's four decoders: parameter names, shapes, equations and loss.

This module is normative for the Swift models (SPEC §2): `caption import` reads a state dict of these
modules and `caption export` writes one, key for key. Every model's forward takes image features and
token ids and returns (logits, alphas): logits (B, T-1, V) for the targets tokens[:, 1:], alphas
(B, T-1, L) the spatial attention weights, or None. Shapes:
  pooled features  (B, C)      for show-tell models
  grid features    (B, L, C)   for attention models (L = 7*7 at 224 px)
  tokens           (B, T)      <start> w1 ... wn <end> <pad>...
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ShowTell(nn.Module):
    """CNN pooled vector -> initial hidden state; GRU or LSTM over teacher-forced word embeddings."""

    def __init__(self, vocab, feat, embed=256, hidden=512, cell="gru", dropout=0.5):
        super().__init__()
        self.cell = cell
        self.embed = nn.Embedding(vocab, embed)
        self.init_h = nn.Linear(feat, hidden)
        if cell == "lstm":
            self.init_c = nn.Linear(feat, hidden)
            self.rnn = nn.LSTM(embed, hidden, batch_first=True)
        else:
            self.rnn = nn.GRU(embed, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def init_state(self, pooled):
        h = torch.tanh(self.init_h(pooled)).unsqueeze(0)
        if self.cell == "lstm":
            return (h, torch.tanh(self.init_c(pooled)).unsqueeze(0))
        return h

    def forward(self, pooled, tokens):
        x = self.embed(tokens[:, :-1])
        y, _ = self.rnn(x, self.init_state(pooled))
        return self.out(self.drop(y)), None

    def step(self, state, words):
        y, state = self.rnn(self.embed(words).unsqueeze(1), state)
        return state, self.out(y.squeeze(1))


class SoftAttention(nn.Module):
    """Show, Attend and Tell: additive attention over the grid, gated context, GRU cell."""

    def __init__(self, vocab, feat, embed=256, hidden=512, att=256, dropout=0.5):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.init_h = nn.Linear(feat, hidden)
        self.att_v = nn.Linear(feat, att)
        self.att_h = nn.Linear(hidden, att)
        self.att_w = nn.Linear(att, 1)
        self.gate = nn.Linear(hidden, feat)
        self.cell = nn.GRUCell(embed + feat, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def attend(self, grid, proj, h):
        e = self.att_w(torch.tanh(proj + self.att_h(h).unsqueeze(1))).squeeze(2)
        alpha = F.softmax(e, dim=1)
        ctx = (alpha.unsqueeze(2) * grid).sum(1)
        return torch.sigmoid(self.gate(h)) * ctx, alpha

    def forward(self, grid, tokens):
        h = torch.tanh(self.init_h(grid.mean(1)))
        proj = self.att_v(grid)
        emb = self.embed(tokens[:, :-1])
        outs, alphas = [], []
        for t in range(emb.size(1)):
            ctx, alpha = self.attend(grid, proj, h)
            h = self.cell(torch.cat([emb[:, t], ctx], 1), h)
            outs.append(self.out(self.drop(h)))
            alphas.append(alpha)
        return torch.stack(outs, 1), torch.stack(alphas, 1)


class AdaptiveAttention(nn.Module):
    """Knowing When to Look with a GRU: spatial attention on h_t plus a visual sentinel."""

    def __init__(self, vocab, feat, embed=256, hidden=512, dropout=0.5):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.proj_v = nn.Linear(feat, hidden)
        self.proj_g = nn.Linear(feat, hidden)
        self.cell = nn.GRUCell(embed + hidden, hidden)
        self.sent_x = nn.Linear(embed + hidden, hidden)
        self.sent_h = nn.Linear(hidden, hidden)
        self.att_v = nn.Linear(hidden, hidden // 2)
        self.att_g = nn.Linear(hidden, hidden // 2)
        self.att_s = nn.Linear(hidden, hidden // 2)
        self.att_w = nn.Linear(hidden // 2, 1)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, grid, tokens):
        v = F.relu(self.proj_v(grid))
        g = F.relu(self.proj_g(grid.mean(1)))
        pv = self.att_v(v)
        h = torch.zeros(grid.size(0), v.size(2), device=grid.device)
        emb = self.embed(tokens[:, :-1])
        outs, alphas = [], []
        for t in range(emb.size(1)):
            x = torch.cat([emb[:, t], g], 1)
            s_gate = torch.sigmoid(self.sent_x(x) + self.sent_h(h))
            h = self.cell(x, h)
            s = s_gate * torch.tanh(h)
            hg = self.att_g(h).unsqueeze(1)
            z = self.att_w(torch.tanh(pv + hg)).squeeze(2)
            zs = self.att_w(torch.tanh(self.att_s(s).unsqueeze(1) + hg)).squeeze(2)
            a = F.softmax(torch.cat([z, zs], 1), 1)
            beta = a[:, -1:]
            c = (a[:, :-1].unsqueeze(2) * v).sum(1)
            c_hat = beta * s + c
            outs.append(self.out(self.drop(c_hat + h)))
            alphas.append(a[:, :-1])
        return torch.stack(outs, 1), torch.stack(alphas, 1)


def caption_loss(logits, alphas, tokens, alpha_reg=0.0):
    """Cross-entropy over real target tokens (padding id 0 ignored), plus the doubly stochastic
    attention penalty of Show, Attend and Tell: alpha_reg * mean_b sum_i (1 - sum_t alpha_bti)^2,
    where t runs over the steps whose target is not padding."""
    targets = tokens[:, 1:]
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=0)
    if alphas is not None and alpha_reg > 0:
        mask = (targets != 0).unsqueeze(2).to(alphas.dtype)
        loss = loss + alpha_reg * ((1.0 - (alphas * mask).sum(1)) ** 2).sum(1).mean()
    return loss
