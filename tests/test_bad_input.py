"""Every rejected input: one clear message naming file, line, field and value; exit 1; nothing written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

VALID = """\
project: my-gcp-project
name: encord-da
domain: encord-directaccess.acme.com
dns_zone: acme-com
bucket:
  name: encord-data
  location: EU
  create: true
allowlist:
  - 39.42.20.11/32
  - 130.192.120.23/32
cdn:
  default_ttl: 3600
terraform:
  backend:
    gcs: {bucket: acme-tfstate, prefix: encord-da}
"""


def edit(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


# (case id, config text, fragments the message must contain: where, which field, which value, what to do)
CASES = [
    (
        "typo-top-level",
        edit("dns_zone:", "dns_zon:"),
        ["cfg.yaml:4: dns_zon: unknown key; did you mean 'dns_zone'?"],
    ),
    (
        "typo-nested",
        edit("  location: EU", "  locaton: EU"),
        ["cfg.yaml:7: bucket.locaton: unknown key", "'location'"],
    ),
    ("missing-project", edit("project: my-gcp-project\n", ""), ["project: is required"]),
    ("missing-allowlist", VALID.split("allowlist:")[0] + "cdn: {}\n", ["allowlist: is required"]),
    (
        "wrong-type-bool",
        edit("create: true", 'create: "yes"'),
        ["cfg.yaml:8: bucket.create:", '"yes" is text, not a boolean', "write true or false without quotes"],
    ),
    (
        "wrong-type-int",
        edit("default_ttl: 3600", 'default_ttl: "3600"'),
        ["cdn.default_ttl:", '"3600" is text, not a whole number', "write the number without quotes"],
    ),
    (
        "ttl-out-of-range",
        edit("default_ttl: 3600", "default_ttl: -5"),
        ["cdn.default_ttl:", "greater than or equal to 0"],
    ),
    (
        "project-id",
        edit("my-gcp-project", "My GCP Project"),
        ["cfg.yaml:1: project: 'My GCP Project' is not a GCP project ID"],
    ),
    ("name-too-long", edit("name: encord-da", "name: " + "a" * 23), ["name:", "1-22 characters"]),
    (
        "domain-with-scheme",
        edit("domain: encord", "domain: https://encord"),
        ["cfg.yaml:3: domain:", "not a fully qualified hostname"],
    ),
    (
        "domain-uppercase",
        edit("encord-directaccess.acme.com", "Encord.Acme.com"),
        ["domain:", "must be lowercase: write 'encord.acme.com'"],
    ),
    (
        "zone-as-dns-name",
        edit("dns_zone: acme-com", "dns_zone: acme.com"),
        ["cfg.yaml:4: dns_zone: 'acme.com' looks like a DNS name", "'acme-com'"],
    ),
    (
        "bucket-name-google",
        edit("name: encord-data", "name: my-google-data"),
        ["bucket.name: 'my-google-data'", "google"],
    ),
    (
        "bucket-name-upper",
        edit("name: encord-data", "name: Encord_Data"),
        ["bucket.name:", "lowercase letters"],
    ),
    (
        "bucket-name-ip",
        edit("name: encord-data", "name: 192.168.5.4"),
        ["bucket.name:", "must not be an IP address"],
    ),
    (
        "location-required",
        edit("  location: EU\n", ""),
        ["bucket.location: is required when bucket.create is true"],
    ),
    (
        "allowlist-host-bits",
        edit("130.192.120.23/32", "130.192.120.23/24"),
        [
            "cfg.yaml:11: allowlist[1]: '130.192.120.23/24' has host bits set",
            "130.192.120.0/24",
            "130.192.120.23/32",
        ],
    ),
    (
        "allowlist-private",
        edit("39.42.20.11/32", "10.20.30.40/32"),
        ["cfg.yaml:10: allowlist[0]: '10.20.30.40/32' is in 10.0.0.0/8"],
    ),
    (
        "allowlist-everything",
        edit("39.42.20.11/32", "0.0.0.0/0"),
        ["allowlist[0]: '0.0.0.0/0' would allow the whole internet"],
    ),
    (
        "allowlist-everything-v6",
        edit("39.42.20.11/32", '"::/0"'),
        ["allowlist[0]: '::/0' would allow the whole internet"],
    ),
    ("allowlist-star", edit("39.42.20.11/32", '"*"'), ["allowlist[0]: '*' would allow every address"]),
    (
        "allowlist-garbage",
        edit("39.42.20.11/32", "not-an-ip"),
        ["allowlist[0]: 'not-an-ip' is not an IP address or CIDR"],
    ),
    (
        "allowlist-empty",
        edit("  - 39.42.20.11/32\n  - 130.192.120.23/32\n", "").replace("allowlist:\n", "allowlist: []\n"),
        ["allowlist: is empty", "lock everyone out"],
    ),
    (
        "allowlist-not-a-list",
        edit("  - 39.42.20.11/32\n  - 130.192.120.23/32\n", "").replace("allowlist:\n", "allowlist: 39.42.20.11/32\n"),
        ["allowlist: input should be a valid list"],
    ),
    (
        "allowlist-over-limit",
        edit("name: encord-da", "name: encord-da\nallowlist_max_rules: 1").replace(
            "  - 130.192.120.23/32\n", "".join(f"  - 34.90.{i}.1/32\n" for i in range(0, 30, 2))
        ),
        ["16 ranges need 2 Cloud Armor rules of 10, but allowlist_max_rules is 1: remove or merge 6 ranges"],
    ),
    (
        "hostile-newline-in-prefix",
        edit("prefix: encord-da}", 'prefix: "a\\nb"}'),
        ["terraform.backend.gcs.prefix:", "control characters"],
    ),
    (
        "hostile-quote-in-domain",
        edit("domain: encord-directaccess.acme.com", 'domain: \'x" } resource "evil" {\''),
        ["domain:", "not a fully qualified hostname"],
    ),
    (
        "hostile-interpolation-in-name",
        edit("name: encord-da", 'name: "${file(\\"/etc/passwd\\")}"'),
        ["name:", "1-22 characters"],
    ),
    (
        "duplicate-key",
        edit("domain: encord-directaccess.acme.com", "domain: a.acme.com\ndomain: b.acme.com"),
        ["cfg.yaml:4: domain: given twice (first on line 3)"],
    ),
    (
        "yaml-syntax",
        edit("  - 130.192.120.23/32", "  - [130.192.120.23/32"),
        ["cfg.yaml:", "YAML syntax error"],
    ),
    ("not-a-mapping", "- just\n- a list\n", ["cfg.yaml:1: the config must be a mapping", "not a list"]),
    ("empty-file", "", ["the config must be a mapping", "not an empty file"]),
]


def snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(directory.rglob("*"))
    }


@pytest.fixture
def rendered_dir(tmp_path: Path, cli) -> Path:
    """An output directory holding a previous good render plus a file of the user's."""
    config = tmp_path / "good.yaml"
    config.write_text(VALID)
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    (out / "terraform.tfstate").write_text('{"version": 4}')
    return out


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_config_is_rejected_clearly_and_writes_nothing(
    tmp_path: Path, cli, rendered_dir: Path, text: str, fragments: list[str]
) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(text)
    before = snapshot(rendered_dir)
    fresh = tmp_path / "fresh"

    for out in (rendered_dir, fresh):
        result = cli("render", "-c", config, "-o", out)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        for fragment in fragments:
            assert fragment.replace("cfg.yaml", str(config)) in result.stderr, result.stderr
        assert result.stderr.rstrip().endswith("nothing was written")

    assert snapshot(rendered_dir) == before
    assert not fresh.exists()

    # validate says the same, without "nothing was written": it never writes.
    validated = cli("validate", "-c", config)
    assert validated.exit_code == 1
    assert validated.stderr == result.stderr.rstrip().removesuffix("; nothing was written") + "\n"


def test_missing_config_file_says_how_to_create_one(tmp_path: Path, cli) -> None:
    result = cli("render", "-c", tmp_path / "nope.yaml", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope.yaml'}: no such config file (create one with `iac init" in result.stderr
    assert not (tmp_path / "out").exists()


def test_not_utf8_config(tmp_path: Path, cli) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("domain: caf\xe9.acme.com\n".encode("latin-1"))
    result = cli("validate", "-c", config)
    assert result.exit_code == 1
    assert "not UTF-8 text" in result.stderr


def test_output_path_that_is_a_file(tmp_path: Path, cli) -> None:
    config = tmp_path / "good.yaml"
    config.write_text(VALID)
    blocker = tmp_path / "build"
    blocker.write_text("not a directory")
    result = cli("render", "-c", config, "-o", blocker)
    assert result.exit_code == 1
    assert "exists and is not a directory" in result.stderr
    assert blocker.read_text() == "not a directory"
