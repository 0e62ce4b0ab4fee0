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
    frozenset({"__init__", "words", "defaults"}),
    frozenset({"errors"}),
    frozenset({"signals"}),
    frozenset({"untrusted"}),
    frozenset({"hcl", "allowlist", "names", "schema"}),
    frozenset({"config", "yamldoc", "files", "plan", "terraform", "gcp", "invalidate", "templates", "storage"}),
    frozenset({"render", "baseline", "allowlist_file", "hmac_key", "summary", "cors", "manifest", "denied", "extras"})
    | {"schema_json"},
    frozenset({"deploy", "doctor"}),
    frozenset({"cli", "__main__"}),
)
# Within a layer, these never import each other: the Terraform and the CORS documents render apart.
APART = (frozenset({"render", "cors"}),)


# Inside a package, its modules are layered the same way, lowest first; a module imports only from the sub-layers
# below its own, never from a module of its own sub-layer (those are alternatives, e.g. the CORS providers).
SUBLAYERS: dict[str, tuple[frozenset[str], ...]] = {
    "cors": (
        frozenset({"policy"}),
        frozenset({"provider", "s3rules"}),
        frozenset({"aws", "azure", "gcs", "otc"}),
        frozenset({"targets"}),
    ),
    "manifest": (
        frozenset({"formats", "problems", "objects", "registrations"}),
        frozenset({"jsonpos", "urls", "media", "bucket", "batches", "encord_client"}),
        frozenset({"csvcheck", "jsoncheck"}),
        frozenset({"generate", "validate"}),
        frozenset({"register"}),
    ),
    "doctor": (
        frozenset({"report"}),
        frozenset({"https"}),
        frozenset({"findings"}),
        frozenset({"dns"}),
        frozenset({"compute", "serving", "integration"}),
        frozenset({"checks"}),
        frozenset({"__init__"}),
    ),
}
# Imports between two modules of one layer of LAYERS (neither above the other), as found when the check came in
# (issue 19): listed so that a new one is seen; each is for its module's owner to resolve or to justify here.
SIDEWAYS = {
    ("allowlist_file", "baseline"),  # an edit's rule changes are against the one baseline
    ("baseline", "render"),  # the baseline of a rendering is its rules read back (render.current_rules)
    ("config", "files"),  # terraform.extra_files may not name Terraform's or iac's working files (files.is_terraforms)
    ("config", "yamldoc"),  # the config is read as YAML with line numbers
    ("invalidate", "gcp"),  # Google credentials and error text in one place (gcp)
    ("plan", "terraform"),  # the plan's JSON is read with TerraformJson's shape checks
    ("storage", "gcp"),  # Google credentials and error text in one place (gcp)
    ("summary", "baseline"),  # the summary names the baseline of the rule changes
    ("yamldoc", "files"),  # the config is read with the bounded reader of every input file
    ("__main__", "cli"),  # `python -m iac` runs the CLI
}


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


def module_name(path: Path, package: Path) -> str:
    """`iac.cors.gcs` for iac/cors/gcs.py, `iac.doctor` for iac/doctor/__init__.py."""
    parts = path.relative_to(package).with_suffix("").parts
    return ".".join((package.name, *(parts[:-1] if parts[-1] == "__init__" else parts)))


def import_graph(package: Path) -> dict[str, dict[str, int]]:
    """Module -> {imported module of the package: first line}, function-level imports included.

    `from iac.cors import gcs` imports iac.cors.gcs; `from iac.cors.gcs import Store` imports iac.cors.gcs.
    """
    paths = modules(package)
    names = {module_name(path, package) for path in paths}
    graph: dict[str, dict[str, int]] = {}
    for path in paths:
        own = module_name(path, package)
        edges = graph.setdefault(own, {})
        for line, module, imported in imports(path, package):
            targets = [f"{module}.{name}" for name in imported if f"{module}.{name}" in names] or [module]
            for target in targets:
                while target not in names and "." in target:  # an attribute of a module: the module
                    target = target.rsplit(".", 1)[0]
                if target != own:
                    edges.setdefault(target, line)
    return graph


def cycles(package: Path) -> list[list[str]]:
    """Every set of modules that import each other in a circle (strongly connected components of two or more)."""
    graph = import_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def sublayer(package: str, name: str) -> int:
    for index, members in enumerate(SUBLAYERS[package]):
        if name in members:
            return index
    raise AssertionError(f"iac.{package}.{name} is in no sub-layer of iac.{package} in tests/test_architecture.py")


def package_imports(package: Path) -> list[str]:
    """Imports inside each layered package (SUBLAYERS) that go up or sideways."""
    problems = []
    for source, edges in sorted(import_graph(package).items()):
        parts = source.split(".")
        if len(parts) < 2 or parts[1] not in SUBLAYERS:
            continue
        inner = parts[1]
        own = parts[2] if len(parts) > 2 else "__init__"
        for target, line in sorted(edges.items()):
            target_parts = target.split(".")
            if len(target_parts) < 2 or target_parts[1] != inner:
                continue
            other = target_parts[2] if len(target_parts) > 2 else "__init__"
            where = f"{source.replace('.', '/')}.py:{line}"
            if sublayer(inner, other) > sublayer(inner, own):
                problems.append(f"{where}: {source} imports {target} from above")
            elif sublayer(inner, other) == sublayer(inner, own):
                problems.append(f"{where}: {source} imports {target} of its own sub-layer")
    return problems


def sideways_imports(package: Path) -> set[tuple[str, str]]:
    """Imports between top-level modules (or packages) of the same layer."""
    found = set()
    for path in modules(package):
        own = component(path, package)
        for _, module, names in imports(path, package):
            for name in target_component(module, names):
                target = "__init__" if name == "__version__" else name
                if target != own and layer(target) == layer(own):
                    found.add((own, target))
    return found


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


def test_no_module_is_in_an_import_cycle() -> None:
    assert cycles(PACKAGE) == []


def test_every_module_of_a_layered_package_is_placed() -> None:
    for path in modules(PACKAGE):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if len(parts) > 1 and parts[0] in SUBLAYERS and not docstring_only(path):
            sublayer(parts[0], parts[1])
    for package, layers in SUBLAYERS.items():
        placed = set().union(*layers)
        present = {p.stem for p in modules(PACKAGE / package) if not docstring_only(p)}
        assert placed == present, f"SUBLAYERS[{package!r}] lists {sorted(placed - present)} that do not exist"


def test_inside_a_package_modules_import_only_from_below() -> None:
    assert package_imports(PACKAGE) == []


def test_imports_across_one_layer_are_the_known_ones() -> None:
    assert sideways_imports(PACKAGE) == SIDEWAYS


def test_the_package_checks_catch_a_cycle_and_an_import_across_providers(tmp_path: Path) -> None:
    fake = tmp_path / "iac"
    (fake / "cors").mkdir(parents=True)
    for name in ("policy", "provider", "s3rules", "azure", "gcs", "targets"):
        (fake / "cors" / f"{name}.py").write_text("")
    (fake / "cors" / "aws.py").write_text("from iac.cors import provider\n")
    (fake / "cors" / "otc.py").write_text("def f():\n    from iac.cors.aws import native\n")
    (fake / "cors" / "policy.py").write_text("from iac.cors.targets import PROVIDERS\n")
    (fake / "cors" / "targets.py").write_text("from iac.cors import policy\n")
    assert package_imports(fake) == [
        "iac/cors/otc.py:2: iac.cors.otc imports iac.cors.aws of its own sub-layer",
        "iac/cors/policy.py:1: iac.cors.policy imports iac.cors.targets from above",
    ]
    assert cycles(fake) == [["iac.cors.policy", "iac.cors.targets"]]


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


def test_the_contributing_layout_names_every_module_once() -> None:
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    section = guide[guide.index("## Repository layout") :]
    section = section[: section.find("\n## ", 5)] if "\n## " in section[5:] else section
    listed = re.findall(r"^\| `(iac/[\w/]+\.py)` \|", section, re.MULTILINE)
    actual = sorted(str(p.relative_to(ROOT)) for p in modules(PACKAGE) if not docstring_only(p))
    assert sorted(listed) == actual
    assert len(listed) == len(set(listed))
