"""Moving decoders between the twin and Captioner's model files.

    caption export --model M.safetensors -o DIR      ->  load_exported(DIR)   -> (model, vocab, config)
    save_for_import(model, vocab, DIR)               ->  caption import --arch A --weights DIR/decoder.safetensors
                                                                        --vocab DIR/vocab.txt -o M.safetensors
"""
import json
import os

from safetensors.torch import load_file, save_file

from .models import AdaptiveAttention, ShowTell, SoftAttention

ARCHITECTURES = ("show-tell-gru", "show-tell-lstm", "soft-attention-gru", "adaptive-attention-gru")


def build(arch, vocab, feat, embed=256, hidden=512, att=256, dropout=0.5):
    """A twin module for one of `caption`'s --arch names."""
    if arch in ("show-tell-gru", "show-tell-lstm"):
        return ShowTell(vocab, feat, embed=embed, hidden=hidden, cell=arch.rsplit("-", 1)[1], dropout=dropout)
    if arch == "soft-attention-gru":
        return SoftAttention(vocab, feat, embed=embed, hidden=hidden, att=att, dropout=dropout)
    if arch == "adaptive-attention-gru":
        return AdaptiveAttention(vocab, feat, embed=embed, hidden=hidden, dropout=dropout)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def load_exported(directory):
    """The twin that `caption export` wrote into `directory`: (model, vocabulary list, config dict).
    Every key and shape must match (load_state_dict(strict=True))."""
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(directory, "vocab.txt")) as f:
        vocab = f.read().splitlines()
    model = build(config["arch"], config["vocab"], config["feat"], embed=config["embed"], hidden=config["hidden"],
                  att=config.get("att", 256), dropout=config["dropout"])
    model.load_state_dict(load_file(os.path.join(directory, "decoder.safetensors")), strict=True)
    return model.eval(), vocab, config


def save_for_import(model, vocab, directory):
    """Writes decoder.safetensors and vocab.txt (one token per line, the line number being its id, starting
    <pad>, <start>, <end>, <unk>) for `caption import`."""
    if list(vocab[:4]) != ["<pad>", "<start>", "<end>", "<unk>"]:
        raise ValueError("the vocabulary must start <pad>, <start>, <end>, <unk>")
    os.makedirs(directory, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
              os.path.join(directory, "decoder.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(directory, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
