"""The house's rules, read from the source: rooms import only the rooms below them, and no module
imports itself back through others (``genrelens`` and ``training`` alike). docs/design.md draws it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = {"genrelens.settings", "genrelens.problems", "genrelens.results_csv", "genrelens.threads"}
# Each room and the rooms it may import (itself included). Arrows point down: web -> jobs -> shared ->
# analysis -> models; explore above jobs (web and the tagger's playlists use it); library beside jobs;
# cli (the batch command) on top of the shared modules.
MAY_IMPORT = {
    "models": {"models"},
    "analysis": {"analysis", "models"},
    "shared": {"shared", "analysis", "models"},
    "jobs": {"jobs", "shared", "analysis", "models"},
    "library": {"library", "explore", "shared", "analysis", "models"},
    "explore": {"explore", "jobs", "shared", "analysis", "models"},
    "web": {"web", "explore", "jobs", "shared", "analysis", "models"},
    "cli": {"shared", "analysis", "models"},
    "package": set(),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The known modules ``path`` imports, at module level or inside functions (a cycle is one either way)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def room(module: str) -> str:
    if module in SHARED:
        return "shared"
    if module == "genrelens":
        return "package"
    if module == "genrelens.cli":
        return "cli"
    return module.split(".")[1]


def graph() -> dict[str, set[str]]:
    every = modules("genrelens") | modules("training")
    known = set(every) | {"app", "music_genre_classifier"}
    return {name: imports_of(path, known) - {name} for name, path in every.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_the_rooms_are_the_ones_the_rules_name():
    rooms = {room(name) for name in modules("genrelens")}
    assert rooms == set(MAY_IMPORT), rooms ^ set(MAY_IMPORT)


def test_no_module_imports_itself_back():
    assert cycles(graph()) == []


def test_every_arrow_points_down():
    edges = graph()
    upward = sorted(f"{source} -> {target}" for source, targets in edges.items() if source.startswith("genrelens")
                    for target in targets if not target.startswith("genrelens") or room(target) not in MAY_IMPORT[room(source)])
    assert upward == []


def test_training_is_used_by_nothing_it_serves():
    edges = graph()
    assert not [source for source, targets in edges.items() if source.startswith("genrelens")
                and any(t.startswith("training") for t in targets)]


def test_the_checker_sees_a_cycle_and_an_upward_arrow():
    """The rules above can fail: a made-up graph with both faults is caught."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "analysis" not in MAY_IMPORT[room("genrelens.models.heads")]
    assert room("genrelens.web.factory") == "web" and room("genrelens.settings") == "shared"
