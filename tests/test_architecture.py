"""The architecture, checked: layers import only downwards, no private names cross modules, each fact once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "iac"
MODULE_DIR = ROOT / "modules" / "gcp-direct-access"
# The allowlist root's module: the allow rules of the policies MODULE_DIR creates, found by their names.
ALLOWLIST_MODULE_DIR = ROOT / "modules" / "gcp-direct-access-allowlist"

# The modules directly in iac/: the package's entry points and the foundations every package may import.
# Everything else lives in a package named for its concern.
FOUNDATIONS = frozenset({"__init__", "__main__", "errors", "words", "defaults", "untrusted", "signals"})

# Lowest first. A foundation module or a package imports only from its own layer and the layers below it, never
# from above; two packages of one layer never import each other (SIDEWAYS lists the exceptions).
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__init__", "words", "defaults"}),
    frozenset({"errors"}),
    frozenset({"signals"}),
    frozenset({"untrusted"}),
    frozenset({"files"}),
    frozenset({"allowlist"}),
    frozenset({"config"}),
    frozenset({"gcp"}),
    frozenset({"terraform"}),
    frozenset({"cors", "manifest", "edits"}),
    frozenset({"deploy", "doctor"}),
    frozenset({"cli", "__main__"}),
)
# Modules that never import each other, in either direction: the Terraform and the CORS documents render apart
# (both use the templates and the one HCL escaping path of iac.terraform, and the CORS rule of iac.config).
APART = (("iac.terraform.render", "iac.cors"),)

# The longest a module may grow: one concern, read in one sitting.
MAX_LINES = 500


# Inside a package, its modules are layered the same way, lowest first; a module imports only from the sub-layers
# below its own, never from a module of its own sub-layer (those are alternatives, e.g. the CORS providers).
SUBLAYERS: dict[str, tuple[frozenset[str], ...]] = {
    "files": (
        frozenset({"durations", "inputs", "atomic"}),
        frozenset({"ledger"}),
        frozenset({"locks"}),
        frozenset({"output"}),
    ),
    "allowlist": (
        frozenset({"ranges"}),
        frozenset({"rules"}),
        frozenset({"baseline"}),
    ),
    "config": (
        frozenset({"schema", "text"}),
        frozenset({"yamldoc"}),
        frozenset({"values"}),
        frozenset({"cors"}),
        frozenset({"models"}),
        frozenset({"messages"}),
        frozenset({"load"}),
        frozenset({"schema_json"}),
    ),
    "gcp": (
        frozenset({"credentials", "names"}),
        frozenset({"storage", "invalidate", "log_entries"}),
        frozenset({"denied"}),
    ),
    "terraform": (
        frozenset({"layout"}),
        frozenset({"hcl", "runner", "extras"}),
        frozenset({"templates", "plan", "state"}),
        frozenset({"render", "summary"}),
    ),
    "edits": (
        frozenset({"allowlist_text"}),
        frozenset({"allowlist", "hmac_key"}),
    ),
    "cli": (
        frozenset({"group"}),
        frozenset({"common"}),
        frozenset({"allowlist", "cors", "doctor", "hmac", "invalidate", "manifest", "schema"}),
        frozenset({"__init__"}),
    ),
    "deploy": (
        frozenset({"invalidation"}),
        frozenset({"flow"}),
        frozenset({"lock", "rotate"}),
    ),
    "cors": (
        frozenset({"policy"}),
        frozenset({"provider", "s3rules"}),
        frozenset({"aws", "azure", "gcs", "otc"}),
        frozenset({"targets"}),
    ),
    "manifest": (
        frozenset({"formats", "problems", "objects", "registrations"}),
        frozenset({"jsonpos", "urls", "media", "bucket", "batches", "encord_client", "register_report"}),
        frozenset({"csvcheck", "jsoncheck"}),
        frozenset({"generate", "validate", "register_run"}),
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
# Imports between two members of one layer of LAYERS (neither above the other): listed so that a new one is seen;
# each is for its owner to resolve or to justify here. (Those between modules of one package became its sub-layers.)
SIDEWAYS = {
    ("__main__", "cli"),  # `python -m iac` runs the CLI
}


def component(path: Path, package: Path) -> str:
    """`cors` for iac/cors/gcs.py, `errors` for iac/errors.py: a package or a foundation module."""
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
    return problems


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def apart_imports(package: Path) -> list[str]:
    """Imports between modules that APART keeps apart."""
    problems = []
    for source, edges in sorted(import_graph(package).items()):
        for target, line in sorted(edges.items()):
            for one, other in APART:
                if (within(source, one) and within(target, other)) or (within(source, other) and within(target, one)):
                    problems.append(f"{source.replace('.', '/')}.py:{line}: {source} and {target} must stay apart")
    return problems


def package_cycles(package: Path) -> list[list[str]]:
    """Every set of packages (and foundation modules) that import each other in a circle."""
    graph: dict[str, set[str]] = {}
    for source, edges in import_graph(package).items():
        own = source.split(".")[1] if "." in source else "__init__"
        for target in edges:
            other = target.split(".")[1] if "." in target else "__init__"
            if other != own:
                graph.setdefault(own, set()).add(other)
    return strongly_connected({node: sorted(targets) for node, targets in graph.items()})


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
    """Every set of modules that import each other in a circle."""
    return strongly_connected({node: list(edges) for node, edges in import_graph(package).items()})


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of two or more nodes: the circles of imports."""
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


def test_the_apart_modules_never_import_each_other() -> None:
    assert apart_imports(PACKAGE) == []


def test_no_package_is_in_an_import_cycle() -> None:
    assert package_cycles(PACKAGE) == []


def test_iac_holds_only_packages_and_the_foundations() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == FOUNDATIONS, f"move {sorted(top - FOUNDATIONS)} into the package of its concern"
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    # A built package also holds the shipped templates/ and modules/ (pyproject.toml); they are data, not code.
    packages = {name for name in folders if (PACKAGE / name / "__init__.py").is_file()}
    assert folders - packages <= {"templates", "modules"}
    assert packages == set(SUBLAYERS), "place each package in SUBLAYERS"
    assert packages | FOUNDATIONS == set().union(*LAYERS), "place each package in LAYERS"


def test_every_package_says_what_it_owns_and_what_it_may_import() -> None:
    for package in SUBLAYERS:
        docstring = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
        assert docstring, f"iac/{package}/__init__.py: say what the package owns and what it may import"
        assert "import" in docstring.lower(), f"iac/{package}/__init__.py: say what the package may import"


def test_no_module_is_longer_than_one_sitting() -> None:
    long = {str(p.relative_to(ROOT)): n for p in modules(PACKAGE) if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these by concern (at most {MAX_LINES} lines): {long}"


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
    (fake / "config").mkdir(parents=True)
    (fake / "terraform").mkdir()
    (fake / "cors").mkdir()
    (fake / "config" / "models.py").write_text("from iac.cli import app\n\n\ndef f():\n    from iac.gcp import _x\n")
    (fake / "terraform" / "render.py").write_text("from ..cors.policy import encord_rule\n")
    (fake / "cors" / "policy.py").write_text("")
    assert upward_imports(fake) == [
        "iac/config/models.py:1: iac.config imports iac.cli from above",
        "iac/config/models.py:5: iac.config imports iac.gcp from above",
        "iac/terraform/render.py:1: iac.terraform imports iac.cors from above",
    ]
    assert apart_imports(fake) == [
        "iac/terraform/render.py:1: iac.terraform.render and iac.cors.policy must stay apart"
    ]
    assert private_imports(fake) == ["iac/config/models.py:5: from iac.gcp import _x"]


def test_the_package_cycle_check_catches_two_packages_importing_each_other(tmp_path: Path) -> None:
    fake = tmp_path / "iac"
    (fake / "config").mkdir(parents=True)
    (fake / "files").mkdir()
    (fake / "config" / "models.py").write_text("from iac.files.output import write_atomic\n")
    (fake / "files" / "output.py").write_text("def f():\n    from iac.config import models\n")
    assert package_cycles(fake) == [["config", "files"]]


# --- each fact once: where Python must know what the module does, a test pins the pairing ----------------


def module_text(directory: Path = MODULE_DIR) -> str:
    return "".join(p.read_text() for p in sorted(directory.glob("*.tf")))


def test_resource_names_match_the_module() -> None:
    """ResourceNames against both modules: the serving module names each resource, and the allowlist module
    derives the names of the serving module's two policies from the same `name` to add its rules to them."""
    from iac.gcp.names import SUFFIXES

    text = module_text()
    rules = module_text(ALLOWLIST_MODULE_DIR)
    for what, suffix in SUFFIXES.items():
        if what in ("edge_policy", "backend_policy"):
            # One for_each resource named "${var.name}-${each.key}-policy" over the keys edge and backend.
            key = what.removesuffix("_policy")
            assert 'name        = "${var.name}-${each.key}-policy"' in text
            assert re.search(rf"^\s*{key}\s*=\s*\"CLOUD_ARMOR", text, re.MULTILINE), key
            assert suffix == f"-{key}-policy"
            # The allowlist module finds the policy by the same name, under the same key.
            assert re.search(rf'^\s*{key}\s*=\s*"\$\{{var\.name\}}{re.escape(suffix)}"\s*$', rules, re.MULTILINE), key
            continue
        attribute = "account_id" if what == "reader" else "name"
        assert re.search(rf'^\s*{attribute}\s*=\s*"\$\{{var\.name\}}{re.escape(suffix)}"\s*$', text, re.MULTILINE), what


def test_cloud_armor_limits_match_the_module() -> None:
    from iac.allowlist.ranges import DEFAULT_RULE_PRIORITY, RANGES_PER_RULE

    # The allow rules are the allowlist module's; the default deny rule is in each policy of the serving module.
    variables = (ALLOWLIST_MODULE_DIR / "variables.tf").read_text()
    assert f"length(rule.ranges) <= {RANGES_PER_RULE}" in variables
    assert f"rule.priority <= {DEFAULT_RULE_PRIORITY - 1}" in variables
    assert f"priority    = {DEFAULT_RULE_PRIORITY}" in (MODULE_DIR / "security-policy.tf").read_text()
    assert "rule.ranges" not in (MODULE_DIR / "variables.tf").read_text()


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
