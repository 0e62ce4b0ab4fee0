"""`iac allowlist`: rotating the allowlist edits the config in place and nothing else."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path

import pytest

COMMENTED = """\
# Direct Access for the annotation team.   (keep: reviewed by security, ticket SEC-1234)
project: my-gcp-project   # production project
name: encord-da
domain: encord-directaccess.acme.com
dns_zone: acme-com

bucket:
  name: encord-data
  location: EU   # data residency: EU only
  create: true

# Who may read the data. Changes need a security review.
allowlist:
  # London office
  - 39.42.20.11/32   # primary egress
  - "130.192.120.23/32"
  # VPN
  - 2a00:1450:4001::/48
allowlist_max_rules: 3     # we never want more than 30 ranges

cdn:
    default_ttl: 3600      # odd indentation, kept as it is
terraform: {backend: {gcs: {bucket: acme-tfstate, prefix: encord-da}}}
# end of file
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "iac.yaml"
    path.write_text(COMMENTED)
    return path


def outside_allowlist(text: str) -> list[str]:
    """The file without the allowlist's entries and comments: what an edit must leave untouched."""
    lines = text.splitlines()
    start = lines.index("allowlist:") + 1
    end = start
    while end < len(lines) and (lines[end].startswith("  -") or lines[end].startswith("  #")):
        end += 1
    return lines[:start] + lines[end:]


def entries(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("allowlist:") + 1
    return [line.split("#")[0].strip()[2:].strip().strip('"') for line in lines[start:] if line.startswith("  - ")]


def test_add_keeps_everything_else_and_writes_the_note(cli, config: Path) -> None:
    result = cli("allowlist", "add", "81.2.69.160/28", "34.90.1.1", "-c", config, "--note", "Lisbon office")
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert outside_allowlist(text) == outside_allowlist(COMMENTED)
    assert "  - 81.2.69.160/28  # Lisbon office\n" in text
    assert "  - 34.90.1.1/32  # Lisbon office\n" in text
    assert "  - 39.42.20.11/32   # primary egress\n" in text and "  # London office\n" in text
    assert f"allowlist in {config}: 2 added, 0 removed" in result.stdout
    assert "+ 81.2.69.160/28" in result.stdout


def test_add_keeps_a_sorted_list_sorted(cli, config: Path) -> None:
    cli("allowlist", "add", "81.2.69.160/28", "-c", config)
    assert entries(config.read_text()) == [
        "39.42.20.11/32",
        "81.2.69.160/28",
        "130.192.120.23/32",
        "2a00:1450:4001::/48",
    ]


def test_adding_what_is_already_allowed_changes_nothing(cli, config: Path) -> None:
    result = cli("allowlist", "add", "39.42.20.11", "2a00:1450:4001:7::1", "-c", config)
    assert result.exit_code == 0
    assert "39.42.20.11/32 is already in the allowlist: nothing to add" in result.stdout
    assert "2a00:1450:4001:7::1/128 is already allowed by 2a00:1450:4001::/48: nothing to add" in result.stdout
    assert f"allowlist in {config}: unchanged" in result.stdout
    assert config.read_text() == COMMENTED


def test_remove_takes_the_entry_and_its_comment(cli, config: Path) -> None:
    result = cli("allowlist", "remove", "2a00:1450:4001::/48", "130.192.120.23", "-c", config)
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert outside_allowlist(text) == outside_allowlist(COMMENTED)
    assert entries(text) == ["39.42.20.11/32"]
    assert "# VPN" not in text
    assert "  # London office\n  - 39.42.20.11/32   # primary egress\n" in text


def test_set_replaces_the_list_and_keeps_comments_of_what_stays(cli, config: Path, tmp_path: Path) -> None:
    source = tmp_path / "vpn-egress.txt"
    source.write_text("# exported from the VPN console\n39.42.20.11\n\n81.2.69.0/25\n81.2.69.128/25  # pair\n")
    result = cli("allowlist", "set", "--from", source, "-c", config)
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert outside_allowlist(text) == outside_allowlist(COMMENTED)
    assert entries(text) == ["39.42.20.11/32", "81.2.69.0/24"]
    assert "  - 39.42.20.11/32   # primary egress\n" in text
    # The two /25s are written as the /24 they make, with the note of the line that had one.
    assert "  - 81.2.69.0/24  # pair\n" in text


ROTATED = """\
# Encord Direct Access for ACME: reviewed by security (SEC-1234)
project: acme-encord-prod   # production
domain: encord-directaccess.acme.com
bucket:
  name: acme-encord-data
  location: EU

# Who may read the data. Keep each office's note.
allowlist:
  # Lisbon office (fixed fibre)
  - 81.2.69.160/28
  - 39.42.20.10        # Porto NAT A
  - 39.42.20.11        # Porto NAT B
  - 130.192.120.23/32  # Turin VPN
  - 2a00:1450:4001::/48  # Zurich
  - 34.90.1.1/32       # contractor until 2027-03
  # Madrid annotators
  - 34.90.1.2/32
cdn:
  default_ttl: 3600
"""


def changed_lines(before: str, after: str) -> list[str]:
    import difflib

    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_set_of_a_three_address_change_is_a_three_line_diff(cli, tmp_path: Path) -> None:
    """Entries that stay keep their line, comment and place: adjacent addresses are not merged into a /31
    (which would lose both notes) and the list, not sorted, is not sorted; each new entry is added last (as
    `add` adds to an unsorted list) with the # note of its line in the file."""
    config = tmp_path / "iac.yaml"
    config.write_text(ROTATED)
    source = tmp_path / "vpn-egress.txt"
    source.write_text(
        "# exported from the VPN console, 2026-12-06\n"
        "81.2.69.160/28\n39.42.20.10\n39.42.20.11\n130.192.120.23\n2a00:1450:4001::/48\n"
        "34.90.1.2   # a note on a line that stays: the entry keeps its own comment\n"
        "34.90.1.8  # Seville annotators\n"
        "2a00:1450:4002::/48  # Zurich, second site\n"
    )
    result = cli("allowlist", "set", "--from", source, "-c", config)
    assert result.exit_code == 0, result.output
    assert changed_lines(ROTATED, config.read_text()) == [
        "-  - 34.90.1.1/32       # contractor until 2027-03",
        "+  - 34.90.1.8/32  # Seville annotators",
        "+  - 2a00:1450:4002::/48  # Zurich, second site",
    ]
    assert f"allowlist in {config}: 2 added, 1 removed" in result.stdout
    assert cli("validate", "-c", config).exit_code == 0


def test_set_into_a_sorted_list_keeps_it_sorted_and_notes_merged_lines(cli, config: Path, tmp_path: Path) -> None:
    source = tmp_path / "vpn.txt"
    source.write_text(
        "39.42.20.11\n130.192.120.23\n2a00:1450:4001::/48\n"
        "81.2.69.0/25  # Lisbon A\n81.2.69.128/25  # Lisbon B\n81.2.69.7  # inside Lisbon A: not written\n"
    )
    result = cli("allowlist", "set", "--from", source, "-c", config)
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert outside_allowlist(text) == outside_allowlist(COMMENTED)
    assert entries(text) == ["39.42.20.11/32", "81.2.69.0/24", "130.192.120.23/32", "2a00:1450:4001::/48"]
    assert changed_lines(COMMENTED, text) == ["+  - 81.2.69.0/24  # Lisbon A; inside Lisbon A: not written; Lisbon B"]


def test_a_note_from_the_file_is_written_escaped_on_one_line(cli, config: Path, tmp_path: Path) -> None:
    source = tmp_path / "vpn.txt"
    source.write_bytes(
        "39.42.20.11\n130.192.120.23\n2a00:1450:4001::/48\n34.90.1.1  # Porto \x1b]0;pwned\x07 \u202eNAT\r\n".encode()
    )
    result = cli("allowlist", "set", "--from", source, "-c", config)
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert "  - 34.90.1.1/32  # Porto \\x1b]0;pwned\\x07 \\u202eNAT\n" in text
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    assert cli("validate", "-c", config).exit_code == 0
    # A line break YAML knows but a note cannot hold ends the line: what follows is no address, nor a key.
    before = config.read_text()
    source.write_text("39.42.20.11  # Porto\u2028allowlist_allow_empty: true\n")
    result = cli("allowlist", "set", "--from", source, "-c", config)
    assert result.exit_code == 1
    assert f"{source}:2: 'allowlist_allow_empty: true' is not an IP address or CIDR" in result.stderr
    assert config.read_text() == before


def test_set_from_stdin(cli, config: Path) -> None:
    result = cli("allowlist", "set", "--from", "-", "-c", config, input="39.42.20.11/32\n34.90.1.1\n")
    assert result.exit_code == 0, result.output
    assert entries(config.read_text()) == ["34.90.1.1/32", "39.42.20.11/32"]


def test_set_with_a_thousand_ranges_writes_them_collapsed_and_sorted(cli, config: Path, tmp_path: Path) -> None:
    rnd = random.Random(1)
    base = int(ipaddress.ip_address("34.64.0.0"))
    singles = [str(ipaddress.ip_address(base + 4 * i)) for i in range(900)]  # separate /32s
    # 50 adjacent pairs (each two /32s that make one /31)
    pairs = [f"{ipaddress.ip_address(base + 8000 + 4 * (i // 2) + i % 2)}/32" for i in range(100)]
    lines = singles + pairs + rnd.sample(singles, 100)  # and 100 duplicates
    rnd.shuffle(lines)
    source = tmp_path / "big.txt"
    source.write_text("\n".join(lines) + "\n")
    config.write_text(COMMENTED.replace("allowlist_max_rules: 3", "allowlist_max_rules: 199"))
    before = config.read_text()

    result = cli("allowlist", "set", "--from", source, "-c", config, "--json")
    assert result.exit_code == 0, result.output
    written = entries(config.read_text())
    networks = [ipaddress.ip_network(e) for e in written]
    assert len(written) == 950
    assert networks == sorted(networks, key=lambda n: (n.version, int(n.network_address)))
    assert sum(1 for n in networks if n.prefixlen == 31) == 50
    assert len(set(written)) == len(written)
    assert outside_allowlist(config.read_text()) == outside_allowlist(before)
    document = json.loads(result.stdout)
    assert document["rules_after"] == 95 and document["written"] is True


def test_set_reports_the_source_line_of_a_bad_entry(cli, config: Path, tmp_path: Path) -> None:
    source = tmp_path / "vpn.txt"
    source.write_text("39.42.20.11\n# comment\n10.1.1.1\n")
    result = cli("allowlist", "set", "--from", source, "-c", config)
    assert result.exit_code == 1
    assert f"{source}:3: '10.1.1.1' is in 10.0.0.0/8" in result.stderr
    assert config.read_text() == COMMENTED


REJECTIONS = [
    (["add", "not-an-address"], ["argument 1: 'not-an-address' is not an IP address or CIDR"]),
    (
        ["add", "39.42.20.0/24", "130.192.120.23/24"],
        ["argument 2: '130.192.120.23/24' has host bits set", "130.192.120.0/24"],
    ),
    (["add", "192.168.10.0/24"], ["argument 1: '192.168.10.0/24' is in 192.168.0.0/16 (private, RFC 1918)"]),
    (["add", "0.0.0.0/0"], ["would allow the whole internet"]),
    (["remove", "9.9.9.9"], ["9.9.9.9/32 is not in the allowlist: nothing to remove"]),
    (
        ["remove", "39.42.20.11/32", "130.192.120.23/32", "2a00:1450:4001::/48"],
        ["would remove every entry and lock everyone out", "--allow-empty"],
    ),
    (
        ["add", *[f"34.90.{i}.1" for i in range(0, 56, 2)]],
        ["31 ranges need 4 Cloud Armor rules of 10, but allowlist_max_rules is 3: remove or merge 1 range"],
    ),
]


@pytest.mark.parametrize(
    ("args", "fragments"),
    REJECTIONS,
    ids=lambda v: " ".join(v)[:40] if isinstance(v, list) and v and v[0] in ("add", "remove") else None,
)
def test_rejections_leave_the_file_byte_identical(cli, config: Path, args: list[str], fragments: list[str]) -> None:
    stat = config.stat()
    result = cli("allowlist", *args, "-c", config)
    assert result.exit_code == 1, result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert config.read_bytes() == COMMENTED.encode()
    assert config.stat().st_mtime_ns == stat.st_mtime_ns
    assert {p.name for p in config.parent.iterdir()} == {"iac.yaml"}, "no temporary file, no lock file"


def test_an_invalid_config_elsewhere_blocks_the_edit(cli, config: Path) -> None:
    config.write_text(COMMENTED.replace("dns_zone: acme-com", "dns_zone: acme.com"))
    before = config.read_bytes()
    result = cli("allowlist", "add", "34.90.1.1", "-c", config)
    assert result.exit_code == 1
    assert "dns_zone: 'acme.com' looks like a DNS name" in result.stderr
    assert config.read_bytes() == before


def test_allow_empty_locks_down_explicitly_and_adding_undoes_it(cli, config: Path) -> None:
    result = cli(
        "allowlist",
        "remove",
        "39.42.20.11/32",
        "130.192.120.23/32",
        "2a00:1450:4001::/48",
        "--allow-empty",
        "-c",
        config,
    )
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert "allowlist: []\nallowlist_allow_empty: true  # set by iac allowlist --allow-empty" in text
    assert cli("validate", "-c", config).exit_code == 0
    listed = cli("allowlist", "list", "-c", config)
    assert "the list is empty: every request is denied" in listed.stdout
    rendered = cli("render", "-c", config, "-o", config.parent / "build")
    assert "allowlist: EMPTY (allowlist_allow_empty): every request is denied" in rendered.stdout
    # The allowlist root states no rule: the policies keep only their default deny (in serving/).
    assert "rules = []" in (config.parent / "build" / "allowlist" / "main.tf").read_text()

    assert cli("allowlist", "add", "39.42.20.11", "-c", config).exit_code == 0
    text = config.read_text()
    assert "allowlist_allow_empty" not in text
    assert entries(text) == ["39.42.20.11/32"]


def test_dry_run_shows_the_diff_and_writes_nothing(cli, config: Path) -> None:
    result = cli("allowlist", "remove", "130.192.120.23/32", "--dry-run", "-c", config)
    assert result.exit_code == 0
    assert "- 130.192.120.23/32" in result.stdout and "was not written" in result.stdout
    assert config.read_text() == COMMENTED


def test_flow_style_lists_are_rewritten_in_block_style(cli, tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        COMMENTED.replace(
            'allowlist:\n  # London office\n  - 39.42.20.11/32   # primary egress\n  - "130.192.120.23/32"\n'
            "  # VPN\n  - 2a00:1450:4001::/48\n",
            "allowlist: [39.42.20.11/32, 130.192.120.23/32]  # office\n",
        )
    )
    result = cli("allowlist", "add", "34.90.1.1", "-c", path)
    assert result.exit_code == 0, result.output
    assert (
        "allowlist:  # office\n  - 34.90.1.1/32\n  - 39.42.20.11/32\n  - 130.192.120.23/32\nallowlist_max_rules"
        in path.read_text()
    )


def test_writes_through_a_symlink_and_keeps_the_mode(cli, tmp_path: Path, config: Path) -> None:
    config.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(config)
    assert cli("allowlist", "add", "34.90.1.1", "-c", link).exit_code == 0
    assert link.is_symlink()
    assert "34.90.1.1/32" in config.read_text()
    assert config.stat().st_mode & 0o777 == 0o640


def test_list_shows_rules_with_priorities(cli, config: Path) -> None:
    result = cli("allowlist", "list", "-c", config, "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["ranges"] == ["39.42.20.11/32", "130.192.120.23/32", "2a00:1450:4001::/48"]
    assert document["rules"] == [{"priority": 1000, "ranges": document["ranges"]}]
    text = cli("allowlist", "list", "-c", config).stdout
    assert "3 ranges from 3 entries, 1 allow rule" in text
    assert "priority 1000: 39.42.20.11/32, 130.192.120.23/32, 2a00:1450:4001::/48" in text


# --- --apply: the whole rotation in one pipeline step ----------------------------------------------------

INVALIDATE_PATH = "/compute/v1/projects/my-gcp-project/global/urlMaps/encord-da-url-map/invalidateCache"


@pytest.mark.terraform
def test_apply_chains_into_apply_with_one_invalidation_per_change(cli, tmp_path: Path, builtin_deployment) -> None:
    compute_stub = builtin_deployment
    compute_stub.expect_request(INVALIDATE_PATH, method="POST").respond_with_json(
        {"kind": "compute#operation", "name": "operation-1", "status": "DONE"}
    )
    config = tmp_path / "iac.yaml"
    config.write_text(COMMENTED.replace("terraform: {backend: {gcs: {bucket: acme-tfstate, prefix: encord-da}}}\n", ""))
    out = tmp_path / "build"

    def calls() -> int:
        return sum(1 for request, _ in compute_stub.log if request.path == INVALIDATE_PATH)

    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    assert calls() == 0  # first deployment: nothing cached yet

    added = cli("allowlist", "add", "34.90.1.1", "-c", config, "-o", out, "--apply", "--auto-approve")
    assert added.exit_code == 0, added.output
    assert calls() == 1
    assert "CDN cache invalidated" in added.stderr

    same = cli("allowlist", "add", "34.90.1.1", "-c", config, "-o", out, "--apply", "--auto-approve")
    assert same.exit_code == 0
    assert calls() == 1, "no invalidation when the list did not change"

    removed = cli("allowlist", "remove", "34.90.1.1", "-c", config, "-o", out, "--apply", "--auto-approve")
    assert removed.exit_code == 0, removed.output
    assert calls() == 2

    refused = cli("allowlist", "add", "34.90.7.7", "-c", config, "-o", out, "--apply")
    assert refused.exit_code == 1, "no terminal and no --auto-approve"
    assert "--auto-approve" in refused.stderr
    assert calls() == 2


def test_errors_elsewhere_give_the_files_own_line_numbers(cli, config: Path) -> None:
    """The edited text is validated, but a problem is reported where it is in the file on disk."""
    broken = COMMENTED.replace("    default_ttl: 3600      #", '    default_ttl: "3600"    #')
    config.write_text(broken)
    line = broken.splitlines().index('    default_ttl: "3600"    # odd indentation, kept as it is') + 1
    result = cli("allowlist", "add", "34.90.1.1", "34.90.1.3", "81.2.69.160/28", "-c", config)
    assert result.exit_code == 1
    assert f'{config}:{line}: cdn.default_ttl: "3600" is text, not a whole number' in result.stderr, result.stderr
    assert config.read_text() == broken


def test_a_read_only_config_is_refused_not_replaced(cli, config: Path) -> None:
    config.chmod(0o444)
    result = cli("allowlist", "add", "34.90.1.1", "-c", config)
    assert result.exit_code == 1
    assert "is read-only (mode 0444)" in result.stderr and "chmod u+w" in result.stderr
    assert config.read_text() == COMMENTED and config.stat().st_mode & 0o777 == 0o444
    assert cli("allowlist", "add", "34.90.1.1", "-c", config, "--dry-run").exit_code == 0
