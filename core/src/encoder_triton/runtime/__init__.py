"""What runs inside Triton's python backend (and in-process): texts, tokens, ONNX Runtime.

Heavy imports (tokenizers, onnxruntime) happen in the modules that need them, so importing
this package is cheap.

Example:
    >>> from encoder_triton.runtime.texts import decode_texts
    >>> decode_texts([b"hello"])
    ['hello']
"""
