"""Users' own texts for calibration and the fidelity gate: one text per line, or JSON lines.

    plain   one text per line (blank lines skipped)
    JSONL   {"text": "...", "label": "pos"}  -  label optional (a classifier's gold label, by
            name or index), "query" optional (a reranker's query for that document)

A file is JSONL when every non-blank line is a JSON object with a "text"; anything else is read
as plain lines, so a text that happens to start with "{" still works in a plain file.

The gate's 24 built-in texts are generic; a domain's decision boundary needs the domain's
texts: `--validation-texts` replaces them (the export is then judged on those), and
`--calibration-texts` replaces the built-in calibration set. Keep the two files apart: texts the
calibration saw prove nothing at the gate.

Example:
    >>> parse_texts(['{"text": "great film", "label": "pos"}', '{"text": "dull", "label": "neg"}'])
    UserTexts(texts=('great film', 'dull'), labels=('pos', 'neg'), queries=None, source='')
    >>> parse_texts(["first text", "", "second text"]).texts
    ('first text', 'second text')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class UserTexts:
    texts: tuple[str, ...]
    #: Gold labels, one per text (JSONL "label"), or None.
    labels: tuple[str, ...] | None = None
    #: Reranker queries, one per text (JSONL "query"), or None.
    queries: tuple[str, ...] | None = None
    #: Where they came from (the file), for the report.
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)


def parse_texts(lines: Sequence[str]) -> UserTexts:
    """Texts (and labels, queries) from the lines of a plain or JSONL file."""
    rows = [line.strip() for line in lines if line.strip()]
    records = [_record(line) for line in rows]
    if not rows or any(record is None for record in records):
        return UserTexts(tuple(rows))
    texts = tuple(str(r["text"]) for r in records if r is not None)
    labels = [r.get("label") for r in records if r is not None]
    queries = [r.get("query") for r in records if r is not None]
    if any(label is not None for label in labels) and any(label is None for label in labels):
        raise ValueError("some JSON lines have a 'label' and some do not: label every text or none")
    if any(query is not None for query in queries) and any(query is None for query in queries):
        raise ValueError("some JSON lines have a 'query' and some do not: give every document a query or none")
    return UserTexts(
        texts,
        tuple(str(label) for label in labels) if labels and labels[0] is not None else None,
        tuple(str(query) for query in queries) if queries and queries[0] is not None else None,
    )


def _record(line: str) -> dict[str, object] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("text"), str) else None


def read_texts(path: Path, *, minimum: int = 8, purpose: str = "validation") -> UserTexts:
    """The texts of `path` (UTF-8, plain or JSONL); at least `minimum` of them."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"cannot read {purpose} texts from {path}: {exc}; pass a UTF-8 file, one text per line or JSON lines"
        ) from exc
    texts = replace(parse_texts(lines), source=str(path))
    if len(texts) < minimum:
        raise ValueError(f"{path} holds {len(texts)} texts; {purpose} needs at least {minimum} (one per line)")
    return texts


def label_accuracy(probabilities: np.ndarray, gold: Sequence[str], names: Sequence[str]) -> float | None:
    """Share of rows whose top label is the gold one; gold labels are label names or indices.
    None when a gold label is neither (the file's labels do not belong to this head)."""
    index = {name: i for i, name in enumerate(names)}
    wanted = []
    for label in gold:
        if label in index:
            wanted.append(index[label])
        elif label.isdigit() and int(label) < len(names):
            wanted.append(int(label))
        else:
            return None
    return float(np.mean(np.argmax(probabilities, axis=1) == np.array(wanted)))
