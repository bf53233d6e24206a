"""Every Python snippet in the README runs, against real servers (a documented example that
does not run is a bug)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.triton

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(
    index: int, minilm_server: Any, start_gateway: Any, capsys: pytest.CaptureFixture[str], request: Any
) -> None:
    code = SNIPPETS[index]
    # Classifier and reranker snippets run against the BBC News classifier and the MiniLM
    # reranker (session fixtures shared with test_minilm_tasks_serving).
    tasks = any(f'model="{name}"' in code for name in ("bbc_news", "reranker"))
    server = request.getfixturevalue("minilm_tasks_server") if tasks else minilm_server
    code = code.replace("127.0.0.1:8001", server.endpoints.grpc)
    code = code.replace("127.0.0.1:8000", server.endpoints.http)
    if "127.0.0.1:8080" in code:
        gateway = start_gateway(triton_url=minilm_server.endpoints.grpc)
        code = code.replace("127.0.0.1:8080", f"127.0.0.1:{gateway.port}")
    exec(compile(code, f"README[{index}]", "exec"), {})
    assert "Traceback" not in capsys.readouterr().err
