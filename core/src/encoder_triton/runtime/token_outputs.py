"""bge-m3's sparse and multi-vector (ColBERT) outputs, from the per-token outputs of its graph.

Besides the dense EMBEDDING, the graph of a bge-m3-style model answers one weight per token
(TOKEN_WEIGHTS [rows, seq]: relu(sparse_linear(hidden))) and one vector per token after CLS
(TOKEN_VECTORS [rows, seq - 1, dim]: colbert_linear(hidden[:, 1:]), masked, L2-normalised). Per
text, this keeps what BGE-M3's own `BGEM3FlagModel.encode` keeps:

    sparse    each token id of the text once, with its largest weight; the special tokens
              (CLS, EOS, PAD, UNK: `special_ids`) and weights that are not > 0 left out
    colbert   the vectors of the real tokens, positions 1 .. length - 1 (CLS dropped, EOS kept)

A long text's windows (chunk) answer as one text: sparse takes each id's largest weight over
every window; colbert is the windows' vectors one after another (tokens the windows share
appear once per window). Each request's rows are padded to its longest: SPARSE_IDS with -1
(SPARSE_WEIGHTS 0), COLBERT_VECTORS with zero vectors; COLBERT_COUNT holds each row's vectors.

Example:
    >>> windows = TokenBatch(np.array([[0, 7, 9, 7, 2]]), np.ones((1, 5), dtype=np.int64))
    >>> weights = np.array([[0.5, 0.2, 0.0, 0.4, 0.9]], dtype=np.float32)
    >>> vectors = np.ones((1, 4, 2), dtype=np.float32)
    >>> out = token_outputs(windows, weights, vectors, np.array([0]), 1, special_ids=(0, 2))
    >>> out["SPARSE_IDS"].tolist(), out["SPARSE_WEIGHTS"].round(2).tolist(), out["COLBERT_COUNT"].tolist()
    ([[7]], [[0.4]], [[4]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from encoder_triton import contract
from encoder_triton.runtime.tokenization import TokenBatch


def token_outputs(
    windows: TokenBatch,
    weights: np.ndarray,
    vectors: np.ndarray,
    owners: np.ndarray,
    rows: int,
    *,
    special_ids: Sequence[int],
) -> dict[str, np.ndarray]:
    """SPARSE_IDS, SPARSE_WEIGHTS, COLBERT_VECTORS and COLBERT_COUNT for `rows` texts, from the
    per-token outputs of their windows (`owners[i]`: the text of window i, ascending)."""
    lengths = windows.lengths.astype(np.int64)
    special = np.asarray(sorted(special_ids), dtype=np.int64)
    sparse: list[tuple[np.ndarray, np.ndarray]] = []
    multi: list[np.ndarray] = []
    bounds = np.searchsorted(owners, np.arange(rows + 1))
    for text in range(rows):
        mine = range(int(bounds[text]), int(bounds[text + 1]))
        ids = np.concatenate([windows.input_ids[i, : lengths[i]] for i in mine])
        found = np.concatenate([weights[i, : lengths[i]] for i in mine]).astype(np.float32)
        keep = (found > 0) & ~np.isin(ids, special)
        sparse.append(_max_per_id(ids[keep], found[keep]))
        multi.append(np.concatenate([vectors[i, : max(lengths[i] - 1, 0)] for i in mine]))
    most_ids = max((len(ids) for ids, _ in sparse), default=0)
    most_vectors = max((len(v) for v in multi), default=0)
    sparse_ids = np.full((rows, most_ids), -1, dtype=np.int64)
    sparse_weights = np.zeros((rows, most_ids), dtype=np.float32)
    colbert = np.zeros((rows, most_vectors, vectors.shape[-1]), dtype=np.float32)
    for text, ((ids, found), vecs) in enumerate(zip(sparse, multi, strict=True)):
        sparse_ids[text, : len(ids)] = ids
        sparse_weights[text, : len(ids)] = found
        colbert[text, : len(vecs)] = vecs
    return {
        contract.SPARSE_IDS: sparse_ids,
        contract.SPARSE_WEIGHTS: sparse_weights,
        contract.COLBERT_VECTORS: colbert,
        contract.COLBERT_COUNT: np.array([[len(v)] for v in multi], dtype=np.int64).reshape(rows, 1),
    }


def _max_per_id(ids: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each id once (ascending) with its largest weight."""
    if len(ids) == 0:
        return ids, weights
    order = np.argsort(ids, kind="stable")
    ids, weights = ids[order], weights[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return ids[starts], np.maximum.reduceat(weights, starts)
