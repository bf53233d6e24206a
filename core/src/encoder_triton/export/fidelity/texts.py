"""The fixed texts every export is validated on: varied lengths, scripts and punctuation.

Short phrases, ordinary sentences, numbers and code, non-Latin scripts, emoji, and one text far
longer than any model's limit (so truncation is validated too). Rerankers are validated on
(query, document) pairs: every query against a spread of the texts, the long one included (the
document is cut, the query kept), plus one query too long to keep whole.

Example:
    >>> len(REFERENCE_TEXTS) >= 20
    True
    >>> queries, documents = reference_pairs()
    >>> len(queries) == len(documents) >= 20
    True
"""

from __future__ import annotations

_LONG = (
    "Encoder serving is mostly about padding, batching and copies. "
    "A request of one long text among many short ones costs as much as many long ones "
    "unless the server sorts by length and runs sub-batches under a token budget. "
) * 40

REFERENCE_TEXTS: tuple[str, ...] = (
    "Hello world",
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "The new movie is awesome, I loved every minute of it!",
    "The stock market fell sharply on Tuesday after the central bank raised interest rates.",
    "How do I reset my password if I no longer have access to my email?",
    "Paris is the capital and most populous city of France.",
    "def add(a, b):\n    return a + b  # adds two numbers",
    "Order #12345 shipped on 2024-03-01 for $1,299.99 (incl. VAT).",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Le chat dort sur le canapé pendant que la pluie tombe.",
    "El aprendizaje automático transforma la industria.",
    "東京は日本の首都です。",
    "Привет, как дела?",
    "🚀 Launch day! 🎉 Thanks to everyone who helped.",
    "   leading and trailing spaces   ",
    "UPPER CASE TEXT SHOULD STILL WORK",
    "a",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation.",
    "Question: what is the boiling point of water at sea level? Answer: 100 degrees Celsius.",
    "The patient presented with acute shortness of breath and was given supplemental oxygen.",
    "tab\tseparated\tvalues and\nnew lines",
    _LONG,
    "The end.",
)

REFERENCE_QUERIES: tuple[str, ...] = (
    "What is the capital of France?",
    "how do interest rates affect stocks",
    "a man riding a horse",
    "¿Qué es el aprendizaje automático?",
)


def reference_pairs() -> tuple[list[str], list[str]]:
    """(queries, documents) of the same length, pairing each query with a spread of texts."""
    queries: list[str] = []
    documents: list[str] = []
    for index, query in enumerate(REFERENCE_QUERIES):
        for text in REFERENCE_TEXTS[index::3]:
            queries.append(query)
            documents.append(text)
    queries.append(_LONG)  # longer than any limit: both sides are cut (longest_first)
    documents.append("A short document.")
    return queries, documents
