"""The Triton model repository: serving options, configs, the writer and the reader.

    options.py   ServingOptions: the serving knobs an export takes
    configs.py   EncoderSpec, WarmupSample, repository_configs: the three configs as data
    native.py    the encoder on Triton's own onnxruntime / tensorrt_plan backends
    writer.py    write_repository: model folders, model.py adapters, warmup files
    reader.py    read_model, list_ensembles: an exported repository read back

Example:
    >>> from encoder_triton.export.repository import ServingOptions, repository_configs
    >>> ServingOptions().max_batch_size
    64
"""

from encoder_triton.export.repository.configs import EncoderSpec, WarmupSample, repository_configs
from encoder_triton.export.repository.options import ServingOptions
from encoder_triton.export.repository.reader import EnsembleInfo, ExportedModel, list_ensembles, read_model
from encoder_triton.export.repository.writer import write_repository

__all__ = [
    "EncoderSpec",
    "EnsembleInfo",
    "ExportedModel",
    "ServingOptions",
    "WarmupSample",
    "list_ensembles",
    "read_model",
    "repository_configs",
    "write_repository",
]
