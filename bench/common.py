"""Shared pieces of the performance benchmarks: servers as subprocesses, sender
processes, percentiles, and the table/JSON output.

Every server is a child process bound to 127.0.0.1, so its RSS and CPU are its
own (measured with psutil); every load is bounded in time and count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, LiteralString

import psutil

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
PYTHON = sys.executable
TASKTRACE = str(Path(PYTHON).with_name("tasktrace"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def wait_http(url: str, timeout: float = 90.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until ``url`` answers 200, or raise TimeoutError (RuntimeError
    at once if ``proc``, the server, exits meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


@dataclass
class Server:
    """A running server subprocess with its endpoints."""

    proc: subprocess.Popen[bytes]
    grpc: str
    http: str
    data_dir: Path | None = None
    log_path: Path | None = None
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.proc.pid)

    def rss_mb(self) -> float:
        return float(self.ps.memory_info().rss) / 2**20

    def cpu(self) -> float:
        return cpu_seconds(self.ps)

    def dsn(self) -> str:
        """libpq URI of the embedded Postgres (read from its postmaster.pid)."""
        assert self.data_dir is not None
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        port, socket_dir = lines[3].strip(), lines[4].strip()
        return f"postgresql://postgres:@/postgres?host={socket_dir}&port={port}"

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def tasktrace_server(*overrides: str, data_dir: Path | None = None) -> Iterator[Server]:
    """``tasktrace serve`` with its embedded Postgres in a fresh directory."""
    with tempfile.TemporaryDirectory(prefix="tasktrace-bench-") as tmp:
        root = data_dir or Path(tmp) / "pg"
        grpc, http = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        args = [TASKTRACE, "serve", "--data-dir", str(root), "--grpc-endpoint", grpc]
        args += ["--http-endpoint", http]
        for item in ("service.telemetry.logs.level=warning", *overrides):
            args += ["--set", item]
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        server = Server(proc, grpc, http, root, log_path)
        try:
            try:
                wait_http(f"http://{http}/api/v1/sessions?limit=1", proc=proc)
            except (TimeoutError, RuntimeError):
                sys.stderr.write(log_path.read_text()[-3000:])
                raise
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def baseline_server(parse: str = "utf8") -> Iterator[Server]:
    """The decode-and-discard OTLP server (``bench/baseline_server.py --parse``)."""
    grpc, http = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    script = str(BENCH / "baseline_server.py")
    proc = subprocess.Popen([PYTHON, script, "--grpc", grpc, "--http", http, "--parse", parse])
    server = Server(proc, grpc, http)
    try:
        wait_http(f"http://{http}/stats")
        yield server
    finally:
        server.stop()


def baseline_spans(server: Server) -> int:
    with urllib.request.urlopen(f"http://{server.http}/stats", timeout=5) as response:
        return int(json.loads(response.read())["spans"])


#: the sender script of each kind of load (see :func:`run_senders`)
SENDERS = {"sdk": "sender.py", "replay": "replay_sender.py"}


def add_load_argument(parser: argparse.ArgumentParser) -> None:
    """``--load sdk|replay``: which sender :func:`run_senders` runs."""
    parser.add_argument(
        "--load",
        choices=sorted(SENDERS),
        default="sdk",
        help="sdk: synthetic sessions through the SDK; replay: the real libraries' fixture"
        " conversations, 25 a request, new ids each time (cheap to send)",
    )


def run_senders(
    endpoint: str,
    *,
    protocol: str = "grpc",
    processes: int = 3,
    duration: float = 10.0,
    rate: float = 0.0,
    extra: Sequence[str] = (),
    timeout: float = 300.0,
    load: str = "sdk",
) -> list[dict[str, Any]]:
    """Run ``processes`` copies of a sender at once; their JSON reports.

    ``load``: ``sdk``, synthetic sessions through the OpenTelemetry SDK
    (``bench/sender.py``), or ``replay``, the real libraries' fixture
    conversations with new ids (``bench/replay_sender.py``, far cheaper to
    send). ``rate`` is spans/s per process (0: as fast as the server acknowledges)."""
    script = SENDERS[load]
    procs = []
    for index in range(processes):
        args = [PYTHON, str(BENCH / script), "--endpoint", endpoint, "--protocol", protocol]
        args += ["--duration", str(duration), "--rate", str(rate), "--index", str(index)]
        args += list(extra)
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE))
    reports = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=timeout)
            lines = out.decode().strip().splitlines()
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"sender failed with exit code {proc.returncode}")
            reports.append(json.loads(lines[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return reports


def postgres_count(
    dsn: str, query: LiteralString, params: Sequence[Any] = (), schema: str = "tasktrace"
) -> int:
    """``query``'s count; values go in ``params``, never into the query text."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        row = conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0


# --- output ---------------------------------------------------------------


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Print and return a plain-text table."""
    cells = [[str(h) for h in header]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "name": name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": os.cpu_count(),
        **payload,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def postgres_cpu() -> float:
    """CPU seconds of all running ``postgres`` processes (backends come and go)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info.get("cpu_times")
        if proc.info.get("name") == "postgres" and times is not None:
            total += float(times.user + times.system)
    return total


@contextlib.contextmanager
def rss_sampler(pid: int) -> Iterator[dict[str, float]]:
    """Peak RSS (MB) of ``pid`` while the block runs, sampled every 50 ms."""
    proc = psutil.Process(pid)
    out = {"start_mb": proc.memory_info().rss / 2**20, "peak_mb": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            with contextlib.suppress(psutil.Error):
                out["peak_mb"] = max(out["peak_mb"], proc.memory_info().rss / 2**20)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()
        with contextlib.suppress(psutil.Error):
            out["end_mb"] = proc.memory_info().rss / 2**20
