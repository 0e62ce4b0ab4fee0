"""Allowlist normalisation: what Cloud Armor will be told to let through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iac.allowlist.ranges import DEFAULT_MAX_RULES, RANGES_PER_RULE, Allowlist, over_limit_message
from iac.allowlist.rules import pack
from iac.config.load import validate_document
from iac.config.yamldoc import parse_yaml
from iac.errors import ConfigError

_CONFIG = "project: my-gcp-project\ndomain: data.acme.com\nbucket: {name: encord-data, location: EU}\nallowlist:\n"


def normalise(entries: list[object]) -> Allowlist:
    """The allowlist of a config listing `entries`, through the same validation as `iac validate`."""
    text = _CONFIG + "".join(f"  - {json.dumps(entry)}\n" for entry in entries)
    return validate_document(parse_yaml(text, Path("iac.yaml"))).allowlist


def test_bare_addresses_become_host_ranges() -> None:
    assert normalise(["39.42.20.11", "2a00:1450:4001::1"]).ranges == (
        "39.42.20.11/32",
        "2a00:1450:4001::1/128",
    )


def test_duplicates_overlaps_and_neighbours_collapse() -> None:
    result = normalise(
        [
            "130.192.120.23/32",
            "130.192.120.23",  # duplicate written differently
            "81.2.69.0/25",
            "81.2.69.128/25",  # adjacent: together one /24
            "81.2.69.7/32",  # inside the /24
            " 34.90.1.1/32 ",  # surrounding blanks are ignored
        ]
    )
    assert result.ranges == ("34.90.1.1/32", "81.2.69.0/24", "130.192.120.23/32")
    assert result.entries == 6


def test_order_is_stable_ipv4_then_ipv6_by_address() -> None:
    entries = ["2a00:1450::/32", "130.192.120.23/32", "2001:4860::/32", "39.42.20.11/32", "9.9.9.9"]
    expected = ("9.9.9.9/32", "39.42.20.11/32", "130.192.120.23/32", "2001:4860::/32", "2a00:1450::/32")
    assert normalise(entries).ranges == expected
    assert normalise(list(reversed(entries))).ranges == expected


def test_one_address_changes_one_entry() -> None:
    base = [f"34.90.{i}.1/32" for i in range(0, 60, 2)]
    before = normalise(base).ranges
    after = normalise([*base, "34.90.31.1"]).ranges
    assert len(after) == len(before) + 1
    assert set(after) - set(before) == {"34.90.31.1/32"}


def test_rules_split_into_chunks_of_ten_in_order() -> None:
    entries = [f"52.16.{i}.0/24" for i in range(0, 46, 2)]  # 23 separate /24s
    result = normalise(entries)
    rules = pack(result.ranges)
    assert result.rule_count == 3
    assert [len(rule.ranges) for rule in rules] == [10, 10, 3]
    assert [rule.priority for rule in rules] == [1000, 1001, 1002]
    assert [r for rule in rules for r in rule.ranges] == list(result.ranges)
    assert RANGES_PER_RULE == 10


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "130.192.120.23/24",
            "did you mean the network 130.192.120.0/24 or the single address 130.192.120.23/32",
        ),
        ("2a00:1450:4001::1/48", "did you mean the network 2a00:1450:4001::/48"),
        ("0.0.0.0/0", "would allow the whole internet"),
        ("::/0", "would allow the whole internet"),
        ("*", "would allow every address"),
        ("10.1.2.3", "is in 10.0.0.0/8 (private, RFC 1918)"),
        ("172.20.0.0/16", "is in 172.16.0.0/12 (private, RFC 1918)"),
        ("192.168.1.1", "private, RFC 1918"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("100.64.12.1", "shared address space"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "documentation"),
        ("fd00::1", "unique local"),
        ("fe80::1", "link-local"),
        ("::1", "loopback"),
        ("::ffff:39.42.20.11", "IPv4-mapped"),
        ("8.0.0.0/6", "overlaps 10.0.0.0/8"),
        ("39.42.20.300", "is not an IP address or CIDR"),
        ("39.42.20.11/33", "is not an IP address or CIDR"),
        ("vpn.acme.com", "is not an IP address or CIDR"),
        ("", "is empty"),
        (42, "42 was read by YAML as the number 42: an allowlist entry is an IP address or CIDR"),
    ],
)
def test_rejected_entries_say_why(entry: object, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        normalise(["39.42.20.11/32", entry])
    [problem] = caught.value.problems
    assert problem.startswith("iac.yaml:6: allowlist[1]")
    assert expected in problem


def test_every_bad_entry_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        normalise(["10.0.0.1", "39.42.20.11", "nonsense", "0.0.0.0/0"])
    assert [p.split(":")[1] for p in caught.value.problems] == ["5", "7", "8"]


def test_rule_limit() -> None:
    assert over_limit_message(1990, DEFAULT_MAX_RULES) is None
    message = over_limit_message(1991, DEFAULT_MAX_RULES)
    assert message is not None
    assert "1991 ranges need 200 Cloud Armor rules of 10, but allowlist_max_rules is 199" in message
    assert "remove or merge 1 range " in message
    assert "remove or merge 25 ranges" in (over_limit_message(45, 2) or "")


def test_the_model_holds_validated_entries_and_reports_every_bad_one_at_once() -> None:
    """No raw-versus-normalised pair: the config model's entries are already networks in canonical form."""
    from iac.config.models import Config
    from iac.config.schema import SchemaError, validate

    base = {"project": "my-gcp-project", "domain": "data.acme.com", "bucket": {"name": "encord-data", "location": "EU"}}
    config = validate(Config, {**base, "allowlist": ["39.42.20.11", "2a00:1450:4001::/48"]})
    assert config.allowlist == ["39.42.20.11/32", "2a00:1450:4001::/48"]
    with pytest.raises(SchemaError) as raised:
        validate(Config, {**base, "domain": "Data.acme.com", "allowlist": ["10.0.0.1", "ok", 42, "81.2.69.160/28"]})
    where = sorted(str(e.location) for e in raised.value.problems)
    assert where == ["('allowlist', 0)", "('allowlist', 1)", "('allowlist', 2)", "('domain',)"]


# --- addresses no client on the internet has, and ranges wider than anyone means (issue 16.11, 16.12) -----


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("2a00:1450:4001::1%eth0", "zone id"),
        ("2a00:1450:4001::%eth0/48", "zone id"),
        ("fe80::1%1", "zone id"),
        ("2001:2::1", "is in 2001:2::/48 (benchmarking, RFC 5180)"),
        ("2001:10::/28", "is in 2001:10::/28 (ORCHID, RFC 4843)"),
        ("2001:20::1", "is in 2001:20::/28 (ORCHIDv2, RFC 7343)"),
        ("3fff:1::/32", "is in 3fff::/20 (documentation, RFC 9637)"),
        ("5f00:1:2::/48", "is in 5f00::/16 (SRv6 SIDs, RFC 9602)"),
        ("fec0::1", "is in fec0::/10 (site-local, deprecated by RFC 3879)"),
        ("::39.42.20.11", "is in ::/96 (IPv4-compatible, deprecated by RFC 4291: write the IPv4 address itself)"),
        ("::1", "loopback"),
        ("::", "unspecified"),
    ],
)
def test_non_global_ipv6_and_zone_ids_are_refused_with_their_reason(entry: str, expected: str) -> None:
    from iac.allowlist.ranges import AllowlistEntryError, parse_entry

    with pytest.raises(AllowlistEntryError) as caught:
        parse_entry(3, entry)
    assert expected in caught.value.message
    assert caught.value.index == 3


def _config(tmp_path: Path, *entries: str) -> Path:
    config = tmp_path / "iac.yaml"
    config.write_text(
        "project: acme-annotations-prod\ndomain: data.acme.com\nbucket: {name: acme-encord-data, location: EU}\n"
        "allowlist:\n" + "".join(f"  - {entry}\n" for entry in entries)
    )
    return config


def test_a_zone_id_is_refused_on_the_command_line_so_no_duplicate_is_written(cli, tmp_path: Path) -> None:
    config = _config(tmp_path, "2a00:1450:4001::1/128")
    before = config.read_text()
    result = cli("allowlist", "add", "2a00:1450:4001::1%eth0", "-c", config)
    assert result.exit_code == 1
    assert "argument 1: '2a00:1450:4001::1%eth0'" in result.output
    assert "zone id" in result.output
    assert config.read_text() == before


@pytest.mark.parametrize(
    ("entry", "count"),
    [
        ("36.0.0.0/8", "16,777,216 addresses"),
        ("36.0.0.0/15", "131,072 addresses"),
        ("2a00::/12", "2^116 addresses"),
        ("2a00:1450::/31", "2^97 addresses"),
    ],
)
def test_very_wide_public_ranges_are_accepted_with_a_warning_naming_their_size(entry: str, count: str) -> None:
    from iac.allowlist.ranges import parse_entry, width_warning

    network = parse_entry(0, entry)
    warning = width_warning(network)
    assert warning is not None
    assert entry in warning
    assert count in warning


@pytest.mark.parametrize("entry", ["36.0.0.0/16", "39.42.20.11", "2a00:1450::/32", "2a00:1450:4001::/48"])
def test_ranges_up_to_a_site_or_an_isp_block_get_no_warning(entry: str) -> None:
    from iac.allowlist.ranges import parse_entry, width_warning

    assert width_warning(parse_entry(0, entry)) is None


def test_validate_render_and_edits_warn_on_stderr_about_a_very_wide_range(cli, tmp_path: Path) -> None:
    config = _config(tmp_path, "39.42.20.11", "36.0.0.0/8")
    warning = f"{config}:6: allowlist[1]: 36.0.0.0/8 allows 16,777,216 addresses (wider than /16)"

    validated = cli("validate", "-c", config)
    assert validated.exit_code == 0
    assert warning in validated.stderr
    assert "16,777,216" not in validated.stdout

    as_json = cli("validate", "-c", config, "--json")
    assert as_json.exit_code == 0
    assert [w.startswith(warning) for w in json.loads(as_json.stdout)["warnings"]] == [True]

    rendered = cli("render", "-c", config, "-o", tmp_path / "build")
    assert rendered.exit_code == 0
    assert warning in rendered.stderr

    added = cli("allowlist", "add", "2a00::/12", "-c", config, "--json")
    assert added.exit_code == 0, added.output
    assert "2a00::/12 allows 2^116 addresses (wider than /32)" in added.stderr
    assert len(json.loads(added.stdout)["warnings"]) == 2


def test_a_narrow_allowlist_has_no_warnings(cli, tmp_path: Path) -> None:
    config = _config(tmp_path, "39.42.20.11", "36.0.0.0/16")
    validated = cli("validate", "-c", config, "--json")
    assert validated.exit_code == 0
    assert json.loads(validated.stdout)["warnings"] == []
    assert validated.stderr == ""
