#!/usr/bin/env python3
"""Writes Tests/VisionTests/Fixtures/checkpoints: tiny PyTorch checkpoints in every layout the reader
supports, hostile and broken files, and expected.json with every tensor's dtype, shape and values.

Needs torch (pip install torch). Run from anywhere: python tools/reference/make_checkpoint_fixtures.py
"""
import collections, io, json, os, struct, zipfile
import torch

out = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "VisionTests", "Fixtures", "checkpoints")
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)


def path(name):
    return os.path.join(out, name)


base = torch.arange(12, dtype=torch.float32) * 0.5 - 2.0
state = collections.OrderedDict([
    ("conv.weight", torch.randn(2, 3, 2, 2)),
    ("half", torch.randn(5).half()),
    ("bfloat", torch.randn(3).bfloat16()),
    ("double", torch.randn(2, 2, dtype=torch.float64)),
    ("index", torch.tensor([-3, 0, 7, 2**40], dtype=torch.int64)),
    ("int32", torch.tensor([1, -2, 3], dtype=torch.int32)),
    ("int16", torch.tensor([-300, 300], dtype=torch.int16)),
    ("int8", torch.tensor([-128, 5], dtype=torch.int8)),
    ("bytes", torch.tensor([0, 200, 255], dtype=torch.uint8)),
    ("mask", torch.tensor([True, False, True])),
    ("scalar", torch.tensor(42, dtype=torch.int64)),            # shape [], like num_batches_tracked
    ("transposed", torch.randn(3, 4).t()),                       # strides (1, 4): not contiguous
    ("offset_view", base[3:9].view(2, 3)),                       # storage offset 3, shares base's storage
    ("base", base),
    ("strided", base[::3]),                                      # stride 3
])
assert not state["transposed"].is_contiguous()


def describe(tensors):
    return {name: {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                   "values": t.double().flatten().tolist()} for name, t in tensors.items()}


torch.save(state, path("state_dict_zip.pth"))
torch.save(state, path("state_dict_legacy.pth"), _use_new_zipfile_serialization=False)
torch.save({"state_dict": state, "epoch": 7, "best": 0.25, "note": "wrapped", "history": [1.5, None, True]},
           path("wrapped_state_dict.pth"))
params = {"weight": torch.nn.Parameter(torch.randn(2, 2)), "bias": torch.nn.Parameter(torch.zeros(2))}
torch.save({"model": params}, path("wrapped_parameters.pth"))
torch.save({"model_state_dict": collections.OrderedDict([("w", torch.ones(1))])},
           path("wrapped_model_state_dict.pth"), _use_new_zipfile_serialization=False)

# safetensors, written by hand (layout: u64 header length, JSON header, raw little-endian data).
st_tensors = {"a": torch.randn(2, 3), "b": torch.randn(4).half(), "c": torch.tensor([1, 2, 3], dtype=torch.int64),
              "d": torch.randn(2).bfloat16()}
st_names = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.bfloat16: "BF16"}
header, blob = {"__metadata__": {"format": "pt"}}, b""
for name, t in st_tensors.items():
    raw = t.contiguous().view(torch.uint8).numpy().tobytes()
    header[name] = {"dtype": st_names[t.dtype], "shape": list(t.shape), "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
header_bytes = json.dumps(header).encode()
header_bytes += b" " * (-len(header_bytes) % 8)
with open(path("tensors.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(header_bytes)) + header_bytes + blob)

# Hostile: pickles that call os.system when loaded with plain pickle. Written by hand so the global is
# exactly "os.system" (pickling the function would say "posix.system").
evil = b"\x80\x02cos\nsystem\nq\x00X\x0e\x00\x00\x00echo pwned >&2q\x01\x85q\x02Rq\x03."
with zipfile.ZipFile(path("malicious_zip.pth"), "w", zipfile.ZIP_STORED) as z:
    z.writestr("malicious_zip/data.pkl", evil)
    z.writestr("malicious_zip/version", "3\n")
legacy_header = io.BytesIO()
import pickle
pickle.dump(0x1950a86a20f9469cfc6c, legacy_header, protocol=2)
pickle.dump(1001, legacy_header, protocol=2)
pickle.dump({"protocol_version": 1001, "little_endian": True,
             "type_sizes": {"short": 2, "int": 4, "long": 4}}, legacy_header, protocol=2)
with open(path("malicious_legacy.pth"), "wb") as f:
    f.write(legacy_header.getvalue() + b"\x80\x02c__builtin__\neval\nq\x00X\x04\x00\x00\x001+1q\x01\x85q\x02R.")

# Broken and foreign files.
zip_bytes = open(path("state_dict_zip.pth"), "rb").read()
with open(path("truncated_zip.pth"), "wb") as f:
    f.write(zip_bytes[: len(zip_bytes) // 2])
legacy_bytes = open(path("state_dict_legacy.pth"), "rb").read()
with open(path("truncated_legacy.pth"), "wb") as f:
    f.write(legacy_bytes[: len(legacy_bytes) - 40])
with open(path("foreign.pth"), "wb") as f:
    f.write(b"GIF89a this is not a checkpoint at all\n" * 4)
with open(path("empty.pth"), "wb") as f:
    pass

expected = {
    "state_dict_zip.pth": describe(state),
    "state_dict_legacy.pth": describe(state),
    "wrapped_state_dict.pth": describe(state),
    "wrapped_parameters.pth": describe({k: v.detach() for k, v in params.items()}),
    "wrapped_model_state_dict.pth": describe({"w": torch.ones(1)}),
    "tensors.safetensors": describe(st_tensors),
}
errors = {
    "malicious_zip.pth": "asks for os.system, which is not a tensor; refusing to load it",
    "malicious_legacy.pth": "asks for __builtin__.eval, which is not a tensor; refusing to load it",
    "truncated_zip.pth": "truncated",
    "truncated_legacy.pth": "truncated",
    "foreign.pth": "not a PyTorch checkpoint",
    "empty.pth": "empty",
}
with open(path("expected.json"), "w") as f:
    json.dump({"tensors": expected, "errors": errors}, f, indent=1)
print("wrote", out)
