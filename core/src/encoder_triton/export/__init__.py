"""Turn a Hugging Face encoder into a Triton model repository.

Example:
    >>> from encoder_triton.export.pipeline import export_model  # doctest: +SKIP
    >>> export_model("sentence-transformers/all-MiniLM-L6-v2", repo="model_repository")  # doctest: +SKIP
"""
