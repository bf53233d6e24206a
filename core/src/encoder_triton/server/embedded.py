"""A real Triton server from the `nvidia-pytriton` wheel, run as a child process.

The wheel ships `tritonserver` (2.51), the python backend, one backend stub per Python version
and their shared libraries. `EmbeddedTriton` assembles a backend directory with the stub for the
running interpreter, sets the environment the stub needs (see DESIGN.md: the stub embeds
CPython in isolated mode, takes its site-packages from the first `python3` on PATH and loads
`libpython3.X.so` by name), launches the server bound to loopback, waits for readiness with a
timeout, and on stop leaves no stub process or /dev/shm region behind.

Example:
    >>> with EmbeddedTriton("model_repository") as triton:  # doctest: +SKIP
    ...     print(triton.endpoints.grpc)
    127.0.0.1:41235
"""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from encoder_triton import contract
from encoder_triton.errors import EmbeddedTritonError
from encoder_triton.extras import require_extra

#: Triton APIs that can change or inspect the server beyond inference; kept behind a key.
RESTRICTED_APIS = "model-repository,shared-memory,trace,logging"
ADMIN_HEADER = "admin-key"
#: Seconds to wait for every model to load before giving up with their states.
STARTUP_TIMEOUT_S = 180.0
#: Bytes of the local response cache that models exported with `--cache` use.
CACHE_SIZE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Endpoints:
    host: str
    http_port: int
    grpc_port: int
    metrics_port: int

    @property
    def http(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"


@dataclass(frozen=True)
class TritonInstall:
    """Where the pieces of the wheel's Triton live."""

    server: Path
    python_backend: Path
    stub: Path
    libs: Path
    caches: Path

    @classmethod
    def find(cls) -> TritonInstall:
        require_extra("serve", needed_by="the embedded Triton")
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddedTritonError(f"pytriton at {spec and spec.origin} is not the nvidia-pytriton package")
        package = Path(next(iter(spec.submodule_search_locations)))
        root = package / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.is_file():
            # A stub of the wrong Python version hangs forever while loading: refuse early.
            raise EmbeddedTritonError(f"nvidia-pytriton ships no python-backend stub for Python {version}")
        return cls(
            server=root / "bin" / "tritonserver",
            python_backend=root / "backends" / "python",
            stub=stub,
            libs=package.parent / "nvidia_pytriton.libs",
            caches=root / "caches",
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just reported free on `host` (bind to 0, read, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedTriton:
    """Start, watch and stop one `tritonserver` serving `repo`. Ports default to free ones."""

    def __init__(
        self,
        repo: str | Path,
        *,
        host: str = "127.0.0.1",
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        exit_timeout_s: int = 10,
        log: TextIO | None = None,
        extra_args: Sequence[str] = (),
        admin_key: str | None = None,
        cache_size_bytes: int = CACHE_SIZE_BYTES,
        rate_limit: bool = False,
        models: Sequence[str] = (),
    ) -> None:
        self.repo = Path(repo).resolve()
        self.host = host
        self._ports = (http_port, grpc_port, metrics_port)
        self.startup_timeout_s = startup_timeout_s
        self.exit_timeout_s = exit_timeout_s
        self._log = log
        self.extra_args = list(extra_args)
        # Repository, shared-memory, trace and logging APIs answer only requests carrying this
        # key in the `admin-key` header; by default a random one only this object knows.
        self.admin_key = admin_key or secrets.token_hex(16)
        # The cache only serves models whose config enables it (`export --cache`); Triton also
        # needs --cache-directory or it silently ignores `response_cache` (DESIGN.md).
        self.cache_size_bytes = cache_size_bytes
        self.rate_limit = rate_limit
        # Only these ensembles and their steps load (Triton's explicit model control); the
        # repository API that could load others stays behind the admin key.
        self.models = tuple(models)
        self._lines: collections.deque[str] = collections.deque(maxlen=2000)
        self._process: subprocess.Popen[str] | None = None
        self._workdir: Path | None = None
        self._shm_prefix = f"et{os.getpid()}x{uuid.uuid4().hex[:8]}"
        self.endpoints: Endpoints | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> EmbeddedTriton:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Endpoints:
        """Launch and wait until ready; raises EmbeddedTritonError with Triton's reason."""
        if not self.repo.is_dir():
            raise EmbeddedTritonError(f"model repository {self.repo} does not exist: run `encoder-triton export` first")
        install = TritonInstall.find()
        self.models_to_load()  # unknown names fail before anything starts
        self._workdir = Path(tempfile.mkdtemp(prefix="encoder-triton-server-"))
        backend_dir = self._assemble_backends(install, self._workdir)
        auto_ports = all(p is None for p in self._ports)
        attempts = 3 if auto_ports else 1
        for attempt in range(attempts):
            ports = [p or free_port(self.host) for p in self._ports]
            self.endpoints = Endpoints(self.host, *ports)
            self._launch(install, backend_dir, self.endpoints)
            try:
                self._wait_ready()
                return self.endpoints
            except EmbeddedTritonError as exc:
                self._terminate()
                port_taken = "address already in use" in self.log_tail().lower()
                if attempt + 1 < attempts and port_taken:
                    continue  # another process took a port between our check and the bind
                self._cleanup()
                raise exc from None
        raise AssertionError("unreachable")

    def stop(self) -> int | None:
        """Stop the server gracefully (SIGTERM, then SIGKILL), reap stubs, free /dev/shm."""
        code = self._terminate()
        self._cleanup()
        return code

    def wait(self) -> int:
        """Block until the server exits by itself; returns its exit code."""
        assert self._process is not None, "start() first"
        return self._process.wait()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(list(self._lines)[-lines:])

    # -- internals -----------------------------------------------------------------------
    def _assemble_backends(self, install: TritonInstall, workdir: Path) -> Path:
        backends = workdir / "backends"
        python = backends / "python"
        python.mkdir(parents=True)
        for item in install.python_backend.iterdir():
            if item.is_file():
                shutil.copy2(item, python / item.name)
        shutil.copy2(install.stub, python / install.stub.name)
        return backends

    def _environment(self, install: TritonInstall) -> dict[str, str]:
        env = dict(os.environ)
        # The stub takes its site-packages from the first python3 on PATH: ours.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        # The stub ignores PYTHONPATH (measured); the generated model.py reads this instead.
        env.setdefault("ENCODER_TRITON_PYTHONPATH", env.get("PYTHONPATH", ""))
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in [libdir, str(install.libs), env.get("LD_LIBRARY_PATH", "")] if p
        )
        return env

    def _launch(self, install: TritonInstall, backend_dir: Path, endpoints: Endpoints) -> None:
        command = [
            str(install.server),
            f"--model-repository={self.repo}",
            f"--backend-directory={backend_dir}",
            f"--http-address={endpoints.host}",
            f"--http-port={endpoints.http_port}",
            f"--grpc-address={endpoints.host}",
            f"--grpc-port={endpoints.grpc_port}",
            f"--metrics-address={endpoints.host}",
            f"--metrics-port={endpoints.metrics_port}",
            "--disable-auto-complete-config",
            f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            f"--cache-directory={install.caches}",
            f"--cache-config=local,size={self.cache_size_bytes}",
            f"--rate-limit={'execution_count' if self.rate_limit else 'off'}",
            *self._model_control(),
            f"--http-restricted-api={RESTRICTED_APIS}:{ADMIN_HEADER}={self.admin_key}",
            f"--grpc-restricted-protocol={RESTRICTED_APIS}:{ADMIN_HEADER}={self.admin_key}",
            *self.extra_args,
        ]
        self._lines.clear()
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=self._environment(install),
            # Own process group: Ctrl-C reaches us once and we forward it; stop() reaps stubs.
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(self._process,), daemon=True).start()

    def _model_control(self) -> list[str]:
        """Load everything (`none`), or only the named ensembles and their steps (`explicit`)."""
        if not self.models:
            return ["--model-control-mode=none"]
        return ["--model-control-mode=explicit", *(f"--load-model={name}" for name in self.models_to_load())]

    def models_to_load(self) -> list[str]:
        """The named ensembles and their tokenizer and encoder steps, as the repository holds them."""
        present = sorted(p.parent.name for p in self.repo.glob("*/config.pbtxt"))
        missing = [name for name in self.models if name not in present]
        if missing:
            raise EmbeddedTritonError(f"models {missing} are not in {self.repo}; it holds: {', '.join(present)}")
        wanted = [part for name in self.models for part in (name, *contract.component_names(name))]
        return [name for name in dict.fromkeys(wanted) if name in present]

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._lines.append(line.rstrip("\n"))
            if self._log is not None:
                with contextlib.suppress(ValueError, OSError):
                    self._log.write(line)
                    self._log.flush()

    def _wait_ready(self) -> None:
        assert self._process is not None and self.endpoints is not None
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"http://{self.endpoints.http}/v2/health/ready"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                time.sleep(0.2)  # let the pump read the last lines
                raise EmbeddedTritonError(
                    self._failure_message(f"tritonserver exited with code {self._process.returncode}")
                )
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.25)
        raise EmbeddedTritonError(
            self._failure_message(f"tritonserver was not ready after {self.startup_timeout_s:.0f} s")
        )

    def _failure_message(self, headline: str) -> str:
        reasons = failure_reasons(list(self._lines))
        body = "\n".join(f"  {r}" for r in reasons) if reasons else self.log_tail(30)
        return f"{headline} while loading {self.repo}:\n{body}"

    def _terminate(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.exit_timeout_s + 5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Stubs live in the server's process group; none may outlive it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.returncode

    def _cleanup(self) -> None:
        for region in Path("/dev/shm").glob(self._shm_prefix + "*"):
            with contextlib.suppress(OSError):
                region.unlink()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def model_states(self) -> dict[str, dict[str, str]]:
        """Triton's repository index: {model: {"state": ..., "reason": ...}}."""
        assert self.endpoints is not None
        request = urllib.request.Request(
            f"http://{self.endpoints.http}/v2/repository/index",
            data=b"{}",
            method="POST",
            headers={ADMIN_HEADER: self.admin_key},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            index = json.loads(response.read())
        return {m["name"]: {"state": m.get("state", ""), "reason": m.get("reason", "")} for m in index}


_TABLE_ROW = re.compile(
    r"^\|\s*(?P<model>[^|]+?)\s*\|\s*(?P<version>[^|]*?)\s*\|\s*(?P<status>UNAVAILABLE:[^|]*?)\s*\|$"
)
_ERROR_LINE = re.compile(r"^E\d{4} [\d:.]+ +\d+ (?P<where>[\w.]+:\d+)\] (?P<message>.*)$")


def failure_reasons(lines: Sequence[str]) -> list[str]:
    """Triton's reasons for a failed start: the UNAVAILABLE rows of its model table, else its error lines."""
    rows = [f"{m['model']}: {m['status']}" for m in (_TABLE_ROW.match(line) for line in lines) if m]
    if rows:
        return rows
    return [m["message"] for m in (_ERROR_LINE.match(line) for line in lines) if m]
