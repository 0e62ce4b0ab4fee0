"""The architecture, checked: layers import only downwards, no private names cross modules, each fact once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "iac"
MODULE_DIR = ROOT / "modules" / "gcp-direct-access"

# Lowest first. A module may import from its own layer and the layers below it, never from above.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__init__", "errors", "hcl", "allowlist", "names", "untrusted"}),
    frozenset({"config", "yamldoc", "files", "plan", "terraform", "gcp", "invalidate", "templates", "storage"}),
    frozenset({"render", "baseline", "allowlist_file", "summary", "cors", "manifest", "denied"}),
    frozenset({"deploy", "doctor"}),
    frozenset({"cli", "__main__"}),
)
# Within a layer, these never import each other: the Terraform and the CORS documents render apart.
APART = (frozenset({"render", "cors"}),)


def component(path: Path, package: Path) -> str:
    """`cors` for iac/cors/gcs.py, `render` for iac/render.py."""
    return path.relative_to(package).with_suffix("").parts[0]


def layer(name: str) -> int:
    for index, members in enumerate(LAYERS):
        if name in members:
            return index
    raise AssertionError(f"iac.{name} is in no layer of tests/test_architecture.py: place it")


def modules(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def imports(path: Path, root: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported iac module, names) of every import of the package in `path`, function-level included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    package = ".".join(("iac", *path.relative_to(root).parent.parts))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names if alias.name.split(".")[0] == "iac"]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            if module.split(".")[0] == "iac":
                found.append((node.lineno, module, [alias.name for alias in node.names]))
    return found


def target_component(module: str, names: list[str]) -> list[str]:
    parts = module.split(".")
    if len(parts) > 1:
        return [parts[1]]
    return names  # `from iac import hcl`: each name is a module


def upward_imports(package: Path) -> list[str]:
    problems = []
    for path in modules(package):
        own = component(path, package)
        where = path.relative_to(package.parent)
        for line, module, names in imports(path, package):
            for name in target_component(module, names):
                target = "__init__" if name == "__version__" else name
                if target == own:
                    continue
                if layer(target) > layer(own):
                    problems.append(f"{where}:{line}: iac.{own} imports iac.{target} from above")
                if any({own, target} <= apart for apart in APART):
                    problems.append(f"{where}:{line}: iac.{own} and iac.{target} must stay apart")
    return problems


def private_imports(package: Path) -> list[str]:
    problems = []
    for path in modules(package):
        for line, module, names in imports(path, package):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private or any(part.startswith("_") for part in module.split(".")):
                problems.append(f"{path.relative_to(package.parent)}:{line}: from {module} import {', '.join(names)}")
    return problems


def test_every_module_is_placed_in_a_layer() -> None:
    for path in modules(PACKAGE):
        layer(component(path, PACKAGE))


def test_no_upward_import() -> None:
    assert upward_imports(PACKAGE) == []


def test_no_private_name_crosses_a_module() -> None:
    assert private_imports(PACKAGE) == []


def test_the_checks_catch_an_upward_import_and_a_private_name(tmp_path: Path) -> None:
    fake = tmp_path / "iac"
    fake.mkdir()
    (fake / "hcl.py").write_text("from iac.cli import app\n\n\ndef f():\n    from iac.render import _resource_count\n")
    (fake / "render.py").write_text("from .cors.policy import encord_rule\n")
    assert upward_imports(fake) == [
        "iac/hcl.py:1: iac.hcl imports iac.cli from above",
        "iac/hcl.py:5: iac.hcl imports iac.render from above",
        "iac/render.py:1: iac.render and iac.cors must stay apart",
    ]
    assert private_imports(fake) == ["iac/hcl.py:5: from iac.render import _resource_count"]


# --- each fact once: where Python must know what the module does, a test pins the pairing ----------------


def module_text() -> str:
    return "".join(p.read_text() for p in sorted(MODULE_DIR.glob("*.tf")))


def test_resource_names_match_the_module() -> None:
    from iac.names import SUFFIXES

    text = module_text()
    for what, suffix in SUFFIXES.items():
        if what in ("edge_policy", "backend_policy"):
            # One for_each resource named "${var.name}-${each.key}-policy" over the keys edge and backend.
            key = what.removesuffix("_policy")
            assert 'name        = "${var.name}-${each.key}-policy"' in text
            assert re.search(rf"^\s*{key}\s*=\s*\"CLOUD_ARMOR", text, re.MULTILINE), key
            assert suffix == f"-{key}-policy"
            continue
        attribute = "account_id" if what == "reader" else "name"
        assert re.search(rf'^\s*{attribute}\s*=\s*"\$\{{var\.name\}}{re.escape(suffix)}"\s*$', text, re.MULTILINE), what


def test_cloud_armor_limits_match_the_module() -> None:
    from iac.allowlist import DEFAULT_RULE_PRIORITY, RANGES_PER_RULE

    variables = (MODULE_DIR / "variables.tf").read_text()
    assert f"length(rule.ranges) <= {RANGES_PER_RULE}" in variables
    assert f"rule.priority <= {DEFAULT_RULE_PRIORITY - 1}" in variables
    assert f"priority    = {DEFAULT_RULE_PRIORITY}" in (MODULE_DIR / "main.tf").read_text()


def docstring_only(path: Path) -> bool:
    """A package's `__init__.py` that only says what the package is: not a module of its own."""
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and len(body) == 1 and isinstance(body[0], ast.Expr)


def test_the_readme_layout_names_every_module_once() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Repository layout") :]
    section = section[: section.find("\n## ", 5)] if "\n## " in section[5:] else section
    listed = re.findall(r"^\| `(iac/[\w/]+\.py)` \|", section, re.MULTILINE)
    actual = sorted(str(p.relative_to(ROOT)) for p in modules(PACKAGE) if not docstring_only(p))
    assert sorted(listed) == actual
    assert len(listed) == len(set(listed))
