"""The layering the project relies on: UI outside chatlib, SDKs only in providers, SQL and
database drivers only in the store package."""

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
