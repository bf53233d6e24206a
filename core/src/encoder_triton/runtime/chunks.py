"""The windows of long texts (`chunk`): rows of the encoder's sub-batches, pooled back per text.

A Triton step with a batch dimension answers each request with as many rows as it got, so the
windows of a long text cannot become extra rows of the ensemble. The tokenizer lays them side
by side in the text's own row instead: window j of row r at columns [j * stride, j * stride +
its length), where the stride is the request's longest window, and says how many windows each
row holds (CHUNKS). The encoder step `expand`s those into rows of its own sub-batches, where
they batch with every other request's rows, and `pool`s the answers back into one per text:

    EMBEDDING       token-weighted mean of the windows' embeddings (weights: each window's
                    tokens), L2-normalised again when the model normalises
    LOGITS          mean of the windows' logits; PROBABILITIES: the activation of that mean
    RAW_SCORE       rerank: the best window's (a document scores as its best passage); SCORE:
                    its sigmoid

A request whose texts all fit is one window per row: `expand` returns it as it is and nothing
is pooled, so it costs nothing.

Example:
    >>> batch = TokenBatch(np.array([[5, 6, 7, 8]]), np.array([[1, 1, 1, 1]]), chunks=np.array([2]))
    >>> rows, owners = expand(batch)
    >>> rows.input_ids.tolist(), owners.tolist()
    ([[5, 6], [7, 8]], [0, 0])
    >>> pool({"LOGITS": np.array([[0.0, 2.0], [2.0, 0.0]])}, owners, np.array([2, 2]), 1)["LOGITS"].tolist()
    [[1.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from encoder_triton import contract
from encoder_triton.contract import Activation
from encoder_triton.errors import InvalidTextError
from encoder_triton.runtime.tokenization import TokenBatch


def check_chunks(batch: TokenBatch) -> None:
    """Raise InvalidTextError when CHUNKS does not describe the arrays (so a request sent straight
    to the encoder step with a wrong one fails alone, before it joins a batch)."""
    counts = batch.chunks
    if counts is None or len(batch) == 0:
        return
    width = batch.input_ids.shape[1]
    if len(counts) != len(batch) or int(counts.min()) < 1 or width % int(counts.max()):
        raise InvalidTextError(
            f"{contract.CHUNKS} must give each row's number of windows (>= 1), laid side by side at one "
            f"stride: got {counts.tolist()} for {len(batch)} rows of width {width}"
        )


def expand(batch: TokenBatch) -> tuple[TokenBatch, np.ndarray]:
    """Every window of every row as a row of its own, and the row (text) each came from."""
    counts = batch.chunks
    rows = len(batch)
    if counts is None or rows == 0 or int(counts.max()) <= 1:
        return batch, np.arange(rows)
    check_chunks(batch)
    stride = batch.input_ids.shape[1] // int(counts.max())
    owners = np.repeat(np.arange(rows), counts)
    starts = np.concatenate([np.arange(count) * stride for count in counts])
    columns = starts[:, None] + np.arange(stride)[None, :]

    def pick(array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array[owners[:, None], columns])

    types = batch.token_type_ids
    windows = TokenBatch(
        input_ids=pick(batch.input_ids),
        attention_mask=pick(batch.attention_mask),
        token_type_ids=None if types is None else pick(types),
    )
    return windows, owners


def pool(
    outputs: Mapping[str, np.ndarray],
    owners: np.ndarray,
    tokens: np.ndarray,
    rows: int,
    *,
    normalized: bool = False,
    activation: Activation | None = None,
) -> dict[str, np.ndarray]:
    """One answer per text (`rows` of them) from one per window (`owners[i]`: the text of window
    i, in order; `tokens[i]`: its tokens). Texts of one window keep their answer exactly."""
    counts = np.bincount(owners, minlength=rows)
    if len(owners) == rows:
        return dict(outputs)
    first = np.searchsorted(owners, np.arange(rows))  # owners ascend: each text's first window
    several = np.flatnonzero(counts > 1)
    pooled: dict[str, np.ndarray] = {}
    for name, values in outputs.items():
        if name in contract.TOKEN_OUTPUTS:  # per token: see token_outputs.py
            pooled[name] = values
            continue
        out = values[first].copy()
        if name == contract.EMBEDDING:
            weights = tokens.astype(np.float64)[:, None]
            summed = np.zeros((rows, values.shape[1]), dtype=np.float64)
            np.add.at(summed, owners, values.astype(np.float64) * weights)
            mean = summed / np.bincount(owners, weights=tokens.astype(np.float64), minlength=rows)[:, None]
            if normalized:
                mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
            out[several] = mean[several]
        elif name == contract.LOGITS:
            out[several] = _mean(values, owners, rows)[several]
        elif name == contract.PROBABILITIES:
            if activation is None:
                raise ValueError("pooling a classifier's windows needs its activation (config parameter)")
            out[several] = _activate(_mean(outputs[contract.LOGITS], owners, rows), activation)[several]
        elif name == contract.RAW_SCORE:
            out[several] = _max(values, owners, rows)[several]
        elif name == contract.SCORE:
            out[several] = _activate(_max(outputs[contract.RAW_SCORE], owners, rows), Activation.SIGMOID)[several]
        else:
            raise ValueError(f"no rule pools the windows of output {name!r}")
        pooled[name] = out
    return pooled


def _mean(values: np.ndarray, owners: np.ndarray, rows: int) -> np.ndarray:
    summed = np.zeros((rows, *values.shape[1:]), dtype=np.float64)
    np.add.at(summed, owners, values.astype(np.float64))
    return summed / np.bincount(owners, minlength=rows).reshape(-1, *([1] * (values.ndim - 1)))


def _max(values: np.ndarray, owners: np.ndarray, rows: int) -> np.ndarray:
    best = np.full((rows, *values.shape[1:]), -np.inf, dtype=np.float64)
    np.maximum.at(best, owners, values.astype(np.float64))
    return best


def _activate(logits: np.ndarray, activation: Activation) -> np.ndarray:
    if activation is Activation.SIGMOID:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
