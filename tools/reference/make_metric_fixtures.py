#!/usr/bin/env python3
"""Regenerates Tests/CaptionMetricsTests/Fixtures/*.json from the real pycocoevalcap and NLTK.

Never needed by CI: the JSON it writes is committed. Run it from anywhere with a venv holding
`pycocoevalcap` and `nltk` (and Java for the tokenizer and METEOR):

    python3 -m venv /tmp/metrics-venv && /tmp/metrics-venv/bin/pip install pycocoevalcap nltk
    /tmp/metrics-venv/bin/python tools/reference/make_metric_fixtures.py

Outputs:
  metric_parity.json     caption sets (raw), pycocoevalcap's PTB tokenisation, corpus and per-image
                         BLEU-1..4 (coco), ROUGE-L, CIDEr-D, METEOR, NLTK corpus_bleu (method0..7)
  tokenizer_cases.json   hand-written hard sentences and what Stanford PTBTokenizer 3.4.1 makes of them
  tokenizer_stress.json  2,500 seeded word-soup sentences of tricky tokens, tokenised by the same Java run
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import caption_corpus  # noqa: E402

from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu  # noqa: E402
from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge  # noqa: E402
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "CaptionMetricsTests", "Fixtures")
SEED = 20240521
SET_COUNT = 600

# Sentences chosen to exercise every PTB rule a caption is likely to hit (plus a few it is not).
HARD_SENTENCES = [
    "A man's dog doesn't like the colour grey.",
    "I can't, won't, cannot do it... OK?",
    "\"Hello,\" she said. 'Quoted' text (brackets) [square] {curly}",
    "Mr. Smith went to the U.S. yesterday. He's in the U.S.",
    "A well-known café in São Paulo -- near the sea - crêpes – naïve — ok",
    "dog/cat and 3.5 and 1,000 and $5 and 50% & co * star",
    "The kids' toys; they're gonna wanna play: 'tis fun!",
    "Two dogs. . . running… fast",
    "ÉCOLE Straße ÆON",
    "e.g. i.e. etc. a.m. p.m.",
    "a  double  space\ttab",
    "It's 5 p.m. on Jan. 3.",
    "end with abbreviation Mr.",
    "N'T dON'T I'D we'll you've y'all o'clock rock'n'roll",
    "",
    "...",
    "word.",
    "A DOG.Running",
    "a b.c d",
    "people ' s hats",
    "a dog 's toy",
    "dogs' ball and James' hat",
    "'em and 'cause and 'n'",
    "gotta lemme gimme wanna gonna",
    "Isn't it? Aren't they? Wouldn't you'd've?",
    "a t-shirt, a x-ray and a 1-year-old",
    "the 1990s and the '90s and 5-10 people",
    "twenty-first-century art --- really",
    "he said ``hi'' and `ok'",
    "a dog!!! really?!",
    "email me at test@example.com or see www.example.com",
    "a #1 fan with #hashtag and @user",
    "3:30 and 10:45pm and 1/2 a cake",
    "prices: €5, £3 and ¥100",
    "the café’s terrace and it’s “nice”",
    "fish & chips and AT&T and R&B",
    "Dr. Who and St. Louis and Mt. Fuji and Ave. Q",
    "a boy ( smiling ) and [ sad ]",
    "a... b.. c . d ....",
    "U.S.A. and U.K. and N.Y.",
    "the end.\"",
    "a\u00a0non-breaking space",
    # Rules that look into the next line of the tokenizer's input file:
    "a sign with the letter b.",
    "The dog runs past it",
    "a box marked no.",
    "3 dogs sit on it",
    "a poster of vitamin c.",
    "a man eats",
    "a plan B. and a plan c. ",
    "A. Mr. T-shirt and x. <b> tag",
    "½ a cake and ¼ of a pie, j'adore, hawai'i, ma'am, cat'sman, qu'il, @HOME #Tag <B>",
    "fig.  3 and fig. 3 and no.3",
]


def tokenize_many(sentences):
    """PTB-tokenise a list of strings exactly as COCOEvalCap does (one caption per image key)."""
    tokenized = PTBTokenizer().tokenize({i: [{"caption": s}] for i, s in enumerate(sentences)})
    return [tokenized[i][0] for i in range(len(sentences))]


def nltk_bleus(refs_tok, hyps_tok):
    """corpus_bleu for BLEU-n with uniform weights of length n, for smoothing method0..method7."""
    list_of_references = [[r.split() for r in refs] for refs in refs_tok]
    hypotheses = [h.split() for h in hyps_tok]
    smoothing = SmoothingFunction()
    out = {}
    for method in range(8):
        function = getattr(smoothing, f"method{method}")
        scores = []
        for n in range(1, 5):
            weights = tuple([1.0 / n] * n)
            try:
                scores.append(float(corpus_bleu(list_of_references, hypotheses, weights=weights,
                                                smoothing_function=function)))
            except Exception as error:  # method6 asserts on short inputs; record that it does
                scores.append(None)
                print(f"nltk method{method} BLEU-{n}: {error!r}", file=sys.stderr)
        out[f"method{method}"] = scores
    return out


def meteor_scores(gts, res):
    if shutil.which("java") is None:
        return None
    from pycocoevalcap.meteor.meteor import Meteor
    meteor = Meteor()
    score, scores = meteor.compute_score(gts, res)
    del meteor
    return float(score), [float(s) for s in scores]


def main():
    os.makedirs(OUT, exist_ok=True)
    sets = caption_corpus.make_sets(SEED, SET_COUNT)
    # Hard sentences also take part in scoring, as references of extra images.
    for i in range(0, len(HARD_SENTENCES), 3):
        refs = HARD_SENTENCES[i:i + 3]
        sets.append((f"hard{i:03d}", refs, refs[-1]))
    # Edge cases with a known shape.
    sets += [
        ("edge-empty", ["a dog runs on the grass", "a brown dog runs"], ""),
        ("edge-one-ref", ["two people walk on a beach"], "two people walk on the beach"),
        ("edge-identical", ["a red car parked on a street", "a car"], "a red car parked on a street"),
        ("edge-longer", ["a cat", "a small cat"], "a small cat sits on a mat in the sun next to a dog and a bird"),
        ("edge-one-word", ["a child plays", "kids play outside"], "child"),
        ("edge-punct-only", ["a bird flies", "birds in the sky"], "..."),
    ]

    ids = [s[0] for s in sets]
    sentences = [c for _, refs, hyp in sets for c in refs + [hyp]]
    # As COCOEvalCap does: references in one tokenizer run (one file), predictions in another.
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({image: [{"caption": c} for c in refs] for image, refs, _ in sets})
    res = tokenizer.tokenize({image: [{"caption": hyp}] for image, _, hyp in sets})

    bleu, bleu_per_image = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_per_image = Rouge().compute_score(gts, res)
    cider, cider_per_image = Cider().compute_score(gts, res)
    meteor = meteor_scores(gts, res)

    images = []
    for index, (image, refs, hyp) in enumerate(sets):
        entry = {
            "image": image,
            "references": refs,
            "prediction": hyp,
            "tokenized_references": gts[image],
            "tokenized_prediction": res[image][0],
            "bleu": [float(bleu_per_image[k][index]) for k in range(4)],
            "rouge_l": float(rouge_per_image[index]),
            "cider_d": float(cider_per_image[index]),
        }
        if meteor is not None:
            entry["meteor"] = meteor[1][index]
        images.append(entry)

    corpus = {
        "BLEU-1": float(bleu[0]), "BLEU-2": float(bleu[1]), "BLEU-3": float(bleu[2]), "BLEU-4": float(bleu[3]),
        "ROUGE-L": float(rouge), "CIDEr-D": float(cider),
    }
    if meteor is not None:
        corpus["METEOR"] = meteor[0]
    parity = {
        "generator": "tools/reference/make_metric_fixtures.py",
        "seed": SEED,
        "images": images,
        "corpus": corpus,
        "nltk_corpus_bleu": nltk_bleus([gts[i] for i in ids], [res[i][0] for i in ids]),
    }
    with open(os.path.join(OUT, "metric_parity.json"), "w", encoding="utf-8") as f:
        json.dump(parity, f, ensure_ascii=False, indent=0)

    cases = [{"raw": s, "tokenized": t} for s, t in zip(HARD_SENTENCES, tokenize_many(HARD_SENTENCES))]
    with open(os.path.join(OUT, "tokenizer_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    stress = caption_corpus.stress_sentences(SEED + 1, 2500)
    stress_cases = [{"raw": s, "tokenized": t} for s, t in zip(stress, tokenize_many(stress))]
    with open(os.path.join(OUT, "tokenizer_stress.json"), "w", encoding="utf-8") as f:
        json.dump(stress_cases, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(images)} caption sets, {len(sentences)} sentences; corpus {corpus}")


if __name__ == "__main__":
    main()
