"""Deterministic generator of realistic, deliberately messy image captions.

Shared by make_metric_fixtures.py (parity fixtures) and bench_metrics.py (speed input).
Everything is driven by a seeded random.Random, so the output is identical on every run.
"""
import random

SUBJECTS = [
    "a man", "a woman", "two dogs", "a little girl", "the boy", "a black dog", "three people",
    "a brown-and-white cat", "an old man", "a young child", "a group of kids", "the chef",
    "a surfer", "a skier", "two women", "a football player", "the kids", "a baby", "a cyclist",
    "a man's dog", "the woman's horse", "a barista", "a café owner", "a naïve tourist",
    "a teen-aged boy", "a rock'n'roll band", "Mr. Smith", "Dr. Jones", "the U.S. team",
    "a São Paulo street vendor", "the Zürich tram", "a piñata", "an Æsop fan", "a crêpe maker",
]
VERBS = [
    "is running through", "is jumping over", "sits on", "stands near", "is playing in",
    "walks along", "rides", "is holding", "looks at", "is eating", "climbs", "swims in",
    "doesn't like", "isn't near", "can't reach", "won't leave", "is cooking", "waves at",
    "is sitting by", "plays with", "leans against", "is throwing", "catches",
]
OBJECTS = [
    "the grass", "a red ball", "the beach", "a wooden fence", "the snow", "a busy street",
    "a frisbee", "the water", "a bicycle", "a large rock", "the sidewalk", "a blue-green wave",
    "a crème brûlée", "a jalapeño pizza", "the 2nd floor", "a 3.5-meter wall", "1,000 balloons",
    "a $5 sandwich", "the 50% sale sign", "a T-shirt", "the dogs' toys", "an ice-cream cone",
    "the tree (an oak)", "a [red] kite", "a {green} sign", "the \"stop\" sign", "a 'wanted' poster",
    "the city's skyline", "a five-year-old's drawing", "the hill-side", "a café au lait",
    "a smörgåsbord", "the fjord", "a Québec flag", "a mañana sign", "the e-mail", "AT&T's store",
]
TAILS = [
    "", "", "", " in the park", " at night", " on a sunny day", " while it's raining",
    " -- happily", " - slowly", " ... again", "…", " (in the background)", " with a smile",
    " and/or a cat", ", isn't it", "; they're gonna win", ": wow", " at 5 p.m.", " near the U.S.",
    " with friends!", " , fast", " in the rain?", " — near Zürich", " – today",
]
SINGLE_WORDS = ["dog", "Dog.", "people", "Beach!", "café", "snow...", "\"cat\"", "(bird)", "—", "..."]


def decorate(rng, sentence):
    """Random casing and final punctuation, as people type captions."""
    r = rng.random()
    if r < 0.25:
        sentence = sentence[:1].upper() + sentence[1:]
    elif r < 0.30:
        sentence = sentence.upper()
    elif r < 0.35:
        sentence = sentence.title()
    end = rng.random()
    if end < 0.45:
        sentence += "."
    elif end < 0.50:
        sentence += " ."
    elif end < 0.55:
        sentence += "!"
    elif end < 0.58:
        sentence += "..."
    if rng.random() < 0.05:
        sentence = "  " + sentence.replace(" ", "  ", 1) + " "
    if rng.random() < 0.03:
        sentence = sentence.replace(" ", "\t", 1)
    return sentence


def caption(rng):
    s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"
    if rng.random() < 0.2:
        s += f" {rng.choice(['and', 'while', 'as'])} {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    return decorate(rng, s)


def perturb(rng, reference):
    """A plausible model output: a reference with words dropped, swapped or repeated."""
    words = reference.split()
    if not words:
        return reference
    action = rng.random()
    if action < 0.3 and len(words) > 3:
        del words[rng.randrange(len(words))]
    elif action < 0.5:
        i = rng.randrange(len(words))
        words.insert(i, words[i])
    elif action < 0.7:
        words[rng.randrange(len(words))] = rng.choice(["a", "the", "dog", "man", "red", "is"])
    elif action < 0.8:
        words = words + words[: rng.randrange(1, len(words) + 1)]  # longer than every reference
    return " ".join(words)


def prediction(rng, references):
    r = rng.random()
    if r < 0.03:
        return ""
    if r < 0.07:
        return rng.choice(SINGLE_WORDS)
    if r < 0.10:
        return references[0]  # identical to a reference
    if r < 0.75:
        return perturb(rng, rng.choice(references))
    return caption(rng)


def make_sets(seed, count, min_refs=1, max_refs=5):
    rng = random.Random(seed)
    sets = []
    for i in range(count):
        n = rng.randint(min_refs, max_refs)
        refs = [caption(rng) for _ in range(n)]
        sets.append((f"img{i:05d}", refs, prediction(rng, refs)))
    return sets


# Adversarial word soup for the tokenizer: every PTB rule a caption might hit, space separated
# (sometimes by two spaces), with random casing. Not realistic captions, but realistic *tokens*.
STRESS_WORDS = ["a","dog","man's","isn't","can't","Mr.","U.S.","e.g.","café","naïve","well-known","T-shirt","o'clock","rock'n'roll",
 "3.5","1,000","$5","50%","AT&T","and/or","x-ray","'90s","dogs'","y'all","gonna","cannot","I'm","they're","we'll","you'd've",
 "St.","Dr.","etc.","No.","5","p.m.","a.m.","A.","B","colour","grey","Zürich","São","Æsop","piñata","1990s","twenty-one",
 "10:30","3pm","#1","@home","b&w","R&B","PB&J","sub-zero","non-stop","co-op","e-mail","well...","hi!","what?","wow!!","ok?!",
 "it’s","don’t","“quoted”","‘single’","(left)","[box]","{x}","<b>","--","-","—","–","…","...",";",":",",",".","!","?","'","\"","`",
 "ice-cream","mother-in-law","3-year-old","100m","5kg","2.5kg","9:45am","jack-o'-lantern","ma'am","o'neill","d'Arc","c'mon",
 "Hawai'i","Ph.D.","U.K.","N.Y.C.","approx.","fig.","vs.","Jan.","Inc.","Co.","Ave.","Mt.","vol.","no.","Fig. 3","No. 5",
 "**","*","+","=","/","\\","|","~","^","&","#","@","%","$","€","£","¥","°","©","×","½","²","naïve-looking","über-cool",
 "dog.","cat,","bird;","fish:","cow!","pig?","hen...","(cat)","\"dog\"","'cat'","cat's","cats'","Chris'","James's",
 "DON'T","CAN'T","WON'T","ISN'T","Don't","GONNA","Cannot","IT'S","u.s.a.","A.B.C","a.b","x.y.z","www.google.com","foo@bar.com",
]


def stress_sentences(seed, count):
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        tokens = [rng.choice(STRESS_WORDS) for _ in range(rng.randint(1, 14))]
        s = ""
        for t in tokens:
            s += ((" " if rng.random() < 0.9 else "  ") if s else "") + t
        if rng.random() < 0.3:
            s = s.capitalize()
        if rng.random() < 0.1:
            s = s.upper()
        sentences.append(s)
    return sentences
