import numpy as np

from encoder_triton.export.fidelity.reference import compare_embeddings, cosine_rows


def test_cosine_rows() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(cosine_rows(a, a), [1.0, 1.0])
    np.testing.assert_allclose(cosine_rows(a, a[::-1]), [0.0, 0.0])


def test_every_failing_text_is_reported_not_just_the_first() -> None:
    reference = np.eye(4)
    candidate = reference.copy()
    candidate[1] = [1, 1, 0, 0]
    candidate[3] = [0, 0, 1, 0]
    report = compare_embeddings(reference, candidate, ["a", "b", "c", "d"], min_cosine=0.9999)
    assert not report.passed
    assert [f.split(" ")[1] for f in report.failures] == ["1", "3"]
    assert report.min_cosine == 0.0


def test_nan_fails_and_shape_mismatch_fails() -> None:
    reference = np.ones((2, 3))
    nan = reference.copy()
    nan[0, 0] = np.nan
    assert not compare_embeddings(reference, nan, ["a", "b"], min_cosine=0.9).passed
    assert not compare_embeddings(reference, np.ones((2, 4)), ["a", "b"], min_cosine=0.9).passed
