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
# INT64 [1] per row: 1 when the model did not see the whole text (cut at the token limit, or by
# a request's max_text_tokens), else 0; from the tokenizer step straight to the ensemble's outputs.
TRUNCATED = "TRUNCATED"
# bge-m3-style embedders (`EmbeddingOutput`): the sparse lexical weights, as the token ids of
# the text with their weights (INT64 / FP32 [k] per row, padded with -1 / 0 to the request's
# longest), and the multi-vector (ColBERT) form, FP32 [tokens, dim] per row padded with zero
# vectors, with its real number of vectors (INT64 [1] per row).
SPARSE_IDS = "SPARSE_IDS"
SPARSE_WEIGHTS = "SPARSE_WEIGHTS"
COLBERT_VECTORS = "COLBERT_VECTORS"
COLBERT_COUNT = "COLBERT_COUNT"

# Tokenizer -> encoder tensors. They keep Hugging Face's names because the exported ONNX graph
# takes exactly these inputs; the tokenizer emits only those the graph declares.
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
TOKEN_TYPE_IDS = "token_type_ids"
ENCODER_INPUTS = (INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS)
# INT64 [1] per row, tokenizer -> encoder (optional there): how many windows of a long text the
# row holds under the `chunk` policy (1 for a text that fits; see runtime/long_inputs.py).
CHUNKS = "CHUNKS"
# Graph outputs of a bge-m3-style encoder besides EMBEDDING, one value per token: the sparse
# head's weight [batch, seq] and the ColBERT head's normalised vector [batch, seq - 1, dim]
# (CLS dropped). The encoder step turns them into the SPARSE_* and COLBERT_* outputs.
TOKEN_WEIGHTS = "TOKEN_WEIGHTS"
TOKEN_VECTORS = "TOKEN_VECTORS"
#: Graph outputs with a token axis (axis 1 follows the padded sequence length).
TOKEN_OUTPUTS = (TOKEN_WEIGHTS, TOKEN_VECTORS)

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


class LongInputs(str, enum.Enum):
    """What the tokenizer step does with a text over the model's token limit (`Param.LONG_INPUTS`,
    chosen at export; a request may ask for another with `RequestParam.LONG_INPUTS`).

    truncate       keep the first tokens (today's behaviour), reported per row in TRUNCATED
    truncate_left  keep the last tokens: the end of the text
    error          refuse the request: INVALID_ARG naming the limit and the text's length
    chunk          split the text into overlapping windows, run each through the encoder in the
                   same batches, and pool the answers back into one per text
    """

    TRUNCATE = "truncate"
    TRUNCATE_LEFT = "truncate_left"
    ERROR = "error"
    CHUNK = "chunk"


class EmbeddingOutput(str, enum.Enum):
    """What an embed call may ask a bge-m3-style model for (one forward pass answers all three)."""

    DENSE = "dense"  # EMBEDDING: one vector per text
    SPARSE = "sparse"  # SPARSE_IDS, SPARSE_WEIGHTS: lexical weight of each token id of the text
    COLBERT = "colbert"  # COLBERT_VECTORS, COLBERT_COUNT: one vector per token (CLS dropped)


#: The ensemble outputs that carry each `EmbeddingOutput`.
EMBEDDING_OUTPUT_TENSORS: dict[EmbeddingOutput, tuple[str, ...]] = {
    EmbeddingOutput.DENSE: (EMBEDDING,),
    EmbeddingOutput.SPARSE: (SPARSE_IDS, SPARSE_WEIGHTS),
    EmbeddingOutput.COLBERT: (COLBERT_VECTORS, COLBERT_COUNT),
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
    LONG_INPUTS = "encoder_triton.long_inputs"  # tokenizer and ensemble: a `LongInputs` value
    CHUNK_OVERLAP = "encoder_triton.chunk_overlap"  # tokenizer: tokens shared by neighbouring windows
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
    # encoder of a bge-m3-style model: the token ids its sparse output leaves out (CLS, EOS, PAD,
    # UNK: "0,1,2,3"). The encoder also reads NORMALIZED and ACTIVATION, to pool a long text's
    # windows back into one answer (see runtime/long_inputs.py).
    SPECIAL_TOKEN_IDS = "special_token_ids"


class RequestParam:
    """Keys of the per-request parameters the tokenizer step reads (Triton forwards an
    ensemble's request parameters to each of its steps).

    MAX_LENGTH       integer: truncate this request's texts (or pairs) at this many tokens, at
                     most the exported `max_length` (or the window length, under `chunk`)
    MAX_TEXT_TOKENS  integer, rerank: cut each document after this many tokens before pairing
                     it (Cohere's `max_tokens_per_doc`)
    LONG_INPUTS      a `LongInputs` value: this request's policy for texts over the limit
    """

    MAX_LENGTH = "max_length"
    MAX_TEXT_TOKENS = "max_text_tokens"
    LONG_INPUTS = "long_inputs"


def component_names(name: str) -> tuple[str, str]:
    """Names of the tokenizer and encoder models behind the ensemble `name`."""
    return name + TOKENIZER_SUFFIX, name + ENCODER_SUFFIX
