"""What iac ignores or leaves in place is said, not accepted silently (issue 27.4): a key that has no effect,
the starter's example values, and an address removed as an entry that another entry still allows."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import EXAMPLES, ok

OWN = """\
project: acme-annotations-prod
name: encord-da
domain: data.acme-labs.example
bucket:
  name: acme-annotation-images
  create: false
  origin_region: europe-west4
allowlist:
  - 81.2.69.160/28   # Lisbon office
  - 81.2.69.161/32   # Lisbon printer
  - 39.42.20.11/32   # Porto NAT A
"""


def test_a_location_for_an_existing_bucket_is_said_to_be_ignored(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(OWN.replace("  create: false\n", "  create: false\n  location: EU\n"))
    result = cli("validate", "-c", config, "--json")
    assert result.exit_code == 0, result.output
    [warning] = json.loads(result.stdout)["warnings"]
    assert warning.startswith(f"{config}:7: bucket.location: is ignored: the bucket exists")
    rendered = cli("render", "-c", config, "-o", tmp_path / "build")
    ok(rendered)
    assert "bucket.location: is ignored" in rendered.stderr
    config.write_text(OWN)
    assert json.loads(cli("validate", "-c", config, "--json").stdout)["warnings"] == []


def test_validate_names_the_starter_values_left_in_the_config(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    ok(cli("init", config))
    config.write_text(config.read_text().replace("allowlist: []", "allowlist: [39.42.20.11]"))
    result = cli("validate", "-c", config)
    ok(result)
    for key, value in [
        ("project", "my-gcp-project"),
        ("domain", "encord-directaccess.acme.com"),
        ("dns_zone", "acme-com"),
        ("bucket.name", "encord-data"),
    ]:
        assert f"warning: {config}: {key}: {value!r} is the starter config's example: set " in result.stderr
    own = tmp_path / "own.yaml"
    own.write_text(OWN)
    assert "starter config" not in cli("validate", "-c", own).stderr


def test_removing_an_entry_another_still_covers_says_which(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(OWN)
    result = cli("allowlist", "remove", "81.2.69.161", "-c", config, "-o", tmp_path / "build", "--json")
    ok(result)
    document = json.loads(result.stdout)
    [notice] = document["notices"]
    assert notice == (
        "81.2.69.161/32 is removed as an entry but stays allowed: it lies inside 81.2.69.160/28 "
        "('- 81.2.69.160/28   # Lisbon office'), which stays in the allowlist; remove that entry too to refuse it"
    )
    assert "Lisbon printer" not in config.read_text()
    plain = cli("allowlist", "remove", "39.42.20.11", "-c", config, "-o", tmp_path / "build")
    ok(plain)
    assert "stays allowed" not in plain.output


def test_examples_validate_without_a_doubt_they_do_not_mean(cli) -> None:
    result = cli("validate", "-c", EXAMPLES / "existing-bucket" / "iac.yaml", "--json")
    ok(result)
    assert json.loads(result.stdout)["warnings"] == []
