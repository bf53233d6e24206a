# The encoder-triton HTTP gateway: OpenAI / Cohere / Jina / llama.cpp / TEI / classifier-server
# APIs in front of one or several Tritons, failing over between them. Small: Python, the
# client, the gateway extra and the runtime's tokenizers (for /tokenize and token ids); no
# Triton, no torch. Configure it with ENCODER_TRITON_* variables, e.g.
#   ENCODER_TRITON_TRITON_URL=triton-a:8001,triton-b:8001  ENCODER_TRITON_API_KEYS=...
# Probes: GET /livez (the process), GET /readyz (ready while an upstream Triton is).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

COPY client /opt/encoder-triton/client
COPY core /opt/encoder-triton/core
RUN python3 -m pip install --no-cache-dir /opt/encoder-triton/client "/opt/encoder-triton/core[gateway]" \
 && useradd --system --uid 1000 --no-create-home --shell /usr/sbin/nologin gateway

USER 1000
# Bind every interface inside the container; the published port decides who can reach it.
ENV ENCODER_TRITON_HOST=0.0.0.0 \
    ENCODER_TRITON_PORT=8080 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=2).status != 200)"]
ENTRYPOINT ["encoder-triton", "gateway"]
