"""Every SQL statement in the package and the benchmarks is a literal with ``%s``
parameters, or composed with ``psycopg.sql`` (issue 16.6): no f-string, ``%`` or
``str.format`` ever builds SQL text, so no value or identifier can reach a
statement except as a parameter or a quoted ``sql.Identifier``."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("core", "exporter", "receiver", "extractor", "bench")
#: the calls that run SQL, and which positional argument is the statement
RUNS_SQL = {
    "execute": 0,
    "executemany": 0,
    "fetch": 1,
    "_fetch": 0,
    "load_tasks": 1,
    "postgres_count": 1,
}
SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|WHERE|CREATE|DROP|ALTER|TRUNCATE|SET\s+search_path|ORDER\s+BY)\b"
)


def sources() -> list[Path]:
    return sorted(
        p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py") if "_pb2" not in p.name
    )


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def literal_text(node: ast.AST) -> str:
    """The literal parts of a string expression (f-string pieces, a constant)."""
    return " ".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def built_strings(tree: ast.AST) -> Iterator[ast.AST]:
    """f-strings, ``"..." % x``, ``"..." + x`` and ``"...".format(...)`` on plain strings."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
            if isinstance(node.left, ast.Constant | ast.JoinedStr) and isinstance(
                getattr(node.left, "value", ""), str
            ):
                yield node
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and not is_sql_composable(node.func.value)
        ):
            yield node


def is_sql_composable(node: ast.AST) -> bool:
    """``sql.SQL(...)``, ``sql.Identifier(...)`` and what ``.format``/``.join`` make of them."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in ("format", "join"):
            node = node.func.value
            continue
        value = node.func.value
        return isinstance(value, ast.Name) and value.id == "sql"
    return False


def statement_of(call: ast.Call) -> ast.AST | None:
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    index = RUNS_SQL.get(name)
    if index is None or len(call.args) <= index:
        return None
    return call.args[index]


def allowed_statement(node: ast.AST) -> bool:
    """A literal, a name (whose value the module-wide rule checks), a ``psycopg.sql``
    composition, a helper returning one, or a shipped migration file's bytes."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        return True
    if isinstance(node, ast.Name | ast.Attribute):
        return True
    if is_sql_composable(node):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return True  # a helper such as _lateral_messages(...): its body is audited too
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "encode"
        and isinstance(node.func.value, ast.Name)
    )


def test_no_sql_text_is_built_with_f_strings_percent_or_format() -> None:
    found = []
    for path in sources():
        tree = ast.parse(path.read_text("utf-8"))
        for node in built_strings(tree):
            if SQL_WORDS.search(literal_text(node)):
                found.append(where(path, node))
    assert found == []


def test_every_statement_run_is_a_literal_or_a_psycopg_sql_composition() -> None:
    found = []
    runs = 0
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and (statement := statement_of(node)) is not None:
                runs += 1
                if not allowed_statement(statement):
                    found.append(f"{where(path, node)}: {ast.unparse(statement)[:80]}")
    assert found == []
    assert runs > 40  # the audit sees the statements (it would pass vacuously otherwise)


@pytest.mark.parametrize(
    "code",
    [
        'conn.execute(f"SELECT * FROM t WHERE id = {value}")',
        'conn.execute("SELECT * FROM t WHERE id = %s" % value)',
        'query = "DELETE FROM t WHERE id = {}".format(value)',
        'cur.execute("SELECT * FROM " + table)',
    ],
)
def test_the_audit_catches_built_sql(code: str) -> None:
    tree = ast.parse(code)
    built = [n for n in built_strings(tree) if SQL_WORDS.search(literal_text(n))]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and statement_of(n) is not None]
    assert built or any(not allowed_statement(statement_of(c) or ast.Constant("")) for c in calls)
