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
TEXT = "TEXT"  # BYTES [1] per row: UTF-8 text (the document, for rerank)
QUERY = "QUERY"  # BYTES [1] per row: rerank only, the query paired with the TEXT of the same row
EMBEDDING = "EMBEDDING"  # FP32 [dim] per row: embed
LOGITS = "LOGITS"  # FP32 [num_labels] per row: classify, raw head outputs
PROBABILITIES = "PROBABILITIES"  # FP32 [num_labels] per row: classify, softmax or sigmoid of LOGITS
SCORE = "SCORE"  # FP32 [1] per row: rerank, sigmoid(RAW_SCORE) in [0, 1]
RAW_SCORE = "RAW_SCORE"  # FP32 [1] per row: rerank, the cross-encoder's logit
# INT64 [1] per row: tokens the model saw (after truncation, special tokens included), from the
# tokenizer step straight to the ensemble's outputs, so clients can report usage.
TOKEN_COUNT = "TOKEN_COUNT"

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
    CLASSIFY = "classify"
    RERANK = "rerank"


#: The ensemble's inputs and outputs per task, in the order they appear in config.pbtxt.
TASK_INPUTS: dict[Task, tuple[str, ...]] = {
    Task.EMBED: (TEXT,),
    Task.CLASSIFY: (TEXT,),
    Task.RERANK: (QUERY, TEXT),
}
TASK_OUTPUTS: dict[Task, tuple[str, ...]] = {
    Task.EMBED: (EMBEDDING,),
    Task.CLASSIFY: (LOGITS, PROBABILITIES),
    Task.RERANK: (SCORE, RAW_SCORE),
}


class Activation(str, enum.Enum):
    """How a classifier's PROBABILITIES come from its LOGITS."""

    SOFTMAX = "softmax"  # single-label: one class per text, probabilities sum to 1
    SIGMOID = "sigmoid"  # multi-label (or one label): each label scored on its own


class Precision(str, enum.Enum):
    """Numeric precision of the served encoder (written into its config; see `Param.PRECISION`)."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


class Runner(str, enum.Enum):
    """What runs the encoder graph inside the python backend (`Param.RUNNER`)."""

    ONNXRUNTIME = "onnxruntime"  # model.onnx through an ONNX Runtime session
    TENSORRT = "tensorrt"  # model.plan through the TensorRT runtime


class Batching(str, enum.Enum):
    """How the encoder step runs the rows of one dynamic batch (`Param.BATCHING`).

    token_budget    sort by length, cut into sub-batches that minimise padding plus a per-call
                    cost under `max_batch_tokens` (see runtime/batching.py); the default
    pad_to_longest  one forward over every row, padded to the longest (what Triton's dynamic
                    batcher alone does; kept for comparison and for engines with one shape)
    """

    TOKEN_BUDGET = "token_budget"
    PAD_TO_LONGEST = "pad_to_longest"


class Param:
    """Keys of the `parameters` the exporter writes into config.pbtxt.

    The ensemble's parameters describe the public model to clients (read through the model
    config API); the component parameters configure the runtime inside Triton.
    """

    TASK = "encoder_triton.task"
    DIMENSION = "encoder_triton.dimension"  # width of each output row (embedding dim, num_labels, 1)
    NORMALIZED = "encoder_triton.normalized"  # embed: "true" when EMBEDDING rows have unit length
    LABELS = "encoder_triton.labels"  # classify: JSON list of label names, index = LOGITS column
    ACTIVATION = "encoder_triton.activation"  # classify: an `Activation` value
    MAX_LENGTH = "encoder_triton.max_length"
    TRUNCATION = "encoder_triton.truncation"
    MAX_CHARS = "encoder_triton.max_chars"
    SOURCE_MODEL = "encoder_triton.source_model"
    # component models
    PAD_ID = "pad_id"
    TOKENIZER_FILE = "tokenizer_file"
    ENCODER_FILE = "encoder_file"
    MAX_BATCH_TOKENS = "max_batch_tokens"
    BATCHING = "batching"  # encoder: a `Batching` value
    INTRA_OP_THREADS = "intra_op_threads"
    INTRA_OP_SPINNING = "intra_op_spinning"  # "true" lets ORT's threads busy-wait
    # precision and engines (issue 10)
    PRECISION = "encoder_triton.precision"  # ensemble and encoder: a `Precision` value
    RUNNER = "runner"  # encoder: a `Runner` value (python backend)
    EXECUTION_PROVIDERS = "execution_providers"  # encoder: ORT providers for GPU instances, "tensorrt,cuda"
    CUDA_ATTENTION_KERNELS = "cuda_attention_kernels"  # encoder: CUDA EP `sdpa_kernel` mask; "auto": ORT picks
    LENGTH_BUCKETS = "length_buckets"  # tokenizer: pad each batch up to one of these lengths, "16,32,64"


class RequestParam:
    """Keys of the per-request parameters the tokenizer step reads (Triton forwards an
    ensemble's request parameters to each of its steps). Values are integers.

    MAX_LENGTH       truncate this request's texts (or pairs) at this many tokens, at most
                     the exported `max_length`
    MAX_TEXT_TOKENS  rerank: cut each document after this many tokens before pairing it
    """

    MAX_LENGTH = "max_length"
    MAX_TEXT_TOKENS = "max_text_tokens"


def component_names(name: str) -> tuple[str, str]:
    """Names of the tokenizer and encoder models behind the ensemble `name`."""
    return name + TOKENIZER_SUFFIX, name + ENCODER_SUFFIX
