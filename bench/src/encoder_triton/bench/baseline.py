"""The in-process baseline: the exported model run by ONNX Runtime with no serving at all.

It loads the very files Triton serves (`<model>_tokenizer/1/tokenizer.json`,
`<model>_encoder/1/model.onnx`) with the same runtime classes the python-backend steps use
(`TextTokenizer`, `OnnxEncoder`, same max_length, pad id and token budget, read from the
config.pbtxt files), tokenises and encodes the benchmark's texts in a loop at several batch
sizes, and keeps the best. Tokenisation is included because the served path includes it.
`served texts/s / baseline texts/s` is the serving efficiency every report states.

Run it while no server is busy: on a small machine they would share the cores.

Example:
    >>> result = run_baseline(Path("model_repository"), "minilm", texts, batch_sizes=(8, 32))  # doctest: +SKIP
    >>> result.best_batch_size, round(result.texts_per_s)  # doctest: +SKIP
    (32, 140)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_triton import contract
from encoder_triton.contract.params import DEFAULT_BATCHING, DEFAULT_ENCODER_FILE, EncoderParams

DEFAULT_BATCH_SIZES = (1, 8, 16, 32, 64)


@dataclass(frozen=True)
class BaselinePoint:
    batch_size: int
    texts_per_s: float  # median over repeats
    tokenize_share: float  # fraction of the time spent tokenising
    real_token_share: float  # real tokens / padded tokens the model computed
    repeats: tuple[float, ...]
    spinning: bool = True  # ORT's intra-op threads busy-wait

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "spinning": self.spinning,
            "texts_per_s": round(self.texts_per_s, 2),
            "tokenize_share": round(self.tokenize_share, 4),
            "real_token_share": round(self.real_token_share, 4),
            "repeats_texts_per_s": [round(r, 2) for r in self.repeats],
        }


@dataclass(frozen=True)
class BaselineResult:
    points: tuple[BaselinePoint, ...]
    intra_op_threads: int
    max_batch_tokens: int
    batching: str = DEFAULT_BATCHING.value

    @property
    def best(self) -> BaselinePoint:
        return max(self.points, key=lambda p: p.texts_per_s)

    @property
    def best_batch_size(self) -> int:
        return self.best.batch_size

    @property
    def best_spinning(self) -> bool:
        return self.best.spinning

    @property
    def texts_per_s(self) -> float:
        return self.best.texts_per_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "in-process ONNX Runtime (the Triton steps' tokenizer and OnnxEncoder)",
            "best_batch_size": self.best_batch_size,
            "best_spinning": self.best_spinning,
            "texts_per_s": round(self.texts_per_s, 2),
            "intra_op_threads": self.intra_op_threads,
            "max_batch_tokens": self.max_batch_tokens,
            "batching": self.batching,
            "by_batch_size": [p.to_dict() for p in self.points],
        }


@dataclass(frozen=True)
class InProcessModel:
    """The tokenizer and encoder of an exported ensemble, loaded in this process."""

    tokenizer: Any  # TextTokenizer
    encoder: Any  # OnnxEncoder
    max_batch_size: int
    intra_op_threads: int
    encoder_spinning: bool = True

    @classmethod
    def load(
        cls,
        repo: Path,
        model: str,
        *,
        intra_op_threads: int = 0,
        allow_spinning: bool = True,
        batching: str | None = None,
    ) -> InProcessModel:
        """Load `model` from `repo` as Triton would; `intra_op_threads=0` lets ORT use every core.

        `batching` (token_budget or pad_to_longest) overrides the exported encoder's.
        """
        from encoder_triton.export.repository import read_model
        from encoder_triton.runtime.encoder import OnnxEncoder
        from encoder_triton.runtime.tokenization import TextTokenizer

        exported = read_model(repo, model)
        tokenizer_params = exported.tokenizer_params
        # A native encoder has no parameters of ours: its file, with the runtime's defaults.
        encoder_params = exported.encoder_params or EncoderParams(
            max_length=tokenizer_params.max_length,
            encoder_file=exported.encoder.default_model_filename or DEFAULT_ENCODER_FILE,
        )
        tokenizer = TextTokenizer.from_file(
            exported.version_dir(exported.tokenizer) / tokenizer_params.tokenizer_file,
            max_length=tokenizer_params.max_length,
            pad_id=tokenizer_params.pad_id,
            with_token_type_ids=contract.TOKEN_TYPE_IDS in [o.name for o in exported.tokenizer.outputs],
        )
        encoder = OnnxEncoder(
            exported.version_dir(exported.encoder) / encoder_params.encoder_file,
            intra_op_threads=intra_op_threads,
            max_batch_tokens=encoder_params.max_batch_tokens,
            allow_spinning=allow_spinning,
            batching=contract.Batching(batching) if batching else encoder_params.batching,
        )
        return cls(tokenizer, encoder, exported.encoder.max_batch_size, intra_op_threads, allow_spinning)

    def embed(self, texts: Sequence[str]) -> Any:
        return self.encoder.encode(self.tokenizer.encode(list(texts)))


def run_baseline(
    repo: Path,
    model: str,
    texts: Sequence[str],
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    window_s: float = 3.0,
    repeats: int = 3,
    intra_op_threads: int = 0,
    batching: str | None = None,
    on_tick: Callable[[float], None] | None = None,
) -> BaselineResult:
    """Best in-process texts/s over `batch_sizes` (each: one warm-up batch, then timed windows).

    Batch sizes above the served model's max_batch_size are skipped: the server could not
    run them either. The best size is measured again with ORT's thread spinning off: on a
    quiet machine spinning is faster, on a busy one it can halve throughput, and the
    baseline is the best the hardware does, so it takes whichever wins.
    `batching` overrides the exported encoder's (pad_to_longest: the naive in-process loop).
    `on_tick(seconds)` reports the time spent after each batch.
    """
    loaded = InProcessModel.load(repo, model, intra_op_threads=intra_op_threads, batching=batching)
    sizes = [b for b in batch_sizes if 1 <= b <= loaded.max_batch_size] or [loaded.max_batch_size]
    points = [_measure(loaded, texts, b, window_s, repeats, on_tick) for b in sizes]
    best = max(points, key=lambda p: p.texts_per_s).batch_size
    quiet = InProcessModel.load(repo, model, intra_op_threads=intra_op_threads, allow_spinning=False, batching=batching)
    points.append(_measure(quiet, texts, best, window_s, repeats, on_tick))
    encoder = loaded.encoder
    return BaselineResult(tuple(points), intra_op_threads, encoder.max_batch_tokens, encoder.batching.value)


def _measure(
    loaded: InProcessModel,
    texts: Sequence[str],
    batch_size: int,
    window_s: float,
    repeats: int,
    on_tick: Callable[[float], None] | None,
) -> BaselinePoint:
    loaded.embed(_batch(texts, 0, batch_size))  # warm-up: ORT allocates per shape
    rates, tokenize_s, total_s, real, padded = [], 0.0, 0.0, 0, 0
    cursor = 0
    for _ in range(repeats):
        done, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < window_s or done == 0:
            batch = _batch(texts, cursor, batch_size)
            cursor += batch_size
            t0 = time.perf_counter()
            tokens = loaded.tokenizer.encode(batch)
            t1 = time.perf_counter()
            loaded.encoder.encode(tokens)
            t2 = time.perf_counter()
            tokenize_s += t1 - t0
            total_s += t2 - t0
            real += int(tokens.attention_mask.sum())
            padded += _padded_tokens(tokens, loaded.encoder)
            done += len(batch)
            if on_tick is not None:
                on_tick(t2 - t0)
        rates.append(done / elapsed)
    return BaselinePoint(
        batch_size=batch_size,
        texts_per_s=statistics.median(rates),
        tokenize_share=tokenize_s / total_s if total_s else 0.0,
        real_token_share=real / padded if padded else 1.0,
        repeats=tuple(rates),
        spinning=loaded.encoder_spinning,
    )


def _batch(texts: Sequence[str], cursor: int, size: int) -> list[str]:
    return [texts[(cursor + i) % len(texts)] for i in range(size)]


def _padded_tokens(tokens: Any, encoder: Any) -> int:
    """Tokens the encoder computes for `tokens`, padding included (per sub-batch it runs)."""
    from encoder_triton.runtime.batching import plan_rows

    lengths = tokens.lengths
    return sum(
        len(rows) * int(lengths[rows].max()) for rows in plan_rows(lengths, encoder.max_batch_tokens, encoder.batching)
    )
