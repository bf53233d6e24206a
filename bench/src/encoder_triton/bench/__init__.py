"""Load generation and benchmark reports for encoder-triton deployments.

Example:
    $ encoder-triton-bench concurrency --model minilm --concurrency 8 --duration 20
"""
