#!/usr/bin/env python3
"""Writes Tests/VisionTests/Fixtures/encoders: what PyTorch computes for the CNN encoders' layers and models.

Run from the package root with a Python that has torch, torchvision, safetensors and the PyPI packages
`efficientnet-lite-pytorch==0.1.0` (the real Lite0/1/2 on photographs: make_lite_photo_fixtures.py):
    /tmp/ref/bin/python tools/reference/make_encoder_fixtures.py /tmp/skimage/skimage/data
Outputs:
  layers.safetensors  conv/pooling cases: `<case>.input`, `.weight`, `.bias`, BN tensors, `.output`;
                      metadata `cases` (JSON list of {name, kind, kernel, stride, dilation, groups, padding, ...})
  lite_tiny.pth       a width/depth-reduced EfficientNet-Lite with seeded random weights and BN statistics,
                      saved in the legacy (pre-1.6) torch.save format; lite_tiny.safetensors holds its input
                      (a real photo crop, normalised) and PyTorch's grid/pooled/logits for it
  imagenet_classes.json  torchvision's 1000 ImageNet class names
"""
import json, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from torchvision import transforms

root = os.path.join(os.path.dirname(__file__), "..", "..")
out = os.path.join(root, "Tests", "VisionTests", "Fixtures", "encoders")
data_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/skimage/skimage/data"
os.makedirs(out, exist_ok=True)
torch.manual_seed(20261121)
torch.set_grad_enabled(False)


def same_padding(size, k, s, d):
    o = math.ceil(size / s)
    total = max((o - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


# ---- layer cases ----
tensors, cases = {}, []


def conv_case(name, n, c, h, w, o, k, stride=1, dilation=1, groups=1, padding=0, activation="none", bn=False, residual=False):
    x = torch.randn(n, c, h, w)
    weight = torch.randn(o, c // groups, k, k) / math.sqrt(c // groups * k * k)
    bias = torch.randn(o) * 0.1
    if padding == "same":
        (t, b), (l, r) = same_padding(h, k, stride, dilation), same_padding(w, k, stride, dilation)
        y = F.conv2d(F.pad(x, [l, r, t, b]), weight, bias, stride, 0, dilation, groups)
    else:
        y = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    case = {"name": name, "kind": "conv", "kernel": k, "stride": stride, "dilation": dilation, "groups": groups,
            "padding": padding, "activation": activation, "batch_norm": bn, "residual": residual,
            "in_channels": c, "out_channels": o}
    tensors[name + ".input"] = x
    tensors[name + ".weight"] = weight
    tensors[name + ".bias"] = bias
    if bn:
        gamma, beta = torch.rand(o) + 0.5, torch.randn(o) * 0.1
        mean, var = torch.randn(o) * 0.2, torch.rand(o) + 0.5
        y = F.batch_norm(y, mean, var, gamma, beta, False, 0.0, 1e-3)
        tensors.update({name + ".bn_weight": gamma, name + ".bn_bias": beta, name + ".bn_mean": mean, name + ".bn_var": var})
    if residual:  # the block's own input is added back, as in a ResNet basic block
        y = y + x
    y = {"none": y, "relu": F.relu(y), "relu6": F.relu6(y)}[activation]
    tensors[name + ".output"] = y
    cases.append(case)


conv_case("depthwise3x3_same_relu6", 2, 16, 9, 11, 16, 3, groups=16, padding="same", activation="relu6")
conv_case("depthwise5x5_stride2_same", 1, 8, 12, 10, 8, 5, stride=2, groups=8, padding="same")
conv_case("stride2_3x3_same_odd", 2, 3, 13, 11, 8, 3, stride=2, padding="same", activation="relu")
conv_case("dilated3x3_pad2_relu", 1, 8, 10, 10, 16, 3, dilation=2, padding=2, activation="relu")
conv_case("grouped4_3x3_pad1", 1, 8, 7, 9, 12, 3, groups=4, padding=1)
conv_case("pointwise_bn_relu6", 2, 24, 6, 5, 40, 1, bn=True, activation="relu6")
conv_case("stem7x7_stride2_pad3_bn", 1, 3, 20, 18, 8, 7, stride=2, padding=3, bn=True, activation="relu")
conv_case("residual_3x3_bn_relu", 2, 16, 8, 8, 16, 3, padding=1, bn=True, residual=True, activation="relu")


def pool_case(name, kind, n, c, h, w, k, s, p):
    x = torch.randn(n, c, h, w)
    y = F.max_pool2d(x, k, s, p) if kind == "max" else F.avg_pool2d(x, k, s, p)  # avg counts padding (PyTorch default)
    tensors[name + ".input"] = x
    tensors[name + ".output"] = y
    cases.append({"name": name, "kind": kind + "_pool", "kernel": k, "stride": s, "padding": p, "in_channels": c})


pool_case("maxpool3x3_stride2_pad1", "max", 2, 16, 11, 12, 3, 2, 1)
pool_case("avgpool3x3_stride2_pad1", "avg", 1, 8, 9, 9, 3, 2, 1)
pool_case("avgpool2x2_stride2", "avg", 1, 8, 8, 6, 2, 2, 0)
save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "layers.safetensors"),
          metadata={"cases": json.dumps(cases)})

# ---- a small EfficientNet-Lite with seeded random weights, on a real photo crop ----
from efficientnet_lite_pytorch import EfficientNet

tiny = EfficientNet.from_name("efficientnet-lite0", width_coefficient=0.125, depth_coefficient=0.5,
                              image_size=64, num_classes=10).eval()
for module in tiny.modules():
    if isinstance(module, torch.nn.BatchNorm2d):
        module.weight.uniform_(0.5, 1.5)
        module.bias.normal_(0, 0.1)
        module.running_mean.normal_(0, 0.1)
        module.running_var.uniform_(0.5, 1.5)
torch.save(tiny.state_dict(), os.path.join(out, "lite_tiny.pth"), _use_new_zipfile_serialization=False)
photo = Image.open(os.path.join(data_dir, "chelsea.png")).convert("RGB").crop((166, 56, 230, 120))  # the cat's face, 64x64
normalise = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
x = normalise(photo).unsqueeze(0)
features = tiny.extract_features(x)
save_file({"input": x.contiguous(), "grid": features.flatten(2).transpose(1, 2).contiguous(),
           "pooled": features.mean((2, 3)).contiguous(), "logits": tiny(x).contiguous()},
          os.path.join(out, "lite_tiny.safetensors"),
          metadata={"widths": json.dumps({"width_coefficient": 0.125, "depth_coefficient": 0.5, "image_size": 64, "num_classes": 10})})

from torchvision.models import ResNet18_Weights
with open(os.path.join(out, "imagenet_classes.json"), "w") as f:
    json.dump(ResNet18_Weights.IMAGENET1K_V1.meta["categories"], f)
print("wrote", out)

# ---- width-reduced torchvision ResNets (BasicBlock and Bottleneck) and VGG16 layout, seeded random weights ----
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1
from torchvision.models import vgg16


def narrow_resnet(block, layers, widths, num_classes=10):
    """torchvision's ResNet construction (same module names) with the stage widths as a parameter."""
    model = nn.Module()
    model.inplanes = widths[0]
    model.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(widths[0])
    model.relu = nn.ReLU(inplace=True)
    model.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def make_layer(planes, blocks, stride):
        downsample = None
        if stride != 1 or model.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(model.inplanes, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion))
        mods = [block(model.inplanes, planes, stride, downsample)]
        model.inplanes = planes * block.expansion
        mods += [block(model.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    for i, (n, w) in enumerate(zip(layers, widths)):
        setattr(model, f"layer{i + 1}", make_layer(w, n, 1 if i == 0 else 2))
    model.fc = nn.Linear(widths[3] * block.expansion, num_classes)
    return model.eval()


def randomise_batch_norms(model):
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.uniform_(0.5, 1.5)
            module.bias.normal_(0, 0.1)
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)


def resnet_features(m, x):
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer4(m.layer3(m.layer2(m.layer1(x))))


photo = Image.open(os.path.join(data_dir, "chelsea.png")).convert("RGB").crop((150, 40, 246, 136))  # 96x96 of the cat
x96 = normalise(photo).unsqueeze(0)
results = {"input": x96.contiguous()}
for name, block, layers, widths in [("resnet18_narrow", BasicBlock, [2, 2, 2, 2], [8, 16, 24, 32]),
                                    ("resnet50_narrow", Bottleneck, [1, 2, 1, 1], [8, 8, 16, 16])]:
    m = narrow_resnet(block, layers, widths)
    randomise_batch_norms(m)
    torch.save(m.state_dict(), os.path.join(out, name + ".pth"))  # zip format
    features = resnet_features(m, x96)
    pooled = features.mean((2, 3))
    results[name + ".grid"] = features.flatten(2).transpose(1, 2).contiguous()
    results[name + ".pooled"] = pooled.contiguous()
    results[name + ".logits"] = m.fc(pooled).contiguous()
save_file(results, os.path.join(out, "resnet_narrow.safetensors"),
          metadata={"resnet18_narrow": json.dumps({"layers": [2, 2, 2, 2], "widths": [8, 16, 24, 32], "block": "basic"}),
                    "resnet50_narrow": json.dumps({"layers": [1, 2, 1, 1], "widths": [8, 8, 16, 16], "block": "bottleneck"})})
print("wrote narrow ResNets")

# ---- VGG16's layout (torchvision make_layers, so keys features.0 … features.28) at 1/32 of the width ----
from torchvision.models.vgg import make_layers

cfg = [c if c == "M" else c // 32 for c in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]]
vgg_features = make_layers(cfg).eval()
torch.save({"features." + k: v for k, v in vgg_features.state_dict().items()}, os.path.join(out, "vgg16_narrow.pth"))
x64 = normalise(photo.crop((16, 16, 80, 80))).unsqueeze(0)   # 64x64
block5 = vgg_features[:30](x64)                              # through features.28 and its ReLU
save_file({"input": x64.contiguous(), "grid": block5.flatten(2).transpose(1, 2).contiguous()},
          os.path.join(out, "vgg16_narrow.safetensors"))
print("wrote narrow VGG16")

# ---- every full-size architecture's state-dict keys and shapes (no weights), to check the Swift loaders' naming ----
from torchvision import models as tvm

shapes = {}
for name in ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]:
    shapes[name] = {k: list(v.shape) for k, v in EfficientNet.from_name(name).state_dict().items() if not k.endswith("num_batches_tracked")}
for name in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg16"]:
    shapes[name] = {k: list(v.shape) for k, v in getattr(tvm, name)().state_dict().items() if not k.endswith("num_batches_tracked")}
with open(os.path.join(out, "architecture_shapes.json"), "w") as f:
    json.dump(shapes, f, separators=(",", ":"))
print("wrote architecture shapes")
