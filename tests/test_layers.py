"""Dependencies point one way: interfaces -> Assistant -> answer / retrieve / ingest ->
store, embeddings, llm -> models, settings, errors. Checked on the import statements
(including those inside functions and under TYPE_CHECKING), so a cycle cannot hide."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rag"
INTERFACES = {"rag.cli", "rag.server", "rag.mcp_server", "rag.mcp_stdio"}
FORBIDDEN = {
    "rag.answer": INTERFACES | {"rag.assistant", "rag.evals"},
    "rag.retrieve": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals", "rag.ingest"},
    "rag.ingest": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals", "rag.retrieve"},
    "rag.store": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals", "rag.retrieve", "rag.ingest"},
    "rag.mirror": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals", "rag.retrieve", "rag.ingest", "rag.store"},
    "rag.lexical": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals", "rag.retrieve", "rag.ingest", "rag.store", "rag.mirror"},
    "rag.embeddings": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals", "rag.retrieve", "rag.ingest", "rag.store"},
    "rag.llm": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals", "rag.retrieve", "rag.ingest", "rag.store"},
    "rag.inputs": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals"},
    "rag.models": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals", "rag.retrieve", "rag.ingest", "rag.store", "rag.llm"},
    "rag.settings": INTERFACES | {"rag.assistant", "rag.answer", "rag.evals", "rag.retrieve", "rag.ingest", "rag.store", "rag.llm"},
    "rag.errors": {"rag."},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, resolved to absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # `from . import x`
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_it(path):
    name = module_name(path)
    rules = [banned for owner, banned in FORBIDDEN.items() if name == owner or name.startswith(owner + ".")]
    for banned in rules:
        bad = {i for i in imports(path) for b in banned if i == b or i.startswith(b if b.endswith(".") else b + ".")}
        bad = {i for i in bad if not i.startswith(name)}
        assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_reaches_into_another_modules_private_names(path):
    name = module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and not node.module.startswith("rag"):
            continue  # third-party modules are not ours to police here
        if isinstance(node, ast.ImportFrom):
            private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            assert not private, f"{name} imports private names {private} from {node.module}"
