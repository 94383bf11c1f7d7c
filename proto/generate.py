"""Regenerate the Python modules for every ``.proto`` under ``proto/tasktrace/``.

Run ``python proto/generate.py`` (needs ``grpcio-tools``). It writes
``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` next to each ``.proto``,
then rewrites the generated imports (``from tasktrace.v1 import ...``) to the
installed namespace (``from tasktrace.proto.tasktrace.v1 import ...``), and
the module name given to the message classes likewise, and adds headers that
keep ruff and mypy out of the generated code.

The generated code checks at import time that the installed ``grpcio`` and
``protobuf`` are at least as new as the ``grpcio-tools`` that generated it.
"""

from __future__ import annotations

import re
import sys
from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent  # the proto include root: proto/tasktrace/v1/x.proto
NAMESPACE = "tasktrace.proto"  # where ``proto/`` is installed

_IMPORT = re.compile(r"^from (tasktrace\.v\d+) import", re.MULTILINE)
_MODULE_NAME = re.compile(r"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')(tasktrace\.v\d+\.)")


def generate() -> list[Path]:
    """Run protoc over every .proto under ROOT; return the files written. Raises on failure."""
    protos = sorted(ROOT.glob("tasktrace/**/*.proto"))
    well_known = str(files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        *(str(p.relative_to(ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    written = []
    for proto in protos:
        stem = proto.with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            path = stem.with_name(stem.name + suffix)
            path.write_text(_HEADERS[suffix] + _fix(path.read_text()))
            written.append(path)
    return written


# Generated code is neither typed (the grpc module) nor in our style (the stub);
# pyproject.toml's excludes cover the .py files for ruff and mypy, not the .pyi.
_HEADERS = {
    "_pb2.py": "",
    "_pb2.pyi": "# ruff: noqa\n# fmt: off\n",
    "_pb2_grpc.py": "# mypy: ignore-errors\n",
}


def _fix(source: str) -> str:
    source = _IMPORT.sub(rf"from {NAMESPACE}.\1 import", source)
    return _MODULE_NAME.sub(rf"\1{NAMESPACE}.\2", source)  # the classes' __module__


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(ROOT.parent), file=sys.stderr)
