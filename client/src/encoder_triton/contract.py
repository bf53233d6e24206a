"""The contract between the exporter, the Triton models and the client.

Every tensor name, dtype and model-config parameter key that crosses a process boundary is
defined here and nowhere else, so the exporter, the python-backend models and the client can
never disagree. It imports nothing beyond the standard library: the client, the Triton stubs
and the exporter all load it.

Example:
    >>> from encoder_triton import contract
    >>> contract.component_names("minilm")
    ('minilm_tokenizer', 'minilm_encoder')
    >>> contract.TEXT
    'TEXT'
"""

from __future__ import annotations

import enum

# Ensemble (public model) tensors.
TEXT = "TEXT"  # BYTES [1] per row: UTF-8 text
EMBEDDING = "EMBEDDING"  # FP32 [dim] per row

# Tokenizer -> encoder tensors. They keep Hugging Face's names because the exported ONNX graph
# takes exactly these inputs; the tokenizer emits only those the graph declares.
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
TOKEN_TYPE_IDS = "token_type_ids"
ENCODER_INPUTS = (INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS)

TOKENIZER_SUFFIX = "_tokenizer"
ENCODER_SUFFIX = "_encoder"

# Triton's dtype names, as written in config.pbtxt (TYPE_ prefix dropped) and on the wire.
DTYPE_TEXT = "BYTES"
DTYPE_TOKENS = "INT64"
DTYPE_FLOAT = "FP32"


class Task(str, enum.Enum):
    """What an exported model answers."""

    EMBED = "embed"


class Param:
    """Keys of the `parameters` the exporter writes into config.pbtxt.

    The ensemble's parameters describe the public model to clients (read through the model
    config API); the component parameters configure the runtime inside Triton.
    """

    TASK = "encoder_triton.task"
    DIMENSION = "encoder_triton.dimension"
    MAX_LENGTH = "encoder_triton.max_length"
    TRUNCATION = "encoder_triton.truncation"
    SOURCE_MODEL = "encoder_triton.source_model"
    # component models
    PAD_ID = "pad_id"
    TOKENIZER_FILE = "tokenizer_file"
    ENCODER_FILE = "encoder_file"
    MAX_BATCH_TOKENS = "max_batch_tokens"
    INTRA_OP_THREADS = "intra_op_threads"
    INTRA_OP_SPINNING = "intra_op_spinning"  # "true" lets ORT's threads busy-wait


def component_names(name: str) -> tuple[str, str]:
    """Names of the tokenizer and encoder models behind the ensemble `name`."""
    return name + TOKENIZER_SUFFIX, name + ENCODER_SUFFIX
