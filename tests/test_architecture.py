"""The layout of docs/architecture.md holds: the core runs without Streamlit, a lower
layer never imports a higher one, and the code cites only design sections that exist."""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboard"
DESIGN = ROOT / "docs" / "design.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Needs a running Alembic migration context to import at all.
NOT_IMPORTABLE_ALONE = {"dashboard.contract.migrations.env"}

# The layers of dashboard/, lowest first: each may import its own layer and those below.
LAYERS = ("config", "contract", "store", "rules", "figures", "tools")
# Modules at the bottom with config, importable by every layer: the reader's language.
BESIDE_CONFIG = ("language",)
FORBIDDEN_IN_CORE = ("streamlit", "components", "pages")


def _py_files(*paths: Path) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in path.rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _walked_modules() -> set[str]:
    import dashboard

    found = {m.name for m in pkgutil.walk_packages(dashboard.__path__, "dashboard.")}
    return found | {"dashboard"}


def _dashboard_modules() -> list[str]:
    """Every module under dashboard/: those pkgutil walks to, and any file it would miss
    (a folder without __init__.py), so that no module escapes the checks below."""
    on_disk = {_module_name(p) for p in _py_files(DASHBOARD)}
    return sorted(_walked_modules() | on_disk)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted target) of every import in the file, at any nesting level:
    `import a.b` gives a.b, `from a import b` gives a.b, relative imports are resolved,
    and importlib.import_module / __import__ with a constant name count too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path)
    package = module if _is_package(path) else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found += [(node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base)
                      for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def _layer(module: str) -> str | None:
    """The layer of a dashboard module (or import target), None if it is in no layer."""
    parts = module.split(".")
    if parts[0] != "dashboard":
        return None
    if len(parts) == 1:
        return "config"  # the root package itself holds nothing
    if parts[1] in BESIDE_CONFIG:
        return "config"
    return parts[1] if parts[1] in LAYERS else None


# --- a. the core imports without Streamlit -------------------------------------------------

_IMPORT_WITHOUT_STREAMLIT = r"""
import importlib, importlib.abc, json, os, sys, traceback

class NoStreamlit(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "streamlit" or name.startswith("streamlit."):
            raise ImportError(f"streamlit is not installed here (asked for {name!r})")
        return None

sys.meta_path.insert(0, NoStreamlit())
root = sys.argv[1]
failures = {}
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        where = [f"{os.path.relpath(f.filename, root)}:{f.lineno}"
                 for f in traceback.extract_tb(exc.__traceback__)
                 if f.filename.startswith(root)]
        failures[name] = f"{type(exc).__name__}: {exc} (via {' -> '.join(where)})"
assert "streamlit" not in sys.modules
print(json.dumps(failures))
"""


def test_every_dashboard_module_imports_without_streamlit(tmp_path):
    modules = [m for m in _dashboard_modules() if m not in NOT_IMPORTABLE_ALONE]
    assert len(modules) > 30, modules
    env = {**os.environ, "SITROOM_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITHOUT_STREAMLIT, str(ROOT), *modules],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    failures = json.loads(run.stdout.strip().splitlines()[-1])
    assert not failures, "modules that need Streamlit (or fail to import):\n" + "\n".join(
        f"  {name}: {why}" for name, why in sorted(failures.items()))


def test_every_dashboard_file_is_reached_by_pkgutil():
    """A folder under dashboard/ without __init__.py is invisible to pkgutil and to
    setuptools' package finder, so a plain install would leave it out."""
    on_disk = {_module_name(p) for p in _py_files(DASHBOARD)}
    missed = sorted(on_disk - _walked_modules())
    assert not missed, "not reached by pkgutil.walk_packages (missing __init__.py?): " + \
        ", ".join(missed)


def test_every_layer_is_a_package_that_says_what_it_holds():
    missing = []
    for layer in LAYERS[1:]:
        init = DASHBOARD / layer / "__init__.py"
        if not init.exists():
            missing.append(f"dashboard/{layer}/__init__.py is missing")
        elif not ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))):
            missing.append(f"dashboard/{layer}/__init__.py has no docstring")
    assert not missing, "\n".join(missing)


# --- b. no Streamlit, components or pages in the core, at any level ------------------------

def test_no_dashboard_file_imports_streamlit_components_or_pages():
    files = _py_files(DASHBOARD)
    assert len(files) > 30
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in files
        for line, target in _imports(path)
        if target.split(".")[0] in FORBIDDEN_IN_CORE
    ]
    assert not bad, "dashboard/ must run without Streamlit:\n" + "\n".join(bad)


# --- c. a lower layer never imports a higher one -------------------------------------------

def test_layers_import_only_their_own_and_lower_layers():
    violations = []
    for path in _py_files(DASHBOARD):
        module = _module_name(path)
        layer = _layer(module)
        if layer is None:
            violations.append(f"{module} is in no layer (expected one of {', '.join(LAYERS)})")
            continue
        allowed = LAYERS[: LAYERS.index(layer) + 1]
        for _line, target in _imports(path):
            if target.split(".")[0] != "dashboard":
                continue
            if layer == "tools" or _layer(target) in allowed:
                continue
            violations.append(f"{module} -> {target}")
    assert not violations, "imports against the layering of docs/architecture.md:\n" + \
        "\n".join(sorted(set(violations)))


def test_architecture_doc_names_every_layer():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [layer for layer in LAYERS[1:] if f"dashboard/{layer}/" not in text]
    assert "dashboard/config.py" in text and not missing, missing
    assert all(f"dashboard/{name}.py" in text for name in BESIDE_CONFIG)


# --- d. citations: no brief, no issue numbers, only design sections that exist -------------

CODE = (DASHBOARD, ROOT / "components", ROOT / "pages", ROOT / "app.py", ROOT / "benchmarks")
FORBIDDEN_CITATIONS = (
    re.compile(r"\bDESIGN\.md"),
    re.compile(r"\bissues?\s+#?\d+", re.IGNORECASE),
)
# docs/design.md followed by one or more sections: "§2.4", "§2.4, §2.6", "§2–§3",
# "§2.3 and §3", also across a line break inside a comment or docstring.
_SEP = r"(?:[\s#]*(?:,|and|or|–|—|-|to)?[\s#]*)"
DESIGN_CITATION = re.compile(rf"docs/design\.md(?P<refs>(?:{_SEP}§\d+(?:\.\d+)?)+)")
SECTION = re.compile(r"§(\d+(?:\.\d+)?)")
HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)?)\.?\s", re.MULTILINE)


def _design_sections() -> set[str]:
    return set(HEADING.findall(DESIGN.read_text(encoding="utf-8")))


def test_design_doc_has_every_section_of_the_brief():
    sections = _design_sections()
    expected = {str(n) for n in range(1, 9)} | {f"2.{n}" for n in range(1, 10)}
    assert expected <= sections, sorted(expected - sections)


def test_code_cites_no_brief_and_no_issue_numbers():
    bad = []
    for path in _py_files(*CODE):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern in FORBIDDEN_CITATIONS:
                for match in pattern.finditer(line):
                    bad.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert not bad, "cite docs/design.md sections instead:\n" + "\n".join(bad)


def test_every_cited_design_section_exists():
    sections = _design_sections()
    cited_in = _py_files(*CODE, ROOT / "tests") + sorted((ROOT / "docs").glob("*.md")) + [
        ROOT / "README.md"]
    missing, cited = [], 0
    for path in cited_in:
        text = path.read_text(encoding="utf-8")
        for match in DESIGN_CITATION.finditer(text):
            number = text.count("\n", 0, match.start()) + 1
            for section in SECTION.findall(match.group("refs")):
                cited += 1
                if section not in sections:
                    missing.append(f"{path.relative_to(ROOT)}:{number}: §{section}")
    assert cited > 10, "the citation pattern no longer finds the code's citations"
    assert not missing, "no such heading in docs/design.md:\n" + "\n".join(missing)
