"""The Triton model repository: serving options, configs, the writer and the reader."""

from encoder_triton.export.repository.writer import ServingOptions, list_ensembles

__all__ = ["ServingOptions", "list_ensembles"]
