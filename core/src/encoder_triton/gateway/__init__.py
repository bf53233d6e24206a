"""Familiar HTTP APIs in front of Triton: OpenAI embeddings, Cohere/Jina rerank, classify.

Example:
    $ encoder-triton gateway --triton 127.0.0.1:8001 --port 8080
    $ curl -s localhost:8080/v1/embeddings -d '{"model": "minilm", "input": "hello"}' \\
        -H 'content-type: application/json'
"""
