"""Every Python snippet in the README runs against real servers and prints what the README says
it prints, and `make demo` prints what the README shows (a documented example that does not run,
or that prints something else, is a bug).

The rule for comparing printed text with the README's:

1. What each `print(...)` in a snippet writes is compared with the `# comment` at the end of its
   line; the output of `make demo` is compared with the block the README shows for it.
2. Text is compared exactly, digits included: the README marks no number as approximate, and
   what it shows is rounded far above the run-to-run noise of the same export on the same
   texts (the demo's cosines to 3 decimals, its vector heads to 4).
3. `...` is elided text only where it ends a line (the rest of that line is left out) or is a
   line of its own (any number of lines are left out). Elsewhere it is text like any other (the
   demo prints `...]` after each vector's head).
4. A comment may add a note after the printed line: `# (2, 384), float32, L2-normalised`
   documents `(2, 384)`. The printed line must then be followed by `, ` in the comment.
5. A comment that describes a value in words instead of showing it (`# the best document first,
   with its index`) must be one of `DESCRIBED`, whose check says what the words mean. Any other
   comment that does not match is a failure, and so is a print without a comment or one that
   never ran.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import shlex
import subprocess
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.triton

ROOT = Path(__file__).resolve().parents[2]
README_TEXT = (ROOT / "README.md").read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", README_TEXT, flags=re.S)


def _rerank_documents(code: str) -> list[str]:
    """The documents a snippet passes to `client.rerank(query, documents, ...)`."""
    call = next(
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "rerank"
    )
    return list(ast.literal_eval(call.args[1]))


#: Comments that describe printed values in words, and what the words mean, as a check of the
#: values `print` was given and the snippet's code.
DESCRIBED: dict[str, Callable[[tuple[Any, ...], str], bool]] = {
    "all five labels, (1, 5)": lambda values, _: len(values) == 2 and len(set(values[0])) == 5 and values[1] == (1, 5),
    "the best document first, with its index": lambda values, code: (
        len(values[0]) == len(values[1]) == 1 and list(values[1]) == [_rerank_documents(code)[values[0][0]]]
    ),
    "sigmoid scores in [0, 1] and the cross-encoder's logits": lambda values, _: (
        bool(np.all((values[0] >= 0) & (values[0] <= 1)))
        and np.allclose(values[0], 1 / (1 + np.exp(-np.asarray(values[1], dtype=np.float64))), atol=1e-6)
    ),
}


def documented_pattern(documented: str) -> re.Pattern[str]:
    """The regex of rule 3: documented text, `...` eliding a line's end or whole lines."""
    parts = []
    for line in documented.split("\n"):
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")  # any number of whole lines
            continue
        elided = line.endswith("...")
        parts.append(re.escape(line[:-3] if elided else line) + (r"[^\n]*" if elided else "") + r"\n")
    return re.compile("".join(parts).removesuffix(r"\n"))


def comment_matches(printed: str, comment: str) -> bool:
    """Rules 3 and 4: the comment, or the comment up to one of its `, `, shows `printed`."""
    ends = [len(comment)] + [m.start() for m in re.finditer(", ", comment)]
    return any(documented_pattern(comment[:end]).fullmatch(printed) for end in ends)


def test_the_comparison_rule() -> None:
    assert comment_matches("(2, 384)", "(2, 384), float32, L2-normalised")
    assert not comment_matches("(2, 385)", "(2, 384), float32, L2-normalised")
    assert not comment_matches("(2, 38", "(2, 384), float32")
    assert comment_matches("in ensemble 'm', text 0 is empty: send more", "in ensemble 'm', text 0 is empty: ...")
    assert not comment_matches("in ensemble 'm', text 1 is empty: send more", "in ensemble 'm', text 0 is empty: ...")
    block = "3 items\n  [+0.0332 ...] |v|=1.0000  'a'\n  ...\nend:\n  0: 1.000"
    assert documented_pattern(block).fullmatch("3 items\n  [+0.0332 ...] |v|=1.0000  'a'\n  x\n  y\nend:\n  0: 1.000")
    assert not documented_pattern(block).fullmatch("3 items\n  [+0.0332 +0.1] |v|=1.0000  'a'\nend:\n  0: 1.000")
    assert not documented_pattern(block).fullmatch("3 items\n  [+0.0332 ...] |v|=1.0000  'a'\nend:\n  0: 1.001")


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 3


def _print_comments(code: str) -> dict[int, str | None]:
    """Line of every `print(...)` call in the snippet -> the comment ending that line (or None)."""
    comments = {
        token.start[0]: token.string.removeprefix("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(code).readline)
        if token.type == tokenize.COMMENT
    }
    return {
        node.end_lineno: comments.get(node.end_lineno)  # type: ignore[misc]
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    }


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs_and_prints_what_it_says(
    index: int, minilm_server: Any, start_gateway: Any, capsys: pytest.CaptureFixture[str], request: Any
) -> None:
    code = SNIPPETS[index]
    # Classifier and reranker snippets run against the BBC News classifier and the MiniLM
    # reranker (session fixtures shared with test_minilm_tasks_serving).
    tasks = any(f'model="{name}"' in code for name in ("bbc_news", "reranker"))
    server = request.getfixturevalue("minilm_tasks_server") if tasks else minilm_server
    code = code.replace("127.0.0.1:8001", server.endpoints.grpc)
    code = code.replace("127.0.0.1:8000", server.endpoints.http)
    if '"model_repository"' in code:  # the in-process fallback reads the repository itself
        repo = request.getfixturevalue("minilm_tasks_repo")["repo"] if tasks else request.getfixturevalue("minilm_repo")
        code = code.replace('"model_repository"', repr(str(repo)))
    if "127.0.0.1:8080" in code:
        gateway = start_gateway(triton_url=minilm_server.endpoints.grpc)
        code = code.replace("127.0.0.1:8080", f"127.0.0.1:{gateway.port}")

    filename = f"README[{index}]"
    printed: list[tuple[int, tuple[Any, ...], str]] = []

    def recording_print(*values: Any, **options: Any) -> None:
        caller = sys._getframe(1)
        if caller.f_code.co_filename == filename:
            text = io.StringIO()
            builtins.print(*values, **{**options, "file": text})
            printed.append((caller.f_lineno, values, text.getvalue().removesuffix("\n")))
        builtins.print(*values, **options)

    exec(compile(code, filename, "exec"), {"print": recording_print})
    assert "Traceback" not in capsys.readouterr().err

    comments = _print_comments(code)
    for line, comment in comments.items():
        assert comment, f"{filename} line {line}: a print without a comment saying what it prints"
        calls = [(values, text) for at, values, text in printed if at == line]
        assert calls, f"{filename} line {line}: the print documented as {comment!r} never ran"
        for values, text in calls:
            if comment in DESCRIBED:
                assert DESCRIBED[comment](values, code), f"{filename} line {line}: {text!r} is not {comment!r}"
            else:
                assert comment_matches(text, comment), f"{filename} line {line}: printed {text!r}, README: {comment!r}"
    assert {at for at, _, _ in printed} <= set(comments)


def _demo_block() -> str:
    """The output block the README shows under "`make demo` prints ..."."""
    after = README_TEXT[README_TEXT.index("`make demo` prints") :]
    return re.search(r"```\n(.*?)\n```", after, flags=re.S).group(1)  # type: ignore[union-attr]


def _demo_texts() -> list[str]:
    """The texts scripts/demo.sh embeds (its `encoder-triton embed` command's arguments)."""
    script = (ROOT / "scripts" / "demo.sh").read_text().replace("\\\n", " ")
    command = shlex.split(next(line for line in script.splitlines() if line.startswith("encoder-triton embed")))
    texts, words = [], iter(command[2:])
    for word in words:
        if word.startswith("--"):
            next(words)  # the option's value
        else:
            texts.append(word)
    return texts


def test_make_demo_prints_what_the_readme_shows(minilm_server: Any) -> None:
    url = minilm_server.endpoints.grpc
    run = subprocess.run(
        [sys.executable, "-m", "encoder_triton.cli", "embed", "--model", "minilm", "--url", url, *_demo_texts()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    documented = _demo_block().replace("127.0.0.1:8001", url)
    assert documented_pattern(documented).fullmatch(run.stdout.rstrip("\n")), (
        f"make demo printed:\n{run.stdout}\nthe README shows:\n{documented}"
    )
