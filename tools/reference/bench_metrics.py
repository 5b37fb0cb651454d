#!/usr/bin/env python3
"""Times pycocoevalcap (PTB tokenizer + Bleu + Rouge + Cider, as COCOEvalCap runs them) on a synthetic
5,000-image x 5-reference set, and writes that set as JSON lines for `caption evaluate`:

    /tmp/metrics-venv/bin/python tools/reference/bench_metrics.py [out_dir]
    .build/release/caption evaluate --references out_dir/references.jsonl \
        --predictions out_dir/predictions.jsonl --no-meteor --timing
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import caption_corpus  # noqa: E402

from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge  # noqa: E402
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # noqa: E402

IMAGES = 5000
REFERENCES = 5


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/captioner-bench"
    os.makedirs(out, exist_ok=True)
    sets = caption_corpus.make_sets(7, IMAGES, min_refs=REFERENCES, max_refs=REFERENCES)
    with open(os.path.join(out, "references.jsonl"), "w", encoding="utf-8") as f:
        for image, refs, _ in sets:
            f.write(json.dumps({"image": image, "captions": refs}, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "predictions.jsonl"), "w", encoding="utf-8") as f:
        for image, _, hyp in sets:
            f.write(json.dumps({"image": image, "caption": hyp}, ensure_ascii=False) + "\n")

    gts = {image: [{"caption": c} for c in refs] for image, refs, _ in sets}
    res = {image: [{"caption": hyp}] for image, _, hyp in sets}
    timings = {}
    start = time.perf_counter()
    tokenizer = PTBTokenizer()
    gts_tok = tokenizer.tokenize(gts)
    res_tok = tokenizer.tokenize(res)
    timings["tokenize"] = time.perf_counter() - start
    scores = {}
    for name, scorer in [("Bleu", Bleu(4)), ("Rouge", Rouge()), ("Cider", Cider())]:
        t = time.perf_counter()
        score, _ = scorer.compute_score(gts_tok, res_tok, **({"verbose": 0} if name == "Bleu" else {}))
        timings[name] = time.perf_counter() - t
        scores[name] = score
    timings["total"] = time.perf_counter() - start
    print(json.dumps({"images": IMAGES, "references_per_image": REFERENCES, "seconds": timings,
                      "scores": {k: (list(map(float, v)) if isinstance(v, list) else float(v)) for k, v in scores.items()},
                      "files": out}, indent=1))


if __name__ == "__main__":
    main()
