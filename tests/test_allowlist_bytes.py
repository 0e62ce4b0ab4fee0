"""`iac allowlist` edits change the allowlist's lines and no other byte: CRLF, a BOM, tabs and comments stay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES
from iac.edits import allowlist as allowlist_file
from iac.edits import allowlist_text

BOM = b"\xef\xbb\xbf"
CRLF, LF = b"\r\n", b"\n"


def documented(newline: bytes, bom: bytes, allowlist: bytes | None = None) -> bytes:
    """examples/documented/iac.yaml with comments (tabs in one) around its list, `newline` endings and `bom`."""
    text = (EXAMPLES / "documented" / "iac.yaml").read_bytes()
    block = b"allowlist:\n  - 39.42.20.11/32     # Lisbon office\n  - 130.192.120.23/32  # Porto NAT A\n"
    assert b"\r" not in text and text.count(block) == 1
    if allowlist is None:
        allowlist = (
            b"allowlist:   # egress addresses\n"
            b"  # London office\n"
            b"  - 39.42.20.11/32\t# primary egress\n"
            b"  - 130.192.120.23/32\n"
        )
    around = b"# Who may read the data.\tReviewed by security\t(SEC-1234)\n" + allowlist + b"# end of the allowlist\n"
    return bom + text.replace(block, around).replace(b"\n", newline)


def split(data: bytes) -> tuple[list[bytes], list[bytes]]:
    """(the lines outside the allowlist, the allowlist's lines from its key on), each line with its ending."""
    lines = data.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(b"allowlist:"))
    end = start + 1
    while end < len(lines) and lines[end].startswith((b"  -", b"  #")):
        end += 1
    return lines[:start] + lines[end:], lines[start:end]


def assert_kept(path: Path, before: bytes, newline: bytes, bom: bytes) -> list[bytes]:
    """Checks every edit must pass; returns the allowlist's lines as written."""
    after = path.read_bytes()
    assert split(after)[0] == split(before)[0], "a line outside the allowlist changed"
    if newline == CRLF:
        assert after.count(b"\n") == after.count(b"\r\n") == after.count(b"\r"), "a line does not end in CRLF"
    else:
        assert b"\r" not in after
    assert after.startswith(bom) and not after[len(bom) :].startswith(BOM)
    return split(after)[1]


ENDINGS = pytest.mark.parametrize(
    ("newline", "bom"), [(CRLF, BOM), (LF, b""), (LF, BOM)], ids=["crlf-bom", "lf", "lf-bom"]
)


def head(newline: bytes) -> list[bytes]:
    return [b"allowlist:   # egress addresses" + newline, b"  # London office" + newline]


@ENDINGS
def test_add_keeps_every_other_byte(cli, tmp_path: Path, newline: bytes, bom: bytes) -> None:
    config = tmp_path / "iac.yaml"
    config.write_bytes(before := documented(newline, bom))
    result = cli("allowlist", "add", "81.2.69.160/28", "-c", config, "--note", "Lisbon office")
    assert result.exit_code == 0, result.output
    assert assert_kept(config, before, newline, bom) == [
        *head(newline),
        b"  - 39.42.20.11/32\t# primary egress" + newline,
        b"  - 81.2.69.160/28  # Lisbon office" + newline,
        b"  - 130.192.120.23/32" + newline,
    ]
    assert cli("validate", "-c", config).exit_code == 0


@ENDINGS
def test_remove_keeps_every_other_byte(cli, tmp_path: Path, newline: bytes, bom: bytes) -> None:
    config = tmp_path / "iac.yaml"
    config.write_bytes(before := documented(newline, bom))
    result = cli("allowlist", "remove", "130.192.120.23/32", "-c", config)
    assert result.exit_code == 0, result.output
    assert assert_kept(config, before, newline, bom) == [
        *head(newline),
        b"  - 39.42.20.11/32\t# primary egress" + newline,
    ]
    assert cli("validate", "-c", config).exit_code == 0


@ENDINGS
def test_set_from_a_crlf_file_with_a_bom_keeps_every_other_byte(
    cli, tmp_path: Path, newline: bytes, bom: bytes
) -> None:
    config = tmp_path / "iac.yaml"
    config.write_bytes(before := documented(newline, bom))
    source = tmp_path / "vpn-egress.txt"
    # The BOM sits right before the first address: it must not make that address invalid.
    source.write_bytes(BOM + b"81.2.69.160/28\r\n# exported from the VPN console\r\n39.42.20.11\r\n")
    result = cli("allowlist", "set", "--from", source, "-c", config)
    assert result.exit_code == 0, result.output
    assert assert_kept(config, before, newline, bom) == [
        *head(newline),
        b"  - 39.42.20.11/32\t# primary egress" + newline,
        b"  - 81.2.69.160/28" + newline,
    ]
    assert cli("validate", "-c", config).exit_code == 0


@ENDINGS
def test_flow_style_list_is_rewritten_with_the_files_line_endings(
    cli, tmp_path: Path, newline: bytes, bom: bytes
) -> None:
    config = tmp_path / "iac.yaml"
    flow = b"allowlist: [39.42.20.11/32, 130.192.120.23/32]  # office\n"
    config.write_bytes(before := documented(newline, bom, allowlist=flow))
    result = cli("allowlist", "add", "81.2.69.160/28", "-c", config)
    assert result.exit_code == 0, result.output
    assert assert_kept(config, before, newline, bom) == [
        b"allowlist:  # office" + newline,
        b"  - 39.42.20.11/32" + newline,
        b"  - 81.2.69.160/28" + newline,
        b"  - 130.192.120.23/32" + newline,
    ]
    assert cli("validate", "-c", config).exit_code == 0


@ENDINGS
def test_emptying_and_refilling_the_list_keeps_the_line_endings(
    cli, tmp_path: Path, newline: bytes, bom: bytes
) -> None:
    config = tmp_path / "iac.yaml"
    config.write_bytes(before := documented(newline, bom))
    result = cli("allowlist", "remove", "39.42.20.11/32", "130.192.120.23/32", "--allow-empty", "-c", config)
    assert result.exit_code == 0, result.output
    emptied = config.read_bytes()
    assert (
        b"allowlist: []  # egress addresses" + newline + b"allowlist_allow_empty: true  # set by iac allowlist"
        in emptied
    )
    assert_kept(config, emptied, newline, bom)  # the endings and the BOM
    assert cli("validate", "-c", config).exit_code == 0

    assert cli("allowlist", "add", "39.42.20.11", "-c", config).exit_code == 0
    assert b"allowlist_allow_empty" not in config.read_bytes()
    assert assert_kept(config, before, newline, bom) == [
        b"allowlist:  # egress addresses" + newline,
        b"  - 39.42.20.11/32" + newline,
    ]
    assert cli("validate", "-c", config).exit_code == 0


def test_an_edit_that_changes_nothing_leaves_a_crlf_file_with_a_bom_alone(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_bytes(before := documented(CRLF, BOM))
    mtime = config.stat().st_mtime_ns
    result = cli("allowlist", "add", "39.42.20.11", "-c", config)
    assert result.exit_code == 0, result.output
    assert "allowlist in" in result.stdout and ": unchanged" in result.stdout and "wrote" not in result.stdout
    assert config.read_bytes() == before
    assert config.stat().st_mtime_ns == mtime


def test_a_change_of_line_endings_on_disk_meanwhile_is_a_concurrent_change(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "iac.yaml"
    config.write_bytes(before := documented(CRLF, BOM))
    meanwhile = before.replace(CRLF, LF)  # the same text once read with universal newlines, not the same file
    finish = allowlist_file.finish

    def finish_then_meddle(*args: Any, **kwargs: Any) -> Any:
        change = finish(*args, **kwargs)
        config.write_bytes(meanwhile)  # another editor saves between iac's read and its write
        return change

    monkeypatch.setattr(allowlist_file, "finish", finish_then_meddle)
    result = cli("allowlist", "add", "81.2.69.160/28", "-c", config)
    assert result.exit_code == 1
    assert "changed by something else while iac was editing it" in result.stderr
    assert config.read_bytes() == meanwhile


def test_a_list_file_may_start_with_a_bom_and_use_crlf() -> None:
    listed = allowlist_text.read_list_file("f.txt", "\ufeff81.2.69.160/28\r\n# VPN\r\n\r\n39.42.20.11  # NAT\r\n")
    assert listed.values == ["81.2.69.160/28", "39.42.20.11"]
    assert listed.labels == ["f.txt:1", "f.txt:4"]
    assert listed.notes == ["", "NAT"]
