#!/usr/bin/env python3
"""Writes Tests/VisionTests/Fixtures/images: small test images and what Pillow/torchvision make of them.

Run with a Python that has Pillow, numpy and (optionally) torchvision, from the package root:
    python tools/reference/make_vision_fixtures.py /path/to/skimage/data
The photos come from the scikit-image wheel (`pip download scikit-image --no-deps`, unzip; skimage/data).
Expected outputs are raw bytes (HWC RGB8 or CHW float32 little-endian), described in manifest.json.
"""
import io, json, os, struct, sys, zlib
import numpy as np
from PIL import Image, ImageOps

root = os.path.join(os.path.dirname(__file__), "..", "..")
out = os.path.join(root, "Tests", "VisionTests", "Fixtures", "images")
data_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/skimage/skimage/data"
os.makedirs(out, exist_ok=True)
manifest = {"decode": [], "resize": [], "errors": [], "preprocess": []}


def save_bytes(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def expect_rgb(name, image, tolerance=0, note=""):
    """Records Pillow's RGB pixels of `image` as the expected decode of fixture `name`."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    save_bytes(name + ".rgb", rgb.tobytes())
    manifest["decode"].append({"file": name, "width": rgb.shape[1], "height": rgb.shape[0],
                               "expected": name + ".rgb", "tolerance": tolerance, "note": note})


# ---- a hand-written PNG encoder, for layouts Pillow cannot write (16-bit RGB, Adam7 interlace) ----
def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def encode_png(array, color_type, bit_depth, interlace=False):
    """array: HxWxC uint8 or uint16 (big-endian written). Filter type 0 on every row."""
    h, w = array.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = bytearray()
    for (x0, y0, dx, dy) in (passes if interlace else [(0, 0, 1, 1)]):
        sub = array[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.astype(dtype).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + png_chunk(b"IEND", b""))


def exif_app1(orientation, big_endian):
    """An APP1 Exif segment whose IFD0 holds only the Orientation tag."""
    e = ">" if big_endian else "<"
    tiff = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(e + "I", 8)
    tiff += struct.pack(e + "H", 1) + struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    tiff += struct.pack(e + "I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


full = Image.open(os.path.join(data_dir, "chelsea.png")).convert("RGB")
crop = full.crop((200, 60, 264, 108))  # 64x48, the cat's face
crop_np = np.asarray(crop)

# ---- PNG variants ----
crop.save(os.path.join(out, "chelsea.png"))
expect_rgb("chelsea.png", Image.open(os.path.join(out, "chelsea.png")))

crop.convert("L").save(os.path.join(out, "chelsea_gray.png"))
expect_rgb("chelsea_gray.png", Image.open(os.path.join(out, "chelsea_gray.png")))

alpha = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
rgba = np.dstack([crop_np, alpha])
Image.fromarray(rgba, "RGBA").save(os.path.join(out, "chelsea_rgba.png"))
expect_rgb("chelsea_rgba.png", Image.open(os.path.join(out, "chelsea_rgba.png")),
           note="alpha dropped, as Pillow's convert('RGB') does")

la = np.dstack([np.asarray(crop.convert("L")), alpha])
Image.fromarray(la, "LA").save(os.path.join(out, "chelsea_gray_alpha.png"))
expect_rgb("chelsea_gray_alpha.png", Image.open(os.path.join(out, "chelsea_gray_alpha.png")))

crop.quantize(colors=64).save(os.path.join(out, "chelsea_palette.png"))
expect_rgb("chelsea_palette.png", Image.open(os.path.join(out, "chelsea_palette.png")))

pal = crop.quantize(colors=64)
pal.save(os.path.join(out, "chelsea_palette_trns.png"), transparency=0)
expect_rgb("chelsea_palette_trns.png", Image.open(os.path.join(out, "chelsea_palette_trns.png")))

# 16-bit RGB with real low bytes: Pillow keeps the high byte, libpng rounds v*255/65535, so allow 1 level.
rng = np.random.default_rng(7)
rgb16 = crop_np.astype(np.uint16) * 256 + rng.integers(0, 256, crop_np.shape, dtype=np.uint16)
save_bytes("chelsea_rgb16.png", encode_png(rgb16, 2, 16))
expect_rgb("chelsea_rgb16.png", Image.open(os.path.join(out, "chelsea_rgb16.png")), tolerance=1,
           note="16-bit: Pillow truncates to the high byte, libpng rounds")

# 16-bit gray: Pillow's I;16 -> RGB clips to 255 wherever the high byte is non-zero (a Pillow quirk we do
# not copy); the expected value is the high byte, what any viewer shows.
gray16 = np.asarray(crop.convert("L")).astype(np.uint16) * 256 + rng.integers(0, 256, (48, 64), dtype=np.uint16)
save_bytes("chelsea_gray16.png", encode_png(gray16[:, :, None], 0, 16))
expect_rgb("chelsea_gray16.png", Image.fromarray((gray16 >> 8).astype(np.uint8), "L"), tolerance=1,
           note="16-bit gray: high byte (Pillow's convert clips to 255 instead)")

# A linear-gamma gAMA chunk: Pillow ignores it, so must we (libpng alone would re-encode to sRGB).
# Tried on 8-bit RGB, 8-bit RGBA and 16-bit RGB, the cases where libpng would otherwise convert.
for source in ["chelsea.png", "chelsea_rgba.png", "chelsea_rgb16.png"]:
    plain_png = open(os.path.join(out, source), "rb").read()
    ihdr_end = 8 + 25
    name = source.replace(".png", "_gamma1.png")
    save_bytes(name, plain_png[:ihdr_end] + png_chunk(b"gAMA", struct.pack(">I", 100000)) + plain_png[ihdr_end:])
    expect_rgb(name, Image.open(os.path.join(out, name)), tolerance=1 if "16" in source else 0,
               note="gAMA ignored, as Pillow does")

save_bytes("chelsea_interlaced.png", encode_png(crop_np, 2, 8, interlace=True))
expect_rgb("chelsea_interlaced.png", Image.open(os.path.join(out, "chelsea_interlaced.png")))

# ---- JPEG variants ----
crop.save(os.path.join(out, "chelsea.jpg"), quality=90)
expect_rgb("chelsea.jpg", Image.open(os.path.join(out, "chelsea.jpg")), tolerance=0,
           note="Pillow 13 bundles libjpeg-turbo 3.2.0, Debian has 2.1.5: measured identical")
crop.save(os.path.join(out, "chelsea_progressive.jpg"), quality=90, progressive=True)
expect_rgb("chelsea_progressive.jpg", Image.open(os.path.join(out, "chelsea_progressive.jpg")), tolerance=0)
crop.convert("L").save(os.path.join(out, "chelsea_gray.jpg"), quality=90)
expect_rgb("chelsea_gray.jpg", Image.open(os.path.join(out, "chelsea_gray.jpg")), tolerance=0)
crop.convert("CMYK").save(os.path.join(out, "chelsea_cmyk.jpg"), quality=90)
expect_rgb("chelsea_cmyk.jpg", Image.open(os.path.join(out, "chelsea_cmyk.jpg")), tolerance=0,
           note="Adobe inverted CMYK, converted as Pillow's cmyk2rgb")



def compress_ycck(cmyk):
    """Pillow cannot write YCCK; the system TurboJPEG (libturbojpeg0) does when given CMYK pixels."""
    import ctypes, ctypes.util
    tj = ctypes.CDLL(ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0")
    tj.tjInitCompress.restype = ctypes.c_void_p
    handle = ctypes.c_void_p(tj.tjInitCompress())
    h, w = cmyk.shape[:2]
    buffer, size = ctypes.POINTER(ctypes.c_ubyte)(), ctypes.c_ulong(0)
    TJPF_CMYK, TJSAMP_420 = 11, 2
    pixels = np.ascontiguousarray(cmyk, dtype=np.uint8)
    status = tj.tjCompress2(handle, pixels.ctypes.data_as(ctypes.c_void_p), w, 0, h, TJPF_CMYK,
                            ctypes.byref(buffer), ctypes.byref(size), TJSAMP_420, 90, 0)
    assert status == 0, "tjCompress2 failed"
    data = ctypes.string_at(buffer, size.value)
    tj.tjFree(buffer)
    tj.tjDestroy(handle)
    return data


try:
    ycck = compress_ycck(np.asarray(crop.convert("CMYK")))
    save_bytes("chelsea_ycck.jpg", ycck)
    im = Image.open(os.path.join(out, "chelsea_ycck.jpg"))
    assert im.mode == "CMYK" and im.info.get("adobe_transform") == 2, "expected an Adobe YCCK JPEG"
    expect_rgb("chelsea_ycck.jpg", im, note="YCCK (Adobe transform 2) written by the system TurboJPEG")
except OSError as error:  # no libturbojpeg here: the manifest then simply has no YCCK case
    print("skipping chelsea_ycck.jpg:", error)

plain_jpeg = open(os.path.join(out, "chelsea.jpg"), "rb").read()
for orientation in range(2, 9):
    name = f"chelsea_exif{orientation}.jpg"
    # Alternate byte orders so both Motorola and Intel EXIF headers are exercised.
    data = plain_jpeg[:2] + exif_app1(orientation, big_endian=orientation % 2 == 0) + plain_jpeg[2:]
    save_bytes(name, data)
    im = Image.open(io.BytesIO(data))
    assert im.getexif().get(0x0112) == orientation
    expect_rgb(name, ImageOps.exif_transpose(im), tolerance=0, note="EXIF orientation applied")

# Stray bytes between two markers: libjpeg warns ("extraneous bytes before marker") but the picture is
# intact, and Pillow decodes it; so must we.
dqt = plain_jpeg.index(b"\xff\xdb")
save_bytes("chelsea_extraneous.jpg", plain_jpeg[:dqt] + b"\x00\x11\x22" + plain_jpeg[dqt:])
expect_rgb("chelsea_extraneous.jpg", Image.open(os.path.join(out, "chelsea_extraneous.jpg")),
           note="harmless libjpeg warning tolerated")

# PNG's eXIf chunk carries the same TIFF orientation; Pillow's exif_transpose honours it.
for orientation, big_endian in [(6, True), (3, False)]:
    tiff = exif_app1(orientation, big_endian)[4 + 6:]  # drop marker, length and "Exif\0\0"
    plain_png = open(os.path.join(out, "chelsea.png"), "rb").read()
    name = f"chelsea_exif{orientation}.png"
    save_bytes(name, plain_png[:33] + png_chunk(b"eXIf", tiff) + plain_png[33:])
    im = Image.open(os.path.join(out, name))
    assert im.getexif().get(0x0112) == orientation
    expect_rgb(name, ImageOps.exif_transpose(im), note="PNG eXIf orientation applied")

# ---- bad inputs ----
save_bytes("empty.jpg", b"")
save_bytes("random.bin", rng.integers(0, 256, 600, dtype=np.uint8).tobytes())
save_bytes("truncated.jpg", plain_jpeg[: len(plain_jpeg) // 2])
png_bytes = open(os.path.join(out, "chelsea.png"), "rb").read()
save_bytes("truncated.png", png_bytes[: len(png_bytes) // 2])
corrupt = bytearray(png_bytes)
idat = corrupt.index(b"IDAT")
corrupt[idat + 40] ^= 0xFF  # inside the compressed data, so the chunk CRC no longer matches
save_bytes("bad_crc.png", bytes(corrupt))
huge_ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
save_bytes("huge.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", huge_ihdr) +
           png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + png_chunk(b"IEND", b""))
# JPEG dimensions are 16-bit, so the largest bomb header says 65000x65000.
sof = plain_jpeg.index(b"\xff\xc0")
huge_jpeg = bytearray(plain_jpeg)
huge_jpeg[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
save_bytes("huge.jpg", bytes(huge_jpeg))
manifest["errors"] = [
    {"file": "empty.jpg", "contains": "empty"},
    {"file": "random.bin", "contains": "not a JPEG or PNG"},
    {"file": "truncated.jpg", "contains": "JPEG"},
    {"file": "truncated.png", "contains": "PNG"},
    {"file": "bad_crc.png", "contains": "PNG"},
    {"file": "huge.png", "contains": "100000×100000 = 10000 megapixels, over the 50-megapixel limit"},
    {"file": "huge.jpg", "contains": "65000×65000 = 4225 megapixels, over the 50-megapixel limit"},
]

# ---- resize (Pillow's antialiased convolution) ----
for (w, h, method) in [(37, 29, "bilinear"), (37, 29, "bicubic"), (100, 75, "bilinear"), (100, 75, "bicubic"),
                       (64, 20, "bicubic"), (13, 48, "bilinear")]:
    flag = Image.Resampling.BILINEAR if method == "bilinear" else Image.Resampling.BICUBIC
    resized = np.asarray(crop.resize((w, h), flag), dtype=np.uint8)
    name = f"resize_{w}x{h}_{method}.rgb"
    save_bytes(name, resized.tobytes())
    manifest["resize"].append({"source": "chelsea.png", "width": w, "height": h, "method": method,
                               "expected": name})

# ---- the full torchvision evaluation recipe on the full-size photo ----
Image.open(os.path.join(data_dir, "chelsea.png")).save(os.path.join(out, "chelsea_full.png"))
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
try:
    import torch
    from torchvision import transforms
    recipe = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                 transforms.Normalize(mean, std)])
    tensor = recipe(full).numpy().astype("<f4")
    producer = "torchvision"
except ImportError:  # the same maths as torchvision on a PIL image, in numpy
    w, h = full.size
    short, long = min(w, h), max(w, h)
    new_short, new_long = 256, int(256 * long / short)
    size = (new_short, new_long) if w <= h else (new_long, new_short)
    img = full.resize(size, Image.Resampling.BILINEAR)
    top, left = int(round((img.size[1] - 224) / 2.0)), int(round((img.size[0] - 224) / 2.0))
    img = img.crop((left, top, left + 224, top + 224))
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / np.float32(255)
    tensor = ((x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]).astype("<f4")
    producer = "numpy re-implementation of torchvision"
save_bytes("chelsea_full_preprocessed.f32", tensor.tobytes())
manifest["preprocess"].append({"file": "chelsea_full.png", "expected": "chelsea_full_preprocessed.f32",
                               "shape": list(tensor.shape), "producer": producer,
                               "resizeShorter": 256, "crop": 224, "interpolation": "bilinear"})

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print("wrote", out)
