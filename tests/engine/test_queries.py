"""The named queries: every statement and filter of the SQLite store prepares against the
real schema, the file defines exactly the interface, and each table is written only by its
owning service (engine.ports)."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.store.migrations import MIGRATIONS, statements
from switchboard.engine.store.queries import F, Q, QueryFileError, parse, positional
from switchboard.engine.store.sqlite import QUERIES, queries

ENGINE = Path(__file__).resolve().parents[2] / "engine"


class AnyParams(dict[str, Any]):
    """Binds NULL to every named parameter: EXPLAIN only needs the statement to prepare."""

    def __missing__(self, key: str) -> None:
        return None


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = tmp_path_factory.mktemp("schema") / "switchboard.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS:
        for statement in statements(script, "sqlite"):
            conn.execute(statement)
    return conn


def _group(name: str) -> str:
    return name.split("_", 1)[0]


@pytest.mark.parametrize("query", list(Q), ids=str)
def test_every_statement_prepares_against_the_schema(schema: sqlite3.Connection,
                                                     query: Q) -> None:
    """EXPLAIN compiles the statement without running it: a typo in a column or table, a
    bad fragment, or a filter that does not fit the statement fails here, not in prod."""
    qs = queries()
    variants: list[tuple[F, ...]] = [()]
    if "{where}" in qs.statements[query]:
        # every filter of the statement's table family, alone and all together
        family = {"task": "task", "view": "task", "agent": "agent", "run": "run",
                  "event": "event", "audit": "audit", "webhook": "webhook"}[_group(query.value)]
        fitting = tuple(f for f in F if _group(f.value) == family)
        variants += [(f,) for f in fitting] + [fitting]
    for where in variants:
        schema.execute("EXPLAIN " + qs.compose(query, where), AnyParams())


def test_the_file_defines_exactly_the_interface() -> None:
    text = QUERIES.read_text()
    parse(text)  # the real file is complete
    with pytest.raises(QueryFileError, match="missing task_by_id"):
        parse(text.replace("-- name: task_by_id", "-- name: task_by_idx"))
    with pytest.raises(QueryFileError, match="defined twice"):
        parse(text + "\n-- name: task_by_id\nSELECT 1\n")
    with pytest.raises(QueryFileError, match="undefined fragment"):
        parse(text.replace("{task_columns} FROM tasks WHERE id = :id",
                           "{task_cols} FROM tasks WHERE id = :id"))


def test_filters_join_with_and_and_a_statement_without_slot_refuses_them() -> None:
    qs = queries()
    sql = qs.compose(Q.task_count, (F.task_status, F.task_agent))
    assert "(status = :status) AND (agent_id = :agent_id OR claimed_by = :agent_id)" in sql
    assert qs.compose(Q.task_count, ()).endswith("WHERE 1 = 1")
    with pytest.raises(ValueError, match="takes no filters"):
        qs.compose(Q.task_by_id, (F.task_status,))


# Which module owns (alone writes) which group of statements.
OWNERS = {
    "task": {"tasks.py"}, "agent": {"agents.py"}, "approval": {"approvals.py"},
    "run": {"orchestrations/runs.py", "orchestrations/inline.py"},
    "session": {"orchestrations/sessions.py"}, "metrics": {"stats.py"},
    "event": {"events.py", "engine.py", "store/sqlite.py", "store/postgres.py"}, "audit": {"audit.py"},
    "stats": {"stats.py"}, "view": {"views.py"}, "revocation": {"revocations.py"},
    "webhook": {"webhooks.py"}, "action": {"action_links.py"},
}


def _used_queries() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "Q"):
                used.setdefault(node.attr, set()).add(str(path.relative_to(ENGINE)))
    return used


def test_each_table_is_run_only_by_its_owner() -> None:
    """Service ownership (issue 10, item 4): ``tasks.py`` does not write agents' or
    approvals' rows, ``approvals.py`` does not touch tasks' rows, and so on; a statement
    group's names are used only in the module that owns the table."""
    used = _used_queries()
    unknown = sorted(set(used) - {q.value for q in Q})
    assert not unknown, f"Q names used but not defined: {unknown}"
    statements = queries().statements
    strays: dict[str, list[str]] = {}
    for name, modules in used.items():
        allowed = set(OWNERS[_group(name)])
        if statements[Q(name)].lstrip().upper().startswith(("SELECT", "WITH")):
            allowed.add("views.py")  # the views read across tables, in one snapshot
        allowed.add("store/postgres.py")  # the store itself names statements (row locks)
        if modules - allowed:
            strays[name] = sorted(modules - allowed)
    assert not strays, f"statements run outside their owning service: {strays}"


def test_every_statement_is_used() -> None:
    unused = sorted({q.value for q in Q} - set(_used_queries()))
    assert not unused, f"statements no service runs (remove them): {unused}"


def test_services_hold_no_sql() -> None:
    """No raw SQL outside the store: every engine module but the store's own talks in
    names (the protocol has no raw ``execute``; this catches a string that slips in)."""
    offenders = []
    for path in ENGINE.rglob("*.py"):
        rel = str(path.relative_to(ENGINE))
        if rel.startswith("store/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.upper()
                if any(text.lstrip().startswith(k) for k in
                       ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")):
                    offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders


def test_named_parameters_become_numbered_markers_once() -> None:
    """How a store turns ``:name`` into its driver's markers: the same number for every use
    of a name, string literals left alone (a PostgreSQL store passes ``$n``)."""
    sql, names = positional(
        "UPDATE t SET a = :now, b = ':not_a_param', c = :now WHERE id = :id AND d = 'x''y:z'",
        lambda n: f"${n}")
    assert sql == "UPDATE t SET a = $1, b = ':not_a_param', c = $1 WHERE id = $2 AND d = 'x''y:z'"
    assert names == ("now", "id")
