"""The layering the project relies on (docs/architecture.md): UI outside chatlib, SDKs only in
providers, SQL and database drivers only in the store package, chatlib's packages importing
only the packages under them, and no import circle anywhere in chatlib."""

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import chatlib

ROOT = Path(__file__).resolve().parent.parent
SDKS = {"openai", "anthropic", "llama_cpp", "httpx2"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_chatlib_never_imports_streamlit():
    offenders = [p for p in (ROOT / "chatlib").rglob("*.py") if "streamlit" in imported_modules(p)]
    assert offenders == []


def test_sdks_are_imported_only_in_chatlib_providers():
    files = [ROOT / "app.py", ROOT / "chat_lab.py", *(ROOT / "app_pages").glob("*.py"),
             *(ROOT / "ui").glob("*.py"),
             *(p for p in (ROOT / "chatlib").rglob("*.py") if "providers" not in p.parts)]
    offenders = {str(p.relative_to(ROOT)): imported_modules(p) & SDKS for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def _app_files_outside_the_store() -> list[Path]:
    return [ROOT / "app.py", ROOT / "chat_lab.py", *(ROOT / "app_pages").glob("*.py"),
            *(ROOT / "ui").glob("*.py"),
            *(p for p in (ROOT / "chatlib").rglob("*.py") if "store" not in p.parts)]


_SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|PRAGMA\s|"
                  r"CREATE\s+(TABLE|INDEX)|\w+\s*(=|IN|<|>)\s*\?)", re.DOTALL)


def test_sql_and_database_drivers_live_only_in_the_store_package():
    drivers = {"sqlite3", "psycopg", "psycopg_pool"}
    offenders = {}
    for path in _app_files_outside_the_store():
        tree = ast.parse(path.read_text(), str(path))
        sql = [node.value[:60] for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)
               and _SQL.search(node.value)]
        found = sorted(imported_modules(path) & drivers) + sql
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}


def test_the_sql_check_finds_sql():
    assert _SQL.search("SELECT id FROM runs") and _SQL.search("provider != 'replay' AND x = ?")
    assert not _SQL.search("Select a model from the list")


def test_every_chatlib_module_declares_and_defines_its_exports():
    for info in pkgutil.walk_packages(chatlib.__path__, "chatlib."):
        module = importlib.import_module(info.name)
        assert module.__doc__, f"{info.name} has no docstring"
        if info.ispkg:
            continue
        exports = getattr(module, "__all__", None)
        assert exports is not None, f"{info.name} has no __all__"
        missing = [name for name in exports if not hasattr(module, name)]
        assert missing == [], f"{info.name} exports undefined names {missing}"


# What each package of chatlib may import besides itself (docs/architecture.md draws it):
# a package never reaches up or sideways, so the packages stack without a circle.
PACKAGE_RULES: dict[str, set[str]] = {
    "core": set(),
    "runs": {"core"},
    "providers": {"core", "runs"},
    "store": {"core", "runs"},
    "streaming": {"core", "runs", "providers"},
    "engine": {"core", "runs", "providers", "streaming"},
    "chat": {"core", "runs", "providers", "streaming", "engine", "store"},
    "compare": {"core", "runs", "providers", "streaming", "engine", "store"},
    "evals": {"core", "runs", "providers", "streaming", "engine", "store", "compare"},
    "load": {"core", "runs", "providers", "streaming", "engine", "store", "compare"},
    "stats": {"core", "runs", "store"},
    "quality": {"core", "runs", "providers", "engine", "store", "stats"},
    "reports": {"core", "runs", "store", "compare", "evals", "stats", "load", "quality"},
    "api": {"core", "runs", "providers", "streaming", "engine", "store"},
    "cli": {"core", "runs", "providers", "store", "compare", "evals", "reports", "stats",
            "load", "quality"},
}


def chatlib_imports(path: Path) -> set[str]:
    """The chatlib modules (dotted) a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    modules = {_module_name(p) for p in (ROOT / "chatlib").rglob("*.py")}
    return {name for name in found if name in modules}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_chatlib_module_lives_in_a_package_with_a_rule():
    loose = [p.name for p in (ROOT / "chatlib").glob("*.py") if p.name != "__init__.py"]
    packages = {p.name for p in (ROOT / "chatlib").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    assert loose == [] and packages == set(PACKAGE_RULES)


def test_each_package_imports_only_the_packages_under_it():
    offenders = {}
    for path in (ROOT / "chatlib").rglob("*.py"):
        package = path.relative_to(ROOT / "chatlib").parts[0]
        if package not in PACKAGE_RULES:
            continue
        reached = {name.split(".")[1] for name in chatlib_imports(path)} - {package}
        if reached - PACKAGE_RULES[package]:
            offenders[str(path.relative_to(ROOT))] = sorted(reached - PACKAGE_RULES[package])
    assert offenders == {}


def test_the_package_rules_themselves_have_no_circle():
    assert _circles({name: set(rule) for name, rule in PACKAGE_RULES.items()}) == []


def test_no_import_circle_between_chatlib_modules():
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "chatlib").rglob("*.py"):
        name = _module_name(path)
        # A package's own __init__ importing a submodule is how a package lists its parts.
        graph[name] = {m for m in chatlib_imports(path)
                       if m != name and not name.startswith(m + ".")}
    assert _circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of two or more nodes (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)
