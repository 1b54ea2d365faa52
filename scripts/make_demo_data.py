#!/usr/bin/env python3
"""Writes the bundled demo task of `make demo`: data/demo/train.jsonl and data/demo/dev.jsonl.

A two-class sentiment task for a randomly initialised model (`pocket init`): each sentence
describes two or three things with adjectives that are all positive (label 1) or all negative
(label 0). The only signal is the polarity lexicon; the training and dev sentences share it
and nothing else: they use disjoint nouns and disjoint sentence templates, so no dev sentence
(or dev noun/template) is ever seen in training and a tuned model must generalise the
word -> label association to new contexts. Both files are exactly balanced, and every template
and noun is drawn independently of the label, so neither length nor wording leaks the label.

Deterministic (fixed seed, standard library only): running it again writes the same bytes.
usage: python3 scripts/make_demo_data.py [OUT_DIR]   (default: data/demo next to this script)
"""
import json
import os
import random
import sys

SEED = 1234
N_TRAIN = 800
N_DEV = 400

POSITIVE = ["wonderful", "excellent", "lovely", "superb", "delightful",
            "brilliant", "charming", "splendid", "pleasant", "happy"]
NEGATIVE = ["awful", "boring", "dreadful", "horrible", "dull",
            "poor", "lousy", "nasty", "bland", "miserable"]

TRAIN_NOUNS = ["food", "music", "staff", "story", "room",
               "view", "seats", "service", "cast", "ending"]
DEV_NOUNS = ["coffee", "songs", "guide", "plot", "beds",
             "garden", "tickets", "waiter", "actors", "finale"]

# {a} {b} {c}: three different adjectives of the example's polarity; {n} {m}: two different nouns.
TRAIN_TEMPLATES = ["{a} {n}, {b} {m}.",
                   "The {n} was {a} and the {m} was {b}.",
                   "{a} {n} and {b} {m}, {c} overall."]
DEV_TEMPLATES = ["Such {a} {n}; the {m} felt {b}.",
                 "We found the {n} {a}, the {m} {b} and the day {c}."]


def make(nouns, templates, n, rng):
    rows = []
    for i in range(n):
        label = i % 2
        a, b, c = rng.sample(POSITIVE if label else NEGATIVE, 3)
        noun, other = rng.sample(nouns, 2)
        text = rng.choice(templates).format(a=a, b=b, c=c, n=noun, m=other)
        rows.append({"sentence": text[0].upper() + text[1:], "label": label})
    rng.shuffle(rows)
    return rows


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "demo")
    assert not set(TRAIN_NOUNS) & set(DEV_NOUNS)
    assert not set(TRAIN_TEMPLATES) & set(DEV_TEMPLATES)
    rng = random.Random(SEED)
    train = make(TRAIN_NOUNS, TRAIN_TEMPLATES, N_TRAIN, rng)
    dev = make(DEV_NOUNS, DEV_TEMPLATES, N_DEV, rng)
    assert not {r["sentence"] for r in train} & {r["sentence"] for r in dev}
    os.makedirs(out, exist_ok=True)
    for name, rows in (("train", train), ("dev", dev)):
        with open(os.path.join(out, name + ".jsonl"), "w", encoding="utf-8", newline="\n") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    print(f"wrote {len(train)} train and {len(dev)} dev examples to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
