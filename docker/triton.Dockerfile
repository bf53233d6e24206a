# NVIDIA's Triton container plus the encoder-triton runtime that the python-backend models
# import (numpy, tokenizers, onnxruntime). Torch and the exporter are not needed to serve.
# 24.10 is Triton 2.51, the same server the embedded (pip) path runs.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}

# onnxruntime-gpu for GPU instances; pass --build-arg ORT_PACKAGE=onnxruntime for CPU-only hosts.
ARG ORT_PACKAGE=onnxruntime-gpu

COPY client /opt/encoder-triton/client
COPY core /opt/encoder-triton/core
RUN python3 -m pip install --no-cache-dir /opt/encoder-triton/client /opt/encoder-triton/core \
 && if [ "${ORT_PACKAGE}" != "onnxruntime" ]; then \
      python3 -m pip uninstall -y onnxruntime && python3 -m pip install --no-cache-dir "${ORT_PACKAGE}"; \
    fi

EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models", "--model-control-mode=none", "--disable-auto-complete-config"]
