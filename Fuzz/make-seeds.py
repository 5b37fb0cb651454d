#!/usr/bin/env python3
"""Writes the seed corpus of every harness into Fuzz/Corpus/<harness>/ (tiny files only: a few valid
inputs and a few near-valid ones per format). Standard library only; the few real images and
checkpoints are copied from the test fixtures. Re-running it rewrites the same files."""
import json, os, shutil, struct, zipfile, io, zlib

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "Fuzz", "Corpus")
fixtures = os.path.join(root, "Tests", "VisionTests", "Fixtures")

def put(harness, name, data):
    d = os.path.join(corpus, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def fixture(path):
    with open(os.path.join(fixtures, path), "rb") as f:
        return f.read()

# --- checkpoints (zip, legacy, safetensors through CheckpointReader) -----------------------------
for name in ["state_dict_zip.pth", "state_dict_legacy.pth", "tensors.safetensors", "wrapped_model_state_dict.pth",
             "malicious_zip.pth", "malicious_legacy.pth", "foreign.pth", "truncated_zip.pth", "wrapped_parameters.pth"]:
    put("Checkpoint", name, fixture("checkpoints/" + name))

# --- pickles -------------------------------------------------------------------------------------
with zipfile.ZipFile(os.path.join(fixtures, "checkpoints/state_dict_zip.pth")) as z:
    for entry in z.namelist():
        if entry.endswith("data.pkl"):
            put("Pickle", "state_dict_data.pkl", z.read(entry))
with zipfile.ZipFile(os.path.join(fixtures, "checkpoints/malicious_zip.pth")) as z:
    for entry in z.namelist():
        if entry.endswith("data.pkl"):
            put("Pickle", "malicious_data.pkl", z.read(entry))
put("Pickle", "legacy_head.pkl", fixture("checkpoints/state_dict_legacy.pth")[:1024])

def su(s):  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b
# A hand-made state dict: OrderedDict of one FloatStorage tensor [2, 3] with strides (3, 1).
tensor = (b"\x80\x02" + b"ccollections\nOrderedDict\n" + b")R" + b"\x94"
          + su("w") + b"ctorch._utils\n_rebuild_tensor_v2\n" + b"("
          + b"(" + su("storage") + b"ctorch\nFloatStorage\n" + su("0") + su("cpu") + b"K\x06tQ"
          + b"K\x00" + b"K\x02K\x03\x86" + b"K\x03K\x01\x86" + b"\x89" + b"}" + b"tR"
          + b"s" + b".")
put("Pickle", "tensor.pkl", tensor)
put("Pickle", "containers.pkl", b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00" + b"}q\x00(X\x01\x00\x00\x00a]q\x01(K\x01M\x00\x01J\xff\xff\xff\xff\x8a\x02\x00\x80e"
        + b"X\x01\x00\x00\x00b(\x88\x89N)G?\xf0\x00\x00\x00\x00\x00\x00t" + b"X\x01\x00\x00\x00cC\x02hih\x01" + b"u.")
put("Pickle", "memo.pkl", b"\x80\x02]q\x00(h\x00h\x00e\x94h\x01\x85\x86\x87" + b"0" + b"(K\x011" + b".")
put("Pickle", "global_refused.pkl", b"\x80\x02cos\nsystem\n" + su("id") + b"\x85R.")
put("Pickle", "stack_global.pkl", b"\x80\x04" + su("torch") + su("HalfStorage") + b"\x93.")
put("Pickle", "truncated.pkl", tensor[:40])

# --- safetensors headers (SafetensorsHeader through SafeTensors.parse, CheckpointReader, FeatureStore) ----------------------
def safetensors(header, body):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + body
put("Safetensors", "tensors.safetensors", fixture("checkpoints/tensors.safetensors"))
f32 = struct.pack("<6f", *range(6))
put("Safetensors", "f32.safetensors", safetensors({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                                                   "__metadata__": {"format": "pt"}}, f32))
put("Safetensors", "mixed.safetensors", safetensors({
    "h": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
    "b": {"dtype": "BF16", "shape": [2], "data_offsets": [4, 8]},
    "i": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
    "j": {"dtype": "I32", "shape": [1, 1], "data_offsets": [16, 20]},
    "d": {"dtype": "F64", "shape": [], "data_offsets": [20, 28]}}, b"\x00<\x00\xc0\x80?\x00@" + struct.pack("<qid", 7, -1, 0.5)))
pooled = struct.pack("<6f", *range(6))
grid = struct.pack("<12e", *range(12))
features = {"pooled": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
            "grid": {"dtype": "F16", "shape": [2, 2, 3], "data_offsets": [24, 48]},
            "__metadata__": {"images": json.dumps(["a.jpg", "b.jpg"]), "encoder": "resnet50", "image_size": "224"}}
put("Safetensors", "features.safetensors", safetensors(features, pooled + grid))
bad = dict(features); bad["pooled"] = {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 2400]}
put("Safetensors", "features_truncated.safetensors", safetensors(bad, pooled + grid))
put("Safetensors", "short.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
put("Safetensors", "not_json.safetensors", struct.pack("<Q", 4) + b"{\"a\"")
put("Safetensors", "bad_dtype.safetensors", safetensors({"x": {"dtype": "U16", "shape": [1], "data_offsets": [0, 2]}}, b"\0\0"))

# --- images --------------------------------------------------------------------------------------
for name in ["chelsea.jpg", "chelsea_progressive.jpg", "chelsea_exif6.jpg", "chelsea_cmyk.jpg", "chelsea_ycck.jpg",
             "truncated.jpg", "chelsea_palette.png", "chelsea_exif3.png", "huge.png", "chelsea_rgba.png"]:
    put("Image", name, fixture("images/" + name))
def chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
def png(width, height, color_type, depth, rows, extra=b"", interlace=0):
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
exif = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00"
put("Image", "rgb_2x2_gamma_exif.png", png(2, 2, 2, 8, [b"\xff\x00\x00\x00\xff\x00", b"\x00\x00\xff\xff\xff\xff"],
                                           chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"eXIf", exif)))
put("Image", "gray16_3x1.png", png(3, 1, 0, 16, [b"\x00\x00\x80\x00\xff\xff"]))
put("Image", "gray_alpha_1x1.png", png(1, 1, 4, 8, [b"\x80\x40"]))

# --- CSV caption files -----------------------------------------------------------------------------
put("CSV", "kaggle.csv", 'image,caption\n1000268201_693b08cb0e.jpg,A child in a pink dress .\n'
                         '1000268201_693b08cb0e.jpg,"A girl, going into a ""wooden"" building ."\n')
put("CSV", "folder_split.csv", "file,caption,split\r\na.png,a red circle,train\r\nb.png,\"two\nlines\",val\r\n\r\nc.png,x,test\r\n")
put("CSV", "tabs.tsv", "image_name\ttext\n\xef\xbb\xbfa.jpg\tone\nb.jpg\ttwo\n")
put("CSV", "semicolon.csv", "filename;sentence;split\na.jpg;un chat;dev\n")
put("CSV", "unterminated.csv", 'image,caption\na.jpg,fine\nb.jpg,"never closed\nc.jpg,more\n')
put("CSV", "unbalanced.csv", 'image,caption\na.jpg,"A dog\nb.jpg,"A cat"\n')
put("CSV", "text_after_quote.csv", 'image,caption\na.jpg,"quoted" tail\n')
put("CSV", "wrong_count.csv", "image,caption\na.jpg,x,y\n")
put("CSV", "bom_bad_utf8.csv", b"\xef\xbb\xbfimage,caption\na.jpg,caf\xe9\n")

# --- token files, pipe files, Karpathy JSON ------------------------------------------------------
put("Tokens", "flickr8k.token.txt", "1000268201_693b08cb0e.jpg#0\tA child in a pink dress .\n"
                                    "1000268201_693b08cb0e.jpg#1\tA girl going into a wooden building .\n"
                                    "2258277193_586949ec62.jpg.1#0\tquirk key\n")
put("Tokens", "flickr30k.token", "1000092795.jpg#0\tTwo young guys with shaggy hair .\r\n\r\n1000092795.jpg#1\t\"Quoted\" .\r\n")
put("Tokens", "bad_token.txt", "a.jpg#x\tbad number\nb.jpg\tno number\n#0\tno image\n")
put("Tokens", "results.csv", "image_name| comment_number| comment\n1000092795.jpg| 0| Two young guys .\n"
                             "1000092795.jpg| 4   A dog runs .\n")
put("Tokens", "karpathy.json", json.dumps({"images": [
    {"filename": "a.jpg", "filepath": "val2014", "split": "restval", "sentences": [{"raw": "A cat .", "tokens": ["a", "cat"]}]},
    {"filename": "b.jpg", "split": "test", "sentences": [{"raw": " ", "tokens": ["a", "dog"]}]}], "dataset": "flickr8k"}))
put("Tokens", "karpathy_bad.json", '{\n  "images": [\n    {"filename": }\n  ]\n}\n')

# --- multipart bodies: first line is the Content-Type ------------------------------------------
def multipart(boundary, parts, header=None):
    body = b""
    for headers, content in parts:
        body += b"--" + boundary.encode() + b"\r\n" + headers.encode() + b"\r\n\r\n" + content + b"\r\n"
    body += b"--" + boundary.encode() + b"--\r\n"
    return (header or f"multipart/form-data; boundary={boundary}").encode() + b"\n" + body
jpeg_head = fixture("images/chelsea.jpg")[:64]
put("Multipart", "image_and_options.txt", multipart("XyZ123", [
    ('Content-Disposition: form-data; name="image"; filename="cat.jpg"\r\nContent-Type: image/jpeg', jpeg_head),
    ('Content-Disposition: form-data; name="beam"', b"3"),
    ('Content-Disposition: form-data; name="options"\r\nContent-Type: application/json', b'{"beam": 2}')]))
put("Multipart", "quoted_boundary.txt", multipart("a b", [('content-disposition: form-data; name=file', b"\x89PNG")],
                                                  header='Multipart/Form-Data; charset=utf-8; boundary="a b"'))
put("Multipart", "no_image.txt", multipart("b", [('Content-Disposition: form-data; name="beam"', b"3")]))
put("Multipart", "wrong_type.txt", multipart("b", [('Content-Disposition: form-data; name="image"\r\nContent-Type: text/plain', b"hi")]))
put("Multipart", "unterminated.txt", b"multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc")
# --- reproducers of the crashes found (docs/fuzzing.md); all are refused with an error now ---------
def long1(n):
    return b"\x8a\x08" + n.to_bytes(8, "little", signed=True)
def tensor_pickle(shape, strides):
    return (b"\x80\x02" + b"}" + su("w") + b"ctorch._utils\n_rebuild_tensor_v2\n" + b"("
            + b"(" + su("storage") + b"ctorch\nFloatStorage\n" + su("0") + su("cpu") + b"K\x06tQ"
            + b"K\x00" + b"(" + b"".join(map(long1, shape)) + b"t" + b"(" + b"".join(map(long1, strides)) + b"t"
            + b"\x89" + b"}" + b"tR" + b"s.")
put("Pickle", "crash-empty-tensor-huge-dims.pkl", tensor_pickle([0, 1 << 40, 1 << 40], [0, 0, 0]))
put("Pickle", "deep-nesting-lists.pkl", b"\x80\x02" + b"]" * 1500 + b"a" * 1499 + b".")
put("Pickle", "deep-nesting-tuples.pkl", b"\x80\x02)" + b"\x85" * 3000 + b".")
put("Pickle", "deep-nesting-dicts.pkl", b"\x80\x02" + b"}\x8c\x01a" * 700 + b"}" + b"s" * 700 + b".")
put("Pickle", "grows-after-nesting.pkl", b"\x80\x02]q\x00]h\x00ah\x00]a.")
put("Safetensors", "crash-shape-product-overflow.safetensors",
    safetensors({"pooled": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}, b""))
put("Safetensors", "crash-feature-offset-overflow.safetensors",
    safetensors({"pooled": {"dtype": "F32", "shape": [0, 1], "data_offsets": [9223372036854775807, 9223372036854775807]}}, b""))
put("Safetensors", "feature-negative-offset.safetensors",
    safetensors({"pooled": {"dtype": "F32", "shape": [0, 1], "data_offsets": [2, -9223372036854775807]}}, b""))
put("Safetensors", "empty-grid-huge-rows.safetensors",
    safetensors({"pooled": {"dtype": "F32", "shape": [0, 1], "data_offsets": [0, 0]},
                 "grid": {"dtype": "F16", "shape": [0, 1 << 40, 1 << 40], "data_offsets": [0, 0]}}, b""))
print("seeds written to", corpus)
