"""From the validated fp32 graph to what Triton serves: fusions, int8, fp16, TensorRT plans."""
