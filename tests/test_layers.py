"""The package's shape holds: no import cycles, and each layer imports only what it may.

Read from the source (ast), so a rule broken anywhere in duely fails here, with the modules
that break it named. `pytest tests/test_layers.py` is the proof asked of every change.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import cache
from pathlib import Path

import duely

PACKAGE = Path(duely.__file__).parent
IO_LIBRARIES = {"sqlmodel", "sqlalchemy", "httpx", "smtplib", "aiosmtplib", "stripe", "litestar"}
"""What a workflow must not reach, even indirectly: databases, HTTP, mail, Stripe, the web."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts and path.name != "__main__.py"
    }


@cache
def imports_of(name: str) -> frozenset[str]:
    """Every module `name` imports, at its top or inside a function: duely's own modules by
    their full name, other libraries by their top-level name."""
    tree = ast.parse(modules()[name].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules() else node.module)
    return frozenset(
        imported if imported in modules() else imported.split(".")[0] for imported in found
    )


def own_imports(name: str) -> set[str]:
    return {imported for imported in imports_of(name) if imported in modules()}


def cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in own_imports(name):
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in sorted(modules()):
        if name not in index:
            visit(name)
    return groups


def reach(name: str, through: Callable[[str], bool]) -> set[str]:
    """Every module `name` reaches by following imports, as long as `through` allows."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        for imported in imports_of(current) if current in modules() else ():
            if imported not in seen and through(imported):
                seen.add(imported)
                todo.append(imported)
    return seen


def in_layer(name: str, *layers: str) -> bool:
    return any(name == layer or name.startswith(f"{layer}.") for layer in layers)


def test_no_module_imports_itself_through_others():
    assert cycles() == []


def test_workflows_reach_no_io_outside_the_activities_they_schedule():
    """A workflow imports its activities' definitions (to name them), never calls them; what
    else it imports is pure: no database, HTTP, mail, Stripe or web, even a few imports away."""
    broken = {}
    for name in modules():
        if in_layer(name, "duely.workflows"):
            reached = reach(name, lambda m: not in_layer(m, "duely.activities"))
            if bad := reached & IO_LIBRARIES:
                broken[name] = sorted(bad)
    assert broken == {}


def test_only_workflows_and_the_worker_know_the_activities():
    """Activities are thin: they call the features, and nothing but the workflows that schedule
    them (and the worker that registers them) imports them."""
    broken = {}
    for name in modules():
        if in_layer(name, "duely.activities", "duely.workflows", "duely.worker"):
            continue
        if bad := {m for m in own_imports(name) if in_layer(m, "duely.activities")}:
            broken[name] = sorted(bad)
    assert broken == {}


def test_integrations_know_nothing_of_temporal_or_of_duely_above_them():
    broken = {}
    for name in modules():
        if in_layer(name, "duely.integrations"):
            bad = {
                m
                for m in imports_of(name)
                if m == "temporalio"
                or in_layer(m, "duely.workflows", "duely.activities", "duely.web")
            }
            if bad:
                broken[name] = sorted(bad)
    assert broken == {}


def test_features_and_core_know_nothing_of_the_web():
    """The web calls the features; a feature never reaches back into a page or a request."""
    broken = {}
    for name in modules():
        if in_layer(name, "duely.web", "duely.sandbox", "duely.cli", "duely.up"):
            continue
        web = {m for m in own_imports(name) if in_layer(m, "duely.web")}
        if bad := web | ({"litestar"} & imports_of(name)):
            broken[name] = sorted(bad)
    assert broken == {}


COMPOSITION = "duely.web.app"
"""Builds the ledger registry the features are handed (as the worker does): not a call."""


def test_the_web_reaches_ledgers_and_stripe_only_through_features():
    clients = ("duely.integrations.ledgers", "duely.integrations.payments")
    calling = {
        name
        for name in modules()
        if in_layer(name, "duely.web") and any(in_layer(m, *clients) for m in own_imports(name))
    }
    assert calling <= {COMPOSITION}, sorted(calling - {COMPOSITION})


def test_nothing_loose_at_the_package_root_but_entry_points_and_settings():
    loose = {
        path.stem for path in PACKAGE.glob("*.py") if path.stem not in {"__init__", "__main__"}
    }
    assert loose == {"cli", "demo", "migrate", "settings", "up", "worker"}
