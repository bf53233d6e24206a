"""The ONNX graph: the torch export and the heads (pooling, classifier, reranker) folded into it."""
