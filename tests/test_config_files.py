"""What kind of file a config or an address list is (issue 24): `init --force` replaces only a regular
file, a hard-linked config is not edited (its other names would drift), `--from DIR` is one message."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

CONFIG = """\
project: my-gcp-project
domain: encord-directaccess.acme.com
bucket: {name: encord-data, location: EU}
allowlist:
  - 39.42.20.11/32   # Porto office
"""


def refused(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return str(result.stderr)


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    yield path
    server.close()


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_init_force_replaces_only_a_regular_file(cli, tmp_path: Path, unix_socket: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
        what = "a FIFO (named pipe)"
    elif kind == "socket":
        path, what = unix_socket, "a socket"
    else:
        # A device through a symlink: were it not refused, the link would be replaced, never /dev/null.
        path = tmp_path / "device.yaml"
        path.symlink_to("/dev/null")
        what = "a character device"
    before = os.stat(path)
    for force in ([], ["--force"]):
        stderr = refused(cli("init", path, *force))
        assert f"{path}: is {what}, not a regular file: iac init replaces only a regular file" in stderr
    after = os.stat(path)
    assert (after.st_ino, stat.S_IFMT(after.st_mode)) == (before.st_ino, stat.S_IFMT(before.st_mode))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name] + (["sock"] if kind != "socket" else [])


def test_init_force_still_replaces_a_regular_file(cli, tmp_path: Path) -> None:
    path = tmp_path / "iac.yaml"
    path.write_text("old: true\n")
    assert cli("init", path, "--force").exit_code == 0
    assert "allowlist:" in path.read_text()


def test_a_hard_linked_config_is_not_edited(cli, tmp_path: Path) -> None:
    """Each edit writes a new file in the config's place: another hard link would keep the old text."""
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    other = tmp_path / "deploy" / "iac.yaml"
    other.parent.mkdir()
    os.link(config, other)
    stderr = refused(cli("allowlist", "add", "34.90.1.1", "-c", config))
    assert f"{config}: has 2 hard links (other names for the same file)" in stderr
    assert "make the other names symlinks (ln -sf)" in stderr
    assert config.read_text() == other.read_text() == CONFIG
    assert os.stat(config).st_ino == os.stat(other).st_ino
    dry = cli("allowlist", "add", "34.90.1.1", "-c", config, "--dry-run")
    assert dry.exit_code == 0 and "+ 34.90.1.1/32" in dry.stdout


def test_a_config_reached_through_a_symlink_is_edited_for_both_names(cli, tmp_path: Path) -> None:
    """The way the message suggests: a symlink is written through, so both names see the edit."""
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    other = tmp_path / "deploy.yaml"
    other.symlink_to(config)
    assert cli("allowlist", "add", "34.90.1.1", "-c", other).exit_code == 0
    assert other.is_symlink() and "34.90.1.1/32" in config.read_text()


def test_set_from_a_directory_is_one_clear_message(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    folder = tmp_path / "lists"
    folder.mkdir()
    stderr = refused(cli("allowlist", "set", "--from", folder, "-c", config))
    assert stderr.strip() == (
        f"error: {folder}: is a directory: --from takes a file with one address per line, or - for stdin"
    )
    assert config.read_text() == CONFIG


def test_set_from_a_file_that_is_not_utf8_says_so(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    source = tmp_path / "list.txt"
    source.write_bytes(b"39.42.20.11\n\xff\n")
    stderr = refused(cli("allowlist", "set", "--from", source, "-c", config))
    assert f"{source}: the list of addresses is not UTF-8 text (invalid start byte at byte 12)" in stderr
    assert config.read_text() == CONFIG
