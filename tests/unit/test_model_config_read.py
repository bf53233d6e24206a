"""config.pbtxt and Triton's JSON config read back into the dataclasses that render them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format

from encoder_triton.contract.model_config import (
    DynamicBatching,
    InstanceGroup,
    ModelConfig,
    Tensor,
    parse,
    parse_file,
    render,
)

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_FILES = sorted(GOLDEN.glob("*.pbtxt"))


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.stem)
def test_render_of_parse_gives_the_file_back(golden: Path) -> None:
    text = golden.read_text()
    assert render(ModelConfig.from_proto(parse(text), strict=True)) == text
    assert render(parse_file(golden, strict=True)) == text


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.stem)
def test_tritons_json_with_every_default_spelled_out_reads_the_same(golden: Path) -> None:
    # What the python backend's `initialize` and the config API give: proto JSON with int64
    # values as strings and default values written out.
    message = parse(golden.read_text())
    as_json = json.loads(
        json_format.MessageToJson(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    )
    assert ModelConfig.from_dict(as_json) == ModelConfig.from_proto(message)


def test_the_dataclasses_read_back_what_they_wrote() -> None:
    config = ModelConfig(
        name="m",
        max_batch_size=8,
        backend="python",
        inputs=(Tensor("ids", "INT64", (-1,), allow_ragged_batch=True),),
        outputs=(Tensor("TEXT", "BYTES", (1,)),),
        dynamic_batching=DynamicBatching(300, (4,), max_queue_size=9, queue_timeout_microseconds=7),
        instance_groups=(InstanceGroup(2, "KIND_GPU", (("gpu", 1),)),),
        parameters={"a": "1"},
        response_cache=True,
    )
    assert ModelConfig.from_proto(parse(render(config)), strict=True) == config
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_strict_reading_refuses_what_a_rewrite_would_lose_and_lenient_reading_skips_it() -> None:
    text = 'name: "m"\nversion_policy { latest { num_versions: 2 } }\n'
    text += 'input { name: "x" data_type: TYPE_FP32 dims: 1 }\n'
    with pytest.raises(ValueError, match="does not model in version_policy"):
        ModelConfig.from_proto(parse(text), strict=True)
    assert ModelConfig.from_proto(parse(text)).inputs == (Tensor("x", "FP32", (1,)),)
