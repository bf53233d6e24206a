"""Users' own validation and calibration texts: plain lines or JSON lines with labels or queries."""

import json
from pathlib import Path

import numpy as np
import pytest

from encoder_triton.contract import Task
from encoder_triton.export.pipeline import _validation_rows
from encoder_triton.export.precision.build import BuildOptions
from encoder_triton.export.precision.calibration import load_calibration_texts
from encoder_triton.export.user_texts import UserTexts, label_accuracy, parse_texts, read_texts


def test_plain_lines_are_texts_and_json_lines_carry_labels(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(f"review {i}" for i in range(8)) + "\n\n{not json\n", encoding="utf-8")
    texts = read_texts(plain)
    assert texts.texts[-1] == "{not json" and texts.labels is None and texts.source == str(plain)
    jsonl = tmp_path / "held_out.jsonl"
    rows = [{"text": f"review {i}", "label": "pos" if i % 2 else "neg"} for i in range(8)]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    labelled = read_texts(jsonl)
    assert labelled.texts == tuple(r["text"] for r in rows)
    assert labelled.labels == tuple(r["label"] for r in rows) and labelled.queries is None
    assert load_calibration_texts(jsonl) == labelled.texts  # calibration takes the texts alone


def test_half_labelled_files_and_short_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="label every text or none"):
        parse_texts(['{"text": "a", "label": "x"}', '{"text": "b"}'])
    short = tmp_path / "short.txt"
    short.write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(ValueError, match="validation needs at least 8"):
        read_texts(short)
    with pytest.raises(ValueError, match="JSON lines"):
        read_texts(tmp_path / "missing.jsonl")


def test_gold_labels_by_name_or_index() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert label_accuracy(probabilities, ["neg", "pos", "pos"], ["neg", "pos"]) == pytest.approx(2 / 3)
    assert label_accuracy(probabilities, ["0", "1", "0"], ["neg", "pos"]) == 1.0
    assert label_accuracy(probabilities, ["sport", "pos", "neg"], ["neg", "pos"]) is None


def test_validation_rows_fall_back_to_the_built_in_texts_and_pair_for_rerankers() -> None:
    from encoder_triton.export.fidelity.texts import REFERENCE_TEXTS, reference_pairs

    assert _validation_rows(BuildOptions(), Task.EMBED).texts == REFERENCE_TEXTS
    pairs = _validation_rows(BuildOptions(), Task.RERANK)
    assert [list(pairs.queries or ()), list(pairs.texts)] == list(reference_pairs())
    own = UserTexts(tuple(f"text {i}" for i in range(9)), labels=tuple("ab" * 4 + "a"), source="f.jsonl")
    assert _validation_rows(BuildOptions(validation_texts=own), Task.CLASSIFY) is own
    ranked = _validation_rows(BuildOptions(validation_texts=own), Task.RERANK)
    assert ranked.queries == ("text 0", "text 2", "text 4", "text 6") and ranked.texts[0] == "text 1"
