"""`iac schema` and the schema `iac init` writes: what editors and check-jsonschema check iac.yaml against.

The schema is made from the config's models, so it can only say what they declare; these tests hold that it
accepts every example, refuses what `iac validate` refuses for a type, choice, bound or key, and describes each
key in the words of docs/configuration.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import EXAMPLES, ROOT
from iac.config.schema_json import MODELINE, SCHEMA_FILE, config_schema, schema_text


def test_iac_schema_prints_a_draft_2020_12_schema(cli) -> None:
    result = cli("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["project", "domain", "bucket", "allowlist"]
    assert "`iac validate` checks them" in schema["description"]
    assert result.stdout == schema_text()


def test_iac_schema_output_writes_the_file_whole(cli, tmp_path: Path) -> None:
    target = tmp_path / "iac.schema.json"
    target.write_text("old")
    result = cli("schema", "--output", target)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert target.read_text() == schema_text()
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a directory")
    result = cli("schema", "-o", blocked / "iac.schema.json")
    assert result.exit_code == 1
    assert "cannot write the schema" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "iac.schema.json"]


def test_every_example_passes_check_jsonschema(tmp_path: Path) -> None:
    schema = tmp_path / SCHEMA_FILE
    schema.write_text(schema_text())
    configs = [*sorted(EXAMPLES.glob("*/iac.yaml")), ROOT / "templates" / "starter.yaml"]
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema), *map(str, configs)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text((EXAMPLES / "documented" / "iac.yaml").read_text() + "cdn_ttl: 5\n")
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema), str(wrong)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "cdn_ttl" in done.stdout


def _documented() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / "documented" / "iac.yaml").read_text(encoding="utf-8"))
    return loaded


# Configs `iac validate` refuses for a reason the schema can state: the change to the documented example, and
# what iac says (the file's key and the message's start).
WRONG: list[tuple[dict[str, Any], str]] = [
    ({"project": 12345}, "project: input should be a valid string"),
    ({"allowlist_max_rules": 0}, "allowlist_max_rules: input should be greater than or equal to 1"),
    ({"allowlist_allow_empty": "yes"}, 'allowlist_allow_empty: "yes" is text, not a boolean'),
    ({"cdn": {"default_ttl": "3600"}}, 'cdn.default_ttl: "3600" is text, not a whole number'),
    ({"cdn": {"client_ttl": -1}}, "cdn.client_ttl: input should be greater than or equal to 0"),
    ({"cdn": {"default_ttl": 31_622_401}}, "cdn.default_ttl: input should be less than or equal to 31622400"),
    ({"cdn": {"max_ttl": 5}}, "cdn.max_ttl: unknown key"),
    ({"bucket": {"name": "encord-data", "location": "EU", "versioning": True}}, "bucket.versioning: unknown key"),
    ({"bucket": {"location": "EU"}}, "bucket.name: is required"),
    ({"bucket": "encord-data"}, "bucket: input should be a valid dictionary"),
    ({"allowlist": "39.42.20.11/32"}, "allowlist: input should be a valid list"),
    ({"domains": ["x.acme.com"]}, "domains: unknown key; did you mean 'domain'?"),
    ({"cors": {"access": "write"}}, "cors.access: input should be 'read' or 'read-write'"),
    ({"cors": {"max_age": 86401}}, "cors.max_age: input should be less than or equal to 86400"),
    ({"cors": {"targets": [{"provider": "gcs", "bucket": "acme-data"}]}}, "cors.targets[0]: unknown provider 'gcs'"),
    ({"cors": {"targets": [{"bucket": "acme-data"}]}}, "cors.targets[0]: needs a provider"),
    ({"cors": {"targets": [{"provider": "aws", "bucket": "acme-s3-data"}]}}, "cors.targets[0].region: is required"),
    (
        {"cors": {"targets": [{"provider": "azure", "account": "acmeblob", "region": "eu"}]}},
        "cors.targets[0].region: unknown key",
    ),
    ({"terraform": {"backend": {"gcs": {"bucket": "acme-tfstate", "path": "x"}}}}, "backend.gcs.path: unknown key"),
    ({"gcp": {"api_endpoint": 443}}, "gcp.api_endpoint: input should be a valid string"),
]


@pytest.mark.parametrize(("change", "message"), WRONG, ids=[message.split(":")[0] for _, message in WRONG])
def test_what_validate_refuses_for_its_form_the_schema_refuses(
    change: dict[str, Any], message: str, cli, tmp_path: Path
) -> None:
    config = {**_documented(), **change}
    path = tmp_path / "iac.yaml"
    path.write_text(yaml.safe_dump(config))
    result = cli("validate", "-c", path)
    assert result.exit_code == 1
    assert message in result.stderr, result.stderr
    assert list(jsonschema.Draft202012Validator(config_schema()).iter_errors(config)), "the schema accepts it"


def _readme_rows() -> dict[str, tuple[str, str, str]]:
    """The key tables of the configuration reference and the CORS page: key -> (required, default, meaning)."""
    rows = {}
    pages = [ROOT / "docs" / "configuration.md", ROOT / "docs" / "cors.md"]
    for line in "\n".join(page.read_text(encoding="utf-8") for page in pages).splitlines():
        cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4 and re.fullmatch(r"`[a-z_]+(\.[a-z_]+|\[\])*`", cells[0]):
            rows[cells[0].strip("`")] = (cells[1], cells[2], cells[3])
    return rows


def _documented_keys(schema: dict[str, Any], node: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every key of the schema that has a description, by its dotted name (`cors.targets[]`), and its schema."""
    found: dict[str, dict[str, Any]] = {}
    for name, property_ in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        if "description" in property_:
            found[key] = property_
        for inner in [property_, *property_.get("anyOf", [])]:
            if "$ref" in inner:
                found.update(_documented_keys(schema, schema["$defs"][inner["$ref"].split("/")[-1]], f"{key}."))
    return found


def test_the_docs_and_the_schema_describe_each_key_alike() -> None:
    """One text per key, declared beside the model's field: the configuration reference shows the same."""
    schema = config_schema()
    keys = _documented_keys(schema, schema)
    keys["cors.targets[]"] = keys.pop("cors.targets")
    rows = _readme_rows()
    assert sorted(rows) == sorted(keys)
    for key, (required, default, meaning) in rows.items():
        property_ = keys[key]
        assert property_["description"] == meaning, key
        parent, _, name = key.rstrip("[]").rpartition(".")
        node = schema
        for part in filter(None, parent.split(".")):
            holder = node["properties"][part]
            ref = next(inner["$ref"] for inner in [holder, *holder.get("anyOf", [])] if "$ref" in inner)
            node = schema["$defs"][ref.split("/")[-1]]
        # "yes", or "with `terraform.backend`": required whenever the mapping that holds it is there.
        assert (required == "yes" or required.startswith("with ")) == (name in node.get("required", [])), key
        if re.fullmatch(r"`[^`]+`", default):
            assert json.dumps(property_["default"]).strip('"') == default.strip("`"), key


def test_init_writes_the_schema_beside_the_config_and_names_it_first(cli, tmp_path: Path) -> None:
    config = tmp_path / "deploy" / "iac.yaml"
    result = cli("init", config)
    assert result.exit_code == 0, result.output
    assert config.read_text().splitlines()[0] == MODELINE == "# yaml-language-server: $schema=./iac.schema.json"
    assert (config.parent / SCHEMA_FILE).read_text() == schema_text()
    assert cli("init", tmp_path / "deploy" / "other.yaml").exit_code == 0, "the same schema is no conflict"


def test_init_replaces_another_schema_file_only_with_force(cli, tmp_path: Path) -> None:
    (tmp_path / SCHEMA_FILE).write_text("{}")
    result = cli("init", tmp_path / "iac.yaml")
    assert result.exit_code == 1
    assert f"{tmp_path / SCHEMA_FILE}: already exists with other content; use --force" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [SCHEMA_FILE]
    assert cli("init", tmp_path / "iac.yaml", "--force").exit_code == 0
    assert (tmp_path / SCHEMA_FILE).read_text() == schema_text()
    result = cli("init", tmp_path / SCHEMA_FILE)
    assert result.exit_code == 1 and "that is the name of the schema" in result.stderr


def test_init_writes_nothing_when_the_config_cannot_be_written(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import iac.files.atomic

    real = iac.files.atomic.write_atomic

    def failing_for_the_config(path: Path, content: bytes, mode: int = 0o644) -> None:
        if path.suffix == ".yaml":
            raise OSError(28, "No space left on device")
        real(path, content, mode)

    monkeypatch.setattr(iac.files.atomic, "write_atomic", failing_for_the_config)
    result = cli("init", tmp_path / "iac.yaml")
    assert result.exit_code == 1
    assert "cannot write the starter config: No space left on device" in result.stderr
    assert list(tmp_path.iterdir()) == []
    (tmp_path / SCHEMA_FILE).write_text("{}")
    assert cli("init", tmp_path / "iac.yaml", "--force").exit_code == 1
    assert (tmp_path / SCHEMA_FILE).read_text() == "{}", "the earlier schema file is put back"
