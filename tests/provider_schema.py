"""The google provider's schema, derived offline from its CDK bindings, and a checker of Terraform blocks against it.

There is no Terraform registry here, so `terraform providers schema -json` cannot run. The PyPI wheels
`cdktf-cdktf-provider-google` (CDK for Terraform, up to hashicorp/google 6.x) and `cdktn-provider-google` (CDK Terrain,
7.x and later; the same layout with `cdktn.*` base classes) carry the same schema in two forms inside
`_jsii/*.jsii.tgz`:

- `package/.jsii`, the jsii assembly: for every resource and data source a class (base `cdktf.TerraformResource` or
  `cdktf.TerraformDataSource`, `cdktn.*` in CDK Terrain) whose initializer takes a `...Config` struct; each struct
  property is optional or
  required, typed as a primitive, a list/map of primitives, or a struct (a single nested block) or list of structs
  (a repeated nested block); its docs hold the "Possible values: [...]" of enums;
- `package/lib/<resource>/index.js` (and `index-structs/*.js` for the largest resources), the mappers cdktf
  synthesizes HCL with: `XxxToHclTerraform(struct)` for each
  nested struct and `synthesizeHclAttributes()` for the resource, each listing the exact snake_case Terraform name,
  `isBlock`, the nesting (`list`, `set`, `struct`, `simple`, `map`) and the camelCase property it reads; and
  `Xxx.tfResourceType = "google_..."` (`static tfResourceType = ...` in CDK Terrain), the Terraform type name.

`build` joins the two (property by property, checking that they agree) into a compact JSON file:

    {"provider": {...}, "resources": {TYPE: BLOCK}, "data_sources": {TYPE: BLOCK}, "provider_config": BLOCK}
    BLOCK = {"attributes": {NAME: {"required": bool, "type": "string", "enum": [...]}},
             "blocks": {NAME: {"required": bool, "nesting": "list" | "set" | "single", "block": BLOCK | REF}}}
    REF = {"ref": STRUCT}: a block that contains itself (some structs of 7.x and later are recursive), defined once
          in the schema's "recursive": {STRUCT: BLOCK}

Computed-only attributes are not in the Config structs; they cannot be written, so the checker need not know them
(nor may a `lifecycle { ignore_changes = [...] }` name them here: ignoring what is never written changes nothing).
Enums are known only where the docs list "Possible values: [...]" (the generated resources); hand-written ones such as
google_compute_security_policy describe their values in prose, and those are not checked.

    python tests/provider_schema.py build OUT.json WHEEL     derive the schema from the wheel
    python tests/provider_schema.py check SCHEMA.json FILE.tf...   check resource, data and import blocks of .tf files
"""

from __future__ import annotations

import io
import json
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# --- building the schema from the wheel ---------------------------------------------------------------------

_TOP_LEVEL = re.compile(r"^(?:class|function) (\w+)", re.MULTILINE)
_TF_TYPE = re.compile(r'^(\w+)\.tfResourceType = "([\w-]+)";', re.MULTILINE)
# CDK Terrain's bindings declare it inside the class instead: `static tfResourceType = "google_...";`.
_STATIC_TF_TYPE = re.compile(r'^\s+static tfResourceType = "([\w-]+)";', re.MULTILINE)
# One entry of an `attrs = {...}` literal in a *ToHclTerraform mapper or in synthesizeHclAttributes().
_HCL_ENTRY = re.compile(
    r"^\s+(\w+): \{\n"
    r"\s+value: ([^\n]*),\n"
    r"\s+isBlock: (true|false),\n"
    r'\s+type: "(\w+)",\n'
    r'\s+storageClassType: "(\w+)",\n'
    r"\s+\},",
    re.MULTILINE,
)
_READS = re.compile(r"\b(?:struct|this)\.(_?\w+)")
# In a resource's constructor: `this._build.internalValue = config.buildAttribute;` (cdktf renames a property that
# clashes with a member of its base class, here `build`, but keeps the field name).
_FROM_CONFIG = re.compile(r"this\._(\w+)(?:\.internalValue)? = config\.(\w+);")
_POSSIBLE_VALUES = re.compile(r"Possible values: (\[[^\]]*\])")
_DOC_ANCHOR = re.compile(r"#(\w+) \w+#\1\}")
_PROVIDER_VERSION = re.compile(r"registry\.terraform\.io/providers/([\w-]+/[\w-]+)/([\d.]+)/docs")
# The CDK libraries the bindings are built on: CDK for Terraform, and its successor CDK Terrain.
_CDK_NAMESPACES = ("cdktf", "cdktn")
_RESOLVABLE = frozenset(f"{ns}.IResolvable" for ns in _CDK_NAMESPACES)
_KINDS = {
    f"{ns}.{base}": kind
    for ns in _CDK_NAMESPACES
    for base, kind in (
        ("TerraformResource", "resources"),
        ("TerraformDataSource", "data_sources"),
        ("TerraformProvider", "provider"),
    )
}


class SchemaBuildError(Exception):
    """The jsii assembly and the JavaScript mappers disagree, or a piece is missing: the wheel's layout changed."""


def read_wheel(wheel: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The jsii assembly and the text of every lib/<resource>/**.js of the wheel's jsii tarball, by path."""
    with zipfile.ZipFile(wheel) as archive:
        tarballs = [n for n in archive.namelist() if re.search(r"/_jsii/[^/]+\.jsii\.tgz$", n)]
        if len(tarballs) != 1:
            raise SchemaBuildError(f"{wheel}: expected one _jsii/*.jsii.tgz, found {tarballs}")
        tarball = archive.read(tarballs[0])
    assembly: dict[str, Any] | None = None
    scripts: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar:
            if member.name == "package/.jsii":
                assembly = json.load(_extract(tar, member))
            elif re.fullmatch(r"package/lib/[\w-]+/[\w/-]*\.js", member.name):
                # index.js, and for the largest resources also index-structs/structs*.js with the struct mappers.
                scripts[member.name.removeprefix("package/")] = _extract(tar, member).read().decode()
    if assembly is None or "types" not in assembly:
        raise SchemaBuildError(f"{wheel}: no jsii assembly (package/.jsii with types) in {tarballs[0]}")
    return assembly, scripts


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    handle = tar.extractfile(member)
    if handle is None:
        raise SchemaBuildError(f"{member.name} is not a regular file")
    return handle


def parse_mappers(script: str) -> tuple[dict[str, str], dict[str, dict[str, dict[str, Any]]]]:
    """From one index.js: class name -> Terraform type, and mapper name (lower case) -> {camelName: entry}.

    A struct's mapper is named `<struct name, first letter lowered>ToHclTerraform`; a resource's is its class's
    `synthesizeHclAttributes`, keyed here as `<class name>`. Each entry is {"name", "is_block", "type", "storage"}.
    """
    tf_types = dict(_TF_TYPE.findall(script))
    starts = list(_TOP_LEVEL.finditer(script))
    mappers: dict[str, dict[str, dict[str, Any]]] = {}
    ends = [m.start() for m in starts[1:]] + [len(script)] if starts else []
    for here, end in zip(starts, ends, strict=True):
        name = here.group(1)
        body = script[here.start() : end]
        static = _STATIC_TF_TYPE.search(body)
        if static and here.group(0).startswith("class"):
            tf_types.setdefault(name, static.group(1))
        if name.endswith("ToHclTerraform"):
            key = name.removesuffix("ToHclTerraform").lower()
            renamed: dict[str, str] = {}
        elif name in tf_types and "synthesizeHclAttributes()" in body:
            key = name.lower()
            renamed = {f"_{field}": prop for field, prop in _FROM_CONFIG.findall(body)}
            body = body[body.index("synthesizeHclAttributes()") :]
        else:
            continue
        entries: dict[str, dict[str, Any]] = {}
        for snake, value, is_block, nesting, storage in _HCL_ENTRY.findall(body):
            # CDK Terrain wraps write-only attributes in `this.markWriteOnlyAttribute(...)`: a call, not a property.
            reads = [read for read in _READS.findall(value) if read != "markWriteOnlyAttribute"]
            if len(reads) != 1:
                raise SchemaBuildError(f"{name}: cannot tell which property {snake} maps from: {value}")
            camel = renamed.get(reads[0], reads[0].removeprefix("_"))
            entries[camel] = {"name": snake, "is_block": is_block == "true", "type": nesting, "storage": storage}
        mappers[key] = entries
    return tf_types, mappers


def _doc_text(docs: Mapping[str, str]) -> str:
    return docs.get("summary", "") + "\n" + docs.get("remarks", "")


def _struct_of(type_ref: Mapping[str, Any]) -> tuple[str | None, bool]:
    """(fqn of the struct, repeated?) for a property type that is a struct or a list of structs, else (None, False)."""
    options = type_ref["union"]["types"] if "union" in type_ref else [type_ref]
    for option in options:
        if "fqn" in option and option["fqn"] not in _RESOLVABLE:
            return option["fqn"], False
        element = option.get("collection", {}).get("elementtype", {})
        if "fqn" in element and element["fqn"] not in _RESOLVABLE:
            return element["fqn"], True
    return None, False


class _Builder:
    def __init__(self, types: Mapping[str, Any], mappers: Mapping[str, dict[str, dict[str, Any]]]) -> None:
        self.types = types
        self.mappers = mappers
        self.recursive: dict[str, dict[str, Any]] = {}  # struct -> BLOCK, for the structs that contain themselves
        self._open: list[str] = []  # the structs being built, outermost first

    def block(self, fqn: str, mapper_key: str, where: str) -> dict[str, Any]:
        if fqn in self._open:
            self.recursive.setdefault(fqn, {})  # filled in when its outermost occurrence is built
            return {"ref": fqn}
        self._open.append(fqn)
        try:
            built = self._build(fqn, mapper_key, where)
        finally:
            self._open.pop()
        if fqn in self.recursive:
            self.recursive[fqn] = built
        return built

    def _build(self, fqn: str, mapper_key: str, where: str) -> dict[str, Any]:
        struct = self.types[fqn]
        entries = self.mappers.get(mapper_key)
        if entries is None:
            raise SchemaBuildError(f"{where}: no HCL mapper for {fqn}")
        attributes: dict[str, Any] = {}
        blocks: dict[str, Any] = {}
        for prop in struct.get("properties", []):
            entry = entries.get(prop["name"])
            if entry is None:
                raise SchemaBuildError(f"{where}: property {prop['name']} of {fqn} is not mapped to Terraform")
            name = entry["name"]
            anchor = _DOC_ANCHOR.search(_doc_text(prop.get("docs", {})))
            if anchor and anchor.group(1) != name:
                raise SchemaBuildError(
                    f"{where}: {fqn}.{prop['name']} maps to {name} but its docs say {anchor.group(1)}"
                )
            required = not prop.get("optional", False)
            nested, repeated = _struct_of(prop["type"])
            if (nested is not None) != entry["is_block"]:
                raise SchemaBuildError(f"{where}.{name}: jsii and the mapper disagree on whether it is a block")
            if nested is None:
                attribute: dict[str, Any] = {"required": required, "type": entry["storage"]}
                enum = _POSSIBLE_VALUES.search(_doc_text(prop.get("docs", {})))
                if enum:
                    attribute["enum"] = json.loads(enum.group(1))
                attributes[name] = attribute
            else:
                nesting = entry["type"] if repeated else "single"
                if repeated and nesting not in ("list", "set"):
                    raise SchemaBuildError(f"{where}.{name}: repeated block with nesting {nesting}")
                key = self.types[nested]["name"].lower()
                child = self.block(nested, key, f"{where}.{name}")
                blocks[name] = {"required": required, "nesting": nesting, "block": child}
        unused = sorted(set(entries) - {p["name"] for p in struct.get("properties", [])})
        if unused:
            raise SchemaBuildError(f"{where}: the mapper writes properties {fqn} does not declare: {unused}")
        return {"attributes": attributes, "blocks": blocks}


def build_schema(assembly: Mapping[str, Any], scripts: Mapping[str, str]) -> dict[str, Any]:
    """The derived schema (see the module docstring) of every resource, data source and the provider itself."""
    types = assembly["types"]
    by_class: dict[str, str] = {}
    mappers: dict[str, dict[str, dict[str, Any]]] = {}
    for path, script in sorted(scripts.items()):
        names, found = parse_mappers(script)
        for class_name, tf_type in names.items():
            if by_class.setdefault(class_name, tf_type) != tf_type:
                raise SchemaBuildError(f"{path}: class {class_name} is also {by_class[class_name]}")
        for key, entries in found.items():
            # Struct names are unique across the bindings; a clash would silently mix two schemas.
            if mappers.setdefault(key, entries) != entries:
                raise SchemaBuildError(f"{path}: mapper {key} is defined twice with different entries")
    builder = _Builder(types, mappers)
    schema: dict[str, Any] = {"resources": {}, "data_sources": {}}
    version: tuple[str, str] | None = None
    for fqn, cls in sorted(types.items()):
        kind = _KINDS.get(cls.get("base", "")) if cls.get("kind") == "class" else None
        if kind is None:
            continue
        if cls["name"] not in by_class:
            raise SchemaBuildError(f"{fqn}: no tfResourceType in its index.js")
        tf_type = by_class[cls["name"]]
        [config] = [p for p in cls["initializer"]["parameters"] if p["name"] == "config"]
        block = builder.block(config["type"]["fqn"], cls["name"].lower(), tf_type)
        if kind == "provider":
            schema["provider_config"] = block
            registry = _PROVIDER_VERSION.search(cls["docs"].get("summary", ""))
            version = (registry.group(1), registry.group(2)) if registry else None
        else:
            schema[kind][tf_type] = block
    if version is None or "provider_config" not in schema:
        raise SchemaBuildError("no provider class with a registry link naming the provider version")
    if builder.recursive:
        schema["recursive"] = builder.recursive
    schema["provider"] = {
        "source": version[0],
        "version": version[1],
        "bindings": f"{assembly['name']}@{assembly['version']}",
    }
    return schema


def build(out: Path, wheel: Path) -> dict[str, Any]:
    schema = build_schema(*read_wheel(wheel))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
    partial.replace(out)
    return schema


# --- checking Terraform blocks against it ----------------------------------------------------------------------

# Arguments and nested blocks Terraform itself defines on every resource and data block.
META_ATTRIBUTES = frozenset({"count", "for_each", "depends_on", "provider"})
META_BLOCKS = frozenset({"lifecycle", "provisioner", "connection"})


def _optional(*names: str) -> dict[str, Any]:
    return {name: {"required": False, "type": "any"} for name in names}


def _condition() -> dict[str, Any]:
    attributes = {name: {"required": True, "type": "any"} for name in ("condition", "error_message")}
    return {"required": False, "nesting": "list", "block": {"attributes": attributes, "blocks": {}}}


# Terraform's own resource types (its built-in `terraform` provider, never downloaded), and the `lifecycle` block of
# every resource, as Terraform's documentation of terraform_data and of the lifecycle meta-argument lists them.
BUILTIN_RESOURCES: dict[str, dict[str, Any]] = {
    "terraform_data": {"attributes": _optional("input", "triggers_replace"), "blocks": {}},
}
LIFECYCLE: dict[str, Any] = {
    "attributes": _optional("create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"),
    "blocks": {"precondition": _condition(), "postcondition": _condition()},
}
# Terraform's `import` block (1.5+): the resource address to import into, and the provider's id of the object (or,
# from 1.12, its `identity` instead).
IMPORT: dict[str, Any] = {
    "attributes": {"to": {"required": True, "type": "any"}, **_optional("id", "identity", "for_each", "provider")},
    "blocks": {},
}
# A resource address as an import's `to` names it: module path, type, name, instance key.
_ADDRESS = re.compile(r"(?:module\.\w+(?:\[[^\]]*\])?\.)*([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?")
_INTERPOLATION = re.compile(r"\$\{|%\{")
_BOOKKEEPING = ("__is_block__", "__comments__", "__inline_comments__")  # what python-hcl2 adds to bodies


def _is_block(value: Any) -> bool:
    return isinstance(value, dict) and value.get("__is_block__") is True


def _literal_string(value: Any) -> str | None:
    """The text of a quoted literal without interpolation, as python-hcl2 gives it ('"TEXT"'); None for expressions."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        if not _INTERPOLATION.search(inner.replace("$${", "").replace("%%{", "")):
            return inner
    return None


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _expression(value: Any) -> str:
    """The text of an expression as python-hcl2 gives it (`${...}` around all but a bare name)."""
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _ignored(lifecycle: Mapping[str, Any], schema: Mapping[str, Any], where: str) -> Iterator[tuple[str, str]]:
    """Each name in `ignore_changes` that is neither an argument nor a nested block of the resource (`schema`):
    Terraform refuses it, but only once the provider's schema is loaded, which it cannot be offline."""
    ignored = lifecycle.get("ignore_changes")
    if ignored is None or _expression(ignored) == "all":
        return
    for item in ignored if isinstance(ignored, list) else [ignored]:
        name = re.split(r"[.\[]", _expression(item), maxsplit=1)[0]
        if name not in schema["attributes"] and name not in schema["blocks"]:
            yield f"{where}.ignore_changes", f"{name!r} is neither an argument nor a block of the resource"


def check_body(
    body: Mapping[str, Any],
    schema: Mapping[str, Any],
    path: str = "",
    recursive: Mapping[str, Any] | None = None,
) -> Iterator[tuple[str, str]]:
    """Problems of one block body (python-hcl2 form) against a schema BLOCK, as (path.to.attr, what is wrong).

    `recursive` is the schema's table of recursive blocks, which a {"ref": STRUCT} block names. The meta-arguments
    Terraform defines on every resource and data block are accepted at the top (path "") only.
    """
    recursive = recursive or {}
    if "ref" in schema:
        schema = recursive[schema["ref"]]
    top = not path
    attributes = schema["attributes"]
    blocks = schema["blocks"]
    written_blocks: dict[str, list[dict[str, Any]]] = {}
    written_attributes: dict[str, Any] = {}
    for raw_key, value in body.items():
        if raw_key in _BOOKKEEPING:
            continue
        key = _unquote(raw_key)
        if key == "dynamic" and isinstance(value, list):
            # dynamic "x" { for_each = ... content { ... } }: zero or more x blocks, each with the body of `content`.
            for dynamic in value:
                for label, spec in dynamic.items():
                    if label in _BOOKKEEPING:
                        continue
                    name = _unquote(label)
                    contents = [c for c in spec.get("content", []) if _is_block(c)]
                    if len(contents) != 1:
                        yield _join(path, name), "a dynamic block needs exactly one content block"
                    written_blocks.setdefault(name, []).extend(contents)
            continue
        if isinstance(value, list) and value and all(_is_block(v) for v in value):
            written_blocks.setdefault(key, []).extend(value)
        else:
            written_attributes[key] = value

    for key, value in written_attributes.items():
        where = _join(path, key)
        if top and key in META_ATTRIBUTES:
            continue
        if key in blocks:
            yield where, f"is a nested block, written as an attribute (write `{key} {{ ... }}`)"
        elif key not in attributes:
            yield where, "unknown attribute"
        else:
            enum = attributes[key].get("enum")
            literal = _literal_string(value)
            if enum and literal is not None and literal not in enum:
                yield where, f"{literal!r} is not one of the possible values {enum}"

    for key, written in written_blocks.items():
        where = _join(path, key)
        if top and key in META_BLOCKS:
            if key == "lifecycle":
                for item in written:
                    yield from check_body(item, LIFECYCLE, where, recursive)
                    yield from _ignored(item, schema, where)
            continue
        if key in attributes:
            yield where, f"is an attribute, written as a block (write `{key} = ...`)"
        elif key not in blocks:
            yield where, "unknown block"
        else:
            spec = blocks[key]
            if spec["nesting"] == "single" and len(written) > 1:
                yield where, f"written {len(written)} times, allowed at most once"
            for item in written:
                yield from check_body(item, spec["block"], where, recursive)

    present = set(written_attributes) | set(written_blocks)
    for key, attribute in sorted(attributes.items()):
        if attribute["required"] and key not in present:
            yield _join(path, key), "required attribute missing"
    for key, spec in sorted(blocks.items()):
        if spec["required"] and key not in present:
            yield _join(path, key), "required block missing"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@dataclass
class Findings:
    """What checking .tf files found: problems (`file: address: path.to.attr: what is wrong`), the addresses checked
    and those skipped because their type is neither the google provider's nor Terraform's own (aws_* and the like),
    each as `file: address`."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, other: Findings) -> None:
        self.problems += other.problems
        self.checked += other.checked
        self.skipped += other.skipped


def check_document(parsed: Mapping[str, Any], schema: Mapping[str, Any], file: str) -> Findings:
    """Every resource, data and import block, and the google provider block, of one .tf file parsed by python-hcl2."""
    findings = Findings()

    def check(address: str, body: Mapping[str, Any], block: Mapping[str, Any]) -> None:
        findings.checked.append(f"{file}: {address}")
        problems = check_body(body, block, recursive=schema.get("recursive"))
        findings.problems.extend(f"{file}: {address}: {where}: {what}" for where, what in problems)

    for keyword, table, prefix in (("resource", "resources", ""), ("data", "data_sources", "data.")):
        for group in parsed.get(keyword, []):
            for raw_type, named in group.items():
                tf_type = _unquote(raw_type)
                for raw_name, body in named.items():
                    if raw_name in _BOOKKEEPING:
                        continue
                    address = f"{prefix}{tf_type}.{_unquote(raw_name)}"
                    if keyword == "resource" and tf_type in BUILTIN_RESOURCES:
                        check(address, body, BUILTIN_RESOURCES[tf_type])
                    elif not tf_type.startswith("google_"):
                        findings.skipped.append(f"{file}: {address}")
                    elif tf_type not in schema[table]:
                        findings.problems.append(f"{file}: {address}: {tf_type}: unknown {keyword} type")
                    else:
                        check(address, body, schema[table][tf_type])
    for body in parsed.get("import", []):
        target = _ADDRESS.fullmatch(_expression(body.get("to", "")))
        address = f"import to {_expression(body['to'])}" if "to" in body else "import"
        if target is None and "to" in body:
            findings.problems.append(f"{file}: {address}: to: not a resource address")
            continue
        tf_type = target.group(1) if target else ""
        if target and not tf_type.startswith("google_") and tf_type not in BUILTIN_RESOURCES:
            findings.skipped.append(f"{file}: {address}")
            continue
        check(address, body, IMPORT)
        if "id" not in body and "identity" not in body:
            findings.problems.append(f"{file}: {address}: id: required attribute missing")
        if target and tf_type.startswith("google_") and tf_type not in schema["resources"]:
            findings.problems.append(f"{file}: {address}: {tf_type}: unknown resource type")
    for group in parsed.get("provider", []):
        for raw_name, body in group.items():
            if _unquote(raw_name) == "google":
                check("provider.google", body, schema["provider_config"])
    return findings


def check_text(text: str, schema: Mapping[str, Any], file: str) -> Findings:
    import hcl2

    return check_document(hcl2.loads(text), schema, file)


def load(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[0] == "build":
        schema = build(Path(args[1]), Path(args[2]))
        provider = schema["provider"]
        print(
            f"{args[1]}: {provider['source']} {provider['version']}: {len(schema['resources'])} resources, "
            f"{len(schema['data_sources'])} data sources"
        )
        return 0
    if len(args) >= 3 and args[0] == "check":
        schema = load(Path(args[1]))
        findings = Findings()
        for file in args[2:]:
            findings.add(check_text(Path(file).read_text(), schema, file))
        for block in findings.skipped:
            print(f"skipped (not a google resource): {block}", file=sys.stderr)
        print("\n".join(findings.problems) or f"no problems in {len(findings.checked)} blocks")
        return 1 if findings.problems else 0
    print(__doc__.split("\n\n")[-1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
