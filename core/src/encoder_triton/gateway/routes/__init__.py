"""The gateway's APIs, one module per family; `app.py` assembles them.

    openai             POST /v1/embeddings (texts or token ids), GET /v1/models
    cohere             POST /rerank, /v1/rerank (Cohere v1 / Jina), POST /v2/rerank (Cohere v2)
    llamacpp           POST /embedding, /embeddings, /reranking, /v1/reranking (llama.cpp server)
    tei                POST /tokenize (text-embeddings-inference)
    classifier_server  POST /predict, GET /models, GET /health (the classifier servers we replace)
    native             POST /classify, GET /metrics
    probes             GET /livez, GET /readyz (the gateway's own liveness and readiness)

Each module has a `router` (FastAPI `APIRouter`) and the `error_shape` its API's clients parse.
"""
