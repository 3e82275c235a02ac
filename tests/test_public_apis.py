"""The project's code keeps DESIGN.md's rule for reads and writes (checked on the source, both passes).

- No private name of Django, Channels, channels-redis, django-redis or ninja (the ones earlier code used).
- SQL text only in an app's ``queries.py``: no other module opens a cursor or holds a statement.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("accounts", "projects", "tasks", "realtime", "taskhub", "web", "notifications")

PRIVATE = re.compile(
    r"_iterable_class|_prefetch_related_lookups|_known_related_objects|_fetch_mode|get_related_populators"
    r"|ModelIterable|concrete_fields|_consistent_hash|select\.select\b|_meta\.pk\b|_state\.fields_cache"
    r"|_HiredisParser|\._get_key\(|\._wrapped\b"
)
SQL = re.compile(r"^\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WITH\s+\w+\s+AS)\b", re.IGNORECASE)


def _sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_no_private_names():
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in _sources()
             for n, line in enumerate(path.read_text().splitlines(), 1) if PRIVATE.search(line)]
    assert found == []


def _docstrings(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


@pytest.mark.parametrize("path", [p for p in _sources() if p.name != "queries.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_sql_lives_only_in_queries_modules(path):
    tree = ast.parse(path.read_text())
    docstrings = _docstrings(tree)
    statements = [node.lineno for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and SQL.search(node.value)]
    cursors = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr == "cursor" and isinstance(node.ctx, ast.Load)
               and isinstance(getattr(node, "value", None), ast.Name) and node.value.id == "connection"]
    assert (statements, cursors) == ([], [])


def test_the_guard_sees_sql_and_private_names():
    """The two checks above find what they look for (so that their passing means something)."""
    assert SQL.search("\n  select id from tasks_task") and SQL.search("UPDATE t SET a = 1")
    assert not SQL.search("Update the task's title")
    assert PRIVATE.search("qs._iterable_class") and PRIVATE.search("readable = select.select([fd], [], [], 0)")
    sample = ast.parse('def f():\n    """SELECT in a docstring is prose."""\n    return "SELECT 1"\n')
    strings = [n for n in ast.walk(sample) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert [n.value for n in strings if id(n) not in _docstrings(sample)] == ["SELECT 1"]
