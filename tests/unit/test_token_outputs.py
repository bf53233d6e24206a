"""bge-m3's sparse and multi-vector outputs from per-token graph outputs (runtime/token_outputs.py),
and the client assembling them (and the truncation count) from a mock server's answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.client import EncoderClient, InvalidInputError, MockTransport
from encoder_triton.runtime.token_outputs import token_outputs
from encoder_triton.runtime.tokenization import TokenBatch

SPECIALS = (0, 1, 2)  # CLS, PAD, EOS of the rows below


def test_sparse_keeps_each_ids_largest_weight_over_every_window_and_drops_specials() -> None:
    # Text 0: one window; text 1: two windows of one text (ids 7 and 9 in both).
    ids = np.array([[0, 5, 5, 2, 1], [0, 7, 9, 2, 1], [0, 9, 7, 4, 2]])
    mask = (ids != 1).astype(np.int64)
    weights = np.array([[0.9, 0.2, 0.6, 0.8, 0.0], [0.7, 0.1, 0.3, 0.9, 0.0], [0.5, 0.2, 0.4, 0.0, 0.9]], np.float32)
    vectors = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    out = token_outputs(TokenBatch(ids, mask), weights, vectors, np.array([0, 1, 1]), 2, special_ids=SPECIALS)
    assert out[contract.SPARSE_IDS].tolist() == [[5, -1], [7, 9]]  # 4 weighs 0: left out
    np.testing.assert_allclose(out[contract.SPARSE_WEIGHTS], [[0.6, 0.0], [0.4, 0.3]])
    assert out[contract.COLBERT_COUNT].tolist() == [[3], [7]]  # tokens 1..n-1 of each window (n: 4, 4, 5)
    np.testing.assert_array_equal(out[contract.COLBERT_VECTORS][1], np.concatenate([vectors[1, :3], vectors[2, :4]]))
    np.testing.assert_array_equal(out[contract.COLBERT_VECTORS][0, 3:], 0)  # padding


M3_OUTPUTS = (contract.SPARSE_IDS, contract.SPARSE_WEIGHTS, contract.COLBERT_VECTORS, contract.COLBERT_COUNT)


def _m3_handler(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, Any]:
    rows = len(inputs["TEXT"])
    return {
        contract.EMBEDDING: np.ones((rows, 2), dtype=np.float32),
        contract.SPARSE_IDS: np.array([[3, 8, -1]] * rows),
        contract.SPARSE_WEIGHTS: np.array([[0.5, 0.25, 0.0]] * rows, dtype=np.float32),
        contract.COLBERT_VECTORS: np.ones((rows, 4, 2), dtype=np.float32),
        contract.COLBERT_COUNT: np.array([[3]] * rows),
        contract.TOKEN_COUNT: np.array([[5]] * rows),
        contract.TRUNCATED: np.array([[1]] * rows),
    }


@pytest.fixture()
def m3_client() -> Any:
    config = MockTransport.ensemble_config(
        "m3", task="embed", max_batch_size=2, token_count=True, truncated=True, extra_outputs=M3_OUTPUTS
    )
    transport = MockTransport(_m3_handler, [config])
    with EncoderClient(transport=transport) as client:
        yield client, transport


def test_the_client_assembles_sparse_and_colbert_and_sums_truncations(m3_client: Any) -> None:
    client, transport = m3_client
    result = client.embed(["a", "b", "c"], model="m3", outputs=("sparse", "colbert"), long_inputs="chunk")
    assert result.vectors.shape == (3, 0)
    assert [s.as_dict() for s in result.sparse or ()] == [{3: 0.5, 8: 0.25}] * 3
    assert [c.shape for c in result.colbert or ()] == [(3, 2)] * 3
    assert (result.truncated, result.prompt_tokens) == (3, 15)  # summed over both requests
    assert transport.parameters == [{"long_inputs": "chunk"}] * 2
    assert client.embed(["a"], model="m3").sparse is None


def test_bad_outputs_and_policies_fail_before_any_request(m3_client: Any) -> None:
    client, transport = m3_client
    with pytest.raises(InvalidInputError, match="outputs must be among dense, sparse, colbert"):
        client.embed(["a"], model="m3", outputs=("lexical",))
    with pytest.raises(InvalidInputError, match="dimensions applies to dense vectors"):
        client.embed(["a"], model="m3", outputs=("sparse",), dimensions=2)
    with pytest.raises(InvalidInputError, match="long_inputs must be one of"):
        client.embed(["a"], model="m3", long_inputs="all")
    assert transport.answered == {}


def test_the_export_check_names_each_text_whose_heads_disagree_with_pytorch() -> None:
    from encoder_triton.export.graph.bge_m3 import check_heads

    rng = np.random.default_rng(0)
    weights = rng.random((2, 5)).astype(np.float32)
    vectors = rng.normal(size=(2, 4, 3)).astype(np.float32)
    served = {contract.TOKEN_WEIGHTS: weights, contract.TOKEN_VECTORS: vectors}
    lengths = np.array([5, 3])
    reference = {
        contract.TOKEN_WEIGHTS: [weights[0, :5].copy(), weights[1, :3] + np.float32(1e-3)],
        contract.TOKEN_VECTORS: [vectors[0, :4].copy(), vectors[1, :2].copy()],
    }
    assert check_heads(served, lengths, reference) == ["text 1: sparse weights differ by 1.00e-03 (bound 0.0001)"]
    reference[contract.TOKEN_VECTORS][0][2] *= -1
    assert "text 0: a ColBERT vector has cosine -1.000000" in check_heads(served, lengths, reference)[0]
