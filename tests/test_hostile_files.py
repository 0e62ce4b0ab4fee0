"""Files iac reads are input, whoever wrote them: a ledger (`.iac-files`) in a pull request, a symlink below
an output directory, a device or a FIFO where a file should be, a config reached through two symlinks,
an allowlist written in flow style or with aliases. Each case is one message, or done safely; never a
file removed or written outside the output directory, never Terraform's files, never a hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EXAMPLES, ok, refused

DOMAIN = "encord-directaccess.acme.com"
CONFIG = f"""\
project: my-gcp-project
name: encord-da
domain: {DOMAIN}
dns_zone: acme-com
bucket: {{name: encord-data, location: EU}}
allowlist:
  - 39.42.20.11/32
  - 130.192.120.23/32
"""


def tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "iac.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def rendered(cli, config: Path) -> Path:
    out = config.parent / "build"
    ok(cli("render", "-c", config, "-o", out))
    return out


def add_to_ledger(out: Path, *names: str) -> None:
    ledger = json.loads((out / ".iac-files").read_text())
    ledger["files"] = sorted({*ledger["files"], *names})
    (out / ".iac-files").write_text(json.dumps(ledger))


# --- 16.1: never through a symlink below the output directory -----------------------------------------------


def test_a_ledger_naming_a_file_behind_a_symlink_removes_nothing_outside(cli, config, rendered, tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "gcp-direct-access").mkdir(parents=True)
    (elsewhere / "victim").write_text("keep me")
    (elsewhere / "gcp-direct-access" / "old.tf").write_text("keep me too")
    (rendered / "esc").symlink_to(elsewhere)
    add_to_ledger(rendered, "esc/victim")  # a name iac never renders: not iac's, whatever the ledger says
    # Any symlink below the output directory is refused first (iac.terraform.extras); the ledger is never trusted
    # either.
    stderr = refused(cli("render", "-c", config, "-o", rendered))
    assert "error: esc: a symlink: iac accepts none below the output directory" in stderr
    assert (elsewhere / "victim").read_text() == "keep me"
    (rendered / "esc").unlink()
    stdout = ok(cli("render", "-c", config, "-o", rendered))
    assert "removed stale file" not in stdout

    # A name iac renders, below a symlinked directory (in either root): refused before anything is written or
    # removed.
    for root in ("serving", "allowlist"):
        shutil.rmtree(rendered / root / "modules")
        (rendered / root / "modules").symlink_to(elsewhere)
        add_to_ledger(rendered, f"{root}/modules/gcp-direct-access/old.tf")
        before = tree(rendered)
        stderr = refused(cli("render", "-c", config, "-o", rendered))
        assert f"error: {root}/modules: a symlink: iac accepts none below the output directory" in stderr
        assert "nothing was written" in stderr
        assert (elsewhere / "gcp-direct-access" / "old.tf").read_text() == "keep me too"
        assert tree(rendered) == before
        (rendered / root / "modules").unlink()
        ok(cli("render", "-c", config, "-o", rendered))


@pytest.mark.parametrize(
    ("linked", "written"),
    [
        ("serving/modules", "serving/modules/gcp-direct-access/main.tf"),
        ("allowlist/modules", "allowlist/modules/gcp-direct-access-allowlist/main.tf"),
        ("allowlist", "allowlist/main.tf"),
        ("serving", "serving/main.tf"),
    ],
)
def test_writes_never_follow_a_symlinked_directory(cli, config, rendered, tmp_path, linked: str, written: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(rendered / linked)
    (rendered / linked).symlink_to(elsewhere)

    stderr = refused(cli("render", "-c", config, "-o", rendered))
    assert f"error: {linked}: a symlink" in stderr
    assert "replace each symlink by what it points to, or remove it" in stderr
    assert list(elsewhere.iterdir()) == []

    (rendered / linked).unlink()
    ok(cli("render", "-c", config, "-o", rendered))
    assert (rendered / written).is_file()


# --- 16.2: Terraform's files are never iac's ---------------------------------------------------------------

# Terraform's working files in each root module (and in the modules copied there), and at the top of the output
# directory, where the single-root layout of earlier versions ran Terraform.
_WORKING = [
    "terraform.tfstate",
    "terraform.tfstate.backup",
    ".terraform/terraform.tfstate",
    ".terraform/providers/registry.terraform.io/hashicorp/google/6.0.0/linux_amd64/terraform-provider-google",
    ".terraform.lock.hcl",
    "iac.tfplan",
    "plan.tfplan",
    "notes.txt",
]
TERRAFORMS = [
    *(f"{root}/{name}" for root in ("serving", "allowlist") for name in _WORKING),
    "serving/modules/gcp-direct-access/terraform.tfstate",
    "allowlist/modules/gcp-direct-access-allowlist/terraform.tfstate",
    *_WORKING,
    "modules/gcp-direct-access/terraform.tfstate",
]
# Those render moves rather than keeps: a local state at the top is the serving root's (tests/test_roots.py).
MOVED_TO_SERVING = ("terraform.tfstate", "terraform.tfstate.backup")


def test_a_ledger_never_makes_render_remove_terraforms_files(cli, config, rendered) -> None:
    kept = [name for name in TERRAFORMS if name not in MOVED_TO_SERVING]
    for name in kept:
        (rendered / name).parent.mkdir(parents=True, exist_ok=True)
        (rendered / name).write_text(f"{name} of Terraform or the user")
    add_to_ledger(rendered, *TERRAFORMS)

    stdout = ok(cli("render", "-c", config, "-o", rendered))
    assert "removed stale file" not in stdout
    for name in kept:
        assert (rendered / name).read_text() == f"{name} of Terraform or the user", name
    assert not set(TERRAFORMS) & set(json.loads((rendered / ".iac-files").read_text())["files"])


def test_a_cors_or_manifest_ledger_never_removes_anything_but_their_own_files(cli, tmp_path) -> None:
    config = tmp_path / "iac.yaml"
    shutil.copyfile(EXAMPLES / "cors" / "iac.yaml", config)
    out = tmp_path / "cors"
    ok(cli("cors", "render", "-c", config, "-o", out))
    for name in ("main.tf", "terraform.tfstate", "terraform/terraform.tfstate"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("not iac's")
    add_to_ledger(out, "main.tf", "terraform.tfstate", "terraform/terraform.tfstate")
    ok(cli("cors", "render", "-c", config, "-o", out))
    for name in ("main.tf", "terraform.tfstate", "terraform/terraform.tfstate"):
        assert (out / name).read_text() == "not iac's"


def test_every_file_iac_writes_is_one_it_may_remove_again(config) -> None:
    """The names each writer may remove cover everything it writes (else stale files would stay)."""
    from iac.config.load import load_config
    from iac.cors.targets import documents
    from iac.files.ledger import CORS_RENDER, MANIFEST_GENERATE, RENDER, may_write
    from iac.terraform.render import render

    backend = config.read_text() + "terraform: {backend: {gcs: {bucket: acme-tfstate, prefix: encord-da}}}\n"
    config.write_text(backend)
    for name in render(load_config(config)).files:
        assert may_write(RENDER, name), name
    for document in documents(load_config(EXAMPLES / "cors" / "iac.yaml").config.cors):  # type: ignore[arg-type]
        assert may_write(CORS_RENDER, document.name), document.name
    for name in ("images-0001.json", "videos-12345.csv", "dicom-0002.json", "skipped.csv"):
        assert may_write(MANIFEST_GENERATE, name), name
    for writer in (RENDER, CORS_RENDER, MANIFEST_GENERATE):
        for name in TERRAFORMS:
            assert not may_write(writer, name), (writer, name)


# --- 16.3: a malformed ledger is one message -----------------------------------------------------------------


def corrupt(ledger: dict, how: str) -> str:  # type: ignore[type-arg]
    """The ledger iac wrote, with one malformed value."""
    files = ledger["files"]
    if how == "plain-nul":
        return "# Files written by `iac render`\n" + "".join(f"{name}\n" for name in [*files, "a\x00b"])
    if how == "plain-osc":
        return "# Files written by `iac render`\n" + "".join(f"{name}\n" for name in [*files, "\x1b]0;pwned\x07"])
    changed = {
        "nul": {"files": [*files, "a\x00b"]},
        "surrogate": {"files": [*files, "\ud800.tf"]},
        "escape-in-writer": {"writer": "render\x1b[2J"},
        "surrogate-in-deployment": {"deployment": {"project": "p\udc80", "name": "n"}},
        "nested-list": {"files": [*files, ["main.tf"]]},
    }[how]
    return json.dumps({**ledger, **changed})


@pytest.mark.parametrize(
    "how",
    ["nul", "surrogate", "escape-in-writer", "surrogate-in-deployment", "nested-list", "plain-nul", "plain-osc"],
)
def test_a_malformed_ledger_is_one_message(cli, config, rendered, how: str) -> None:
    ledger = json.loads((rendered / ".iac-files").read_text())
    (rendered / ".iac-files").write_text(corrupt(ledger, how), encoding="utf-8", errors="surrogatepass")
    before = tree(rendered)
    stderr = refused(cli("render", "-c", config, "-o", rendered))
    assert f"{rendered / '.iac-files'}: not a list of files iac can read" in stderr
    assert "\x1b" not in stderr and "\x00" not in stderr
    assert tree(rendered) == before
    assert ok(cli("allowlist", "list", "-c", config, "-o", rendered))  # a reader is not stopped by it


# --- 16.4: only regular files, each kind with a cap -------------------------------------------------------


def test_a_device_as_config_is_one_message(cli) -> None:
    stderr = refused(cli("validate", "-c", "/dev/zero"))
    assert "/dev/zero: is a character device, not a regular file: iac reads a config file only from a regular file" in (
        stderr
    )
    result = cli("validate", "-c", "/dev/zero", "--json")
    assert result.exit_code == 1
    assert "is a character device" in json.loads(result.stdout)["problems"][0]
    stderr = refused(cli("allowlist", "add", "34.90.1.1", "-c", "/dev/zero", "--dry-run"))
    assert "/dev/zero: is a character device" in stderr


def test_a_config_over_its_cap_is_one_message(cli, config) -> None:
    from iac.files.inputs import CONFIG_FILE

    with config.open("r+b") as handle:
        handle.truncate(CONFIG_FILE.limit + 1)  # sparse: nothing is written to the disk
    for args in (["validate"], ["render"], ["allowlist", "add", "34.90.1.1", "--dry-run"]):
        stderr = refused(cli(*args, "-c", config))
        assert f"{config}: is larger than 16 MiB, the cap on a config file" in stderr, args


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    yield path


def test_a_fifo_or_device_ledger_is_one_message_without_waiting(cli, config, rendered) -> None:
    (rendered / ".iac-files").unlink()
    os.mkfifo(rendered / ".iac-files")
    stderr = refused(cli("render", "-c", config, "-o", rendered))
    assert f"{rendered / '.iac-files'}: cannot read iac's list of the files it wrote here: is a FIFO" in stderr
    (rendered / ".iac-files").unlink()
    (rendered / ".iac-files").symlink_to("/dev/zero")
    stderr = refused(cli("render", "-c", config, "-o", rendered))
    assert f"{rendered / '.iac-files'}: cannot read iac's list of the files it wrote here: is a symlink" in stderr


def test_a_ledger_over_its_cap_is_one_message(cli, config, rendered) -> None:
    from iac.files.inputs import LEDGER_FILE

    with (rendered / ".iac-files").open("r+b") as handle:
        handle.truncate(LEDGER_FILE.limit + 1)
    stderr = refused(cli("render", "-c", config, "-o", rendered))
    assert (
        f"{rendered / '.iac-files'}: cannot read iac's list of the files it wrote here: is larger than 64 MiB" in stderr
    )
    assert "the cap on an output directory's ledger" in stderr


def test_a_rendered_main_tf_that_is_a_fifo_is_replaced_not_read(cli, config, rendered) -> None:
    (rendered / "allowlist" / "main.tf").unlink()  # the one whose rules are read back
    os.mkfifo(rendered / "allowlist" / "main.tf")
    ok(cli("render", "-c", config, "-o", rendered))  # read back as no earlier rendering; would hang if opened
    assert (rendered / "allowlist" / "main.tf").is_file()


def test_a_single_root_main_tf_that_is_a_fifo_is_removed_not_read(cli, tmp_path) -> None:
    """The main.tf of the single-root layout, read back on an upgrade: a FIFO there is no rendering to read."""
    from test_roots import upgrade_fixture

    config, out = upgrade_fixture(tmp_path, "documented")
    (out / "main.tf").unlink()
    os.mkfifo(out / "main.tf")
    ok(cli("render", "-c", config, "-o", out))  # would hang if opened
    assert not os.path.lexists(out / "main.tf"), "a file of the old layout the ledger names, removed"
    assert (out / "allowlist" / "main.tf").is_file() and (out / "serving" / "main.tf").is_file()


def test_manifest_validate_of_a_device_or_fifo_is_one_problem(cli, fifo, tmp_path) -> None:
    for path in ("/dev/zero", str(fifo)):
        result = cli("manifest", "validate", path)
        assert result.exit_code == 1, result.output
        assert "not a regular file" in result.output
    big = tmp_path / "big.json"
    from iac.files.inputs import REGISTRATION_FILE

    with big.open("wb") as handle:
        handle.truncate(REGISTRATION_FILE.limit + 1)
    result = cli("manifest", "validate", big)
    assert result.exit_code == 1
    assert "is larger than 256 MiB, the cap on a registration file" in result.output


def test_an_address_list_must_be_a_regular_file_under_its_cap(cli, config, fifo, tmp_path) -> None:
    before = config.read_bytes()
    stderr = refused(cli("allowlist", "set", "--from", "/dev/zero", "-c", config))
    assert "/dev/zero: is a character device, not a regular file" in stderr
    stderr = refused(cli("allowlist", "set", "--from", fifo, "-c", config))
    assert f"{fifo}: is a FIFO" in stderr and "--from -" in stderr
    from iac.files.inputs import ADDRESS_LIST

    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        handle.truncate(ADDRESS_LIST.limit + 1)
    stderr = refused(cli("allowlist", "set", "--from", big, "-c", config))
    assert f"{big}: is larger than 16 MiB, the cap on a list of addresses" in stderr
    stderr = refused(cli("allowlist", "set", "--from", "-", "-c", config, input="#" * (ADDRESS_LIST.limit + 1)))
    assert "<stdin>: is larger than 16 MiB, the cap on a list of addresses" in stderr
    assert config.read_bytes() == before


# --- 16.5: one writer of an output directory at a time --------------------------------------------------------

HOLD_OUTPUT = """
import sys, time
from pathlib import Path
from iac.files.locks import locked_output
with locked_output(Path(sys.argv[1]), 5):
    print("held", flush=True)
    time.sleep(60)
"""

HOLD_CONFIG = """
import sys, time
from pathlib import Path
from iac.files.locks import locked
with locked(Path(sys.argv[1]), 5):
    print("held", flush=True)
    time.sleep(60)
"""


def holding(script: str, path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def release(holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait()


@pytest.mark.parametrize("command", [["render"], ["cors", "render"], ["plan", "--terraform", "/bin/false"]])
def test_a_locked_output_directory_makes_a_writer_wait_then_fail(cli, tmp_path, command: list[str]) -> None:
    config = tmp_path / "iac.yaml"
    shutil.copyfile(EXAMPLES / "cors" / "iac.yaml", config)
    out = tmp_path / "out"
    out.mkdir()
    holder = holding(HOLD_OUTPUT, out)
    try:
        stderr = refused(cli(*command, "-c", config, "-o", out, "--lock-timeout", "1s"))
    finally:
        release(holder)
    assert f"{out}: another iac command is writing this output directory" in stderr
    assert "nothing was changed" in stderr and "--lock-timeout" in stderr
    assert list(out.iterdir()) == []


def test_render_lock_timeout_has_the_environment_variable(cli) -> None:
    text = " ".join(ok(cli("render", "--help")).replace("│", " ").split())
    assert "--lock-timeout" in text and "IAC_LOCK_TIMEOUT" in text


@pytest.mark.slow
def test_parallel_renders_into_one_directory_all_succeed_and_leave_it_complete(config, tmp_path) -> None:
    out = tmp_path / "build"
    for trial in range(8):
        shutil.rmtree(out, ignore_errors=True)
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "iac", "render", "-c", str(config), "-o", str(out)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        for run in runs:
            _, err = run.communicate(timeout=120)
            assert run.returncode == 0, f"trial {trial}: {err}"
        assert json.loads((out / ".iac-files").read_text())["complete"] is True
        assert not (out / ".iac-staging").exists()


# --- 16.6: never into a directory iac did not write ------------------------------------------------------


def test_a_directory_that_is_not_empty_and_not_iacs_is_refused(cli, config, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine\n")
    stderr = refused(cli("render", "-c", config, "-o", home))
    assert f"{home}: is not empty and holds no .iac-files" in stderr
    assert f"touch {home / '.iac-files'}" in stderr
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"]
    stderr = refused(cli("cors", "render", "-c", EXAMPLES / "cors" / "iac.yaml", "-o", home))
    assert "is not empty and holds no .iac-files" in stderr

    (home / ".iac-files").touch()  # adopted on purpose
    ok(cli("render", "-c", config, "-o", home))
    assert (home / "serving" / "main.tf").is_file() and (home / "allowlist" / "main.tf").is_file()
    assert (home / ".bashrc").read_text() == "# mine\n"


def test_the_configs_own_directory_may_be_the_output(cli, config, tmp_path) -> None:
    (tmp_path / "README.md").write_text("the team's notes\n")
    ok(cli("render", "-c", config, "-o", tmp_path))
    assert (tmp_path / "serving" / "main.tf").is_file() and (tmp_path / "allowlist" / "main.tf").is_file()
    assert config.read_text() == CONFIG and (tmp_path / "README.md").read_text() == "the team's notes\n"
    ok(cli("allowlist", "add", "34.90.1.1", "-c", config, "-o", tmp_path))  # the config lock is the same lock
    ok(cli("render", "-c", config, "-o", tmp_path))


# --- 16.7 and 15.8: one lock per config file, wherever it is reached from, and no lock file ----------------


def test_one_config_through_two_symlinks_has_one_lock(cli, tmp_path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "iac.yaml").write_text(CONFIG)
    links = []
    for name in ("d1", "d2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "iac.yaml").symlink_to(real / "iac.yaml")
        links.append(tmp_path / name / "iac.yaml")
    holder = holding(HOLD_CONFIG, links[0])
    try:
        stderr = refused(cli("allowlist", "add", "34.90.1.1", "-c", links[1], "--lock-timeout", "1s"))
    finally:
        release(holder)
    assert f"{links[1]}: another iac command is editing this file" in stderr
    assert "--lock-timeout" in stderr
    assert (real / "iac.yaml").read_text() == CONFIG


def test_an_edit_leaves_nothing_for_git_status_but_the_config(cli, tmp_path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "iac.yaml").write_text(CONFIG)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "iac.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "config"], check=True)
    ok(cli("allowlist", "add", "34.90.1.1", "-c", repo / "iac.yaml", "-o", tmp_path / "build"))
    status = subprocess.run([*git, "status", "--porcelain"], check=True, capture_output=True, text=True).stdout
    assert status == " M iac.yaml\n"


# --- 16.10: a dry run reads only ---------------------------------------------------------------------------


def unprivileged() -> list[str]:
    """A prefix that runs a command without root's power to write anywhere (nothing as another user)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and no setpriv to drop the capability to write anywhere")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def test_a_dry_run_in_a_directory_nobody_may_write_works(tmp_path) -> None:
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    (directory / "iac.yaml").write_text(CONFIG)
    (directory / "build").mkdir()
    directory.chmod(0o555)
    try:
        result = subprocess.run(
            [
                *unprivileged(),
                sys.executable,
                "-m",
                "iac",
                "allowlist",
                "add",
                "34.90.1.1",
                "--dry-run",
                "-c",
                str(directory / "iac.yaml"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        directory.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert "+ 34.90.1.1/32" in result.stdout and "dry run" in result.stdout
    assert sorted(p.name for p in directory.iterdir()) == ["build", "iac.yaml"]


# --- 16.8 and 16.9: flow-style lists keep their comments; aliases are one message -------------------------

FLOW = """\
project: my-gcp-project
name: encord-da
domain: encord-directaccess.acme.com
bucket: {name: encord-data, location: EU}
allowlist: [  # who may read
  39.42.20.11/32,   # office
  # the VPN, two egress addresses
  130.192.120.23/32, "151.101.1.1/32"  # vpn b
]  # reviewed
cdn: {default_ttl: 3600}
"""


def test_a_flow_list_keeps_its_comments_when_edited(cli, tmp_path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(FLOW)
    ok(cli("allowlist", "add", "34.90.1.1", "--note", "new", "-c", config))
    assert config.read_text() == (
        "project: my-gcp-project\n"
        "name: encord-da\n"
        "domain: encord-directaccess.acme.com\n"
        "bucket: {name: encord-data, location: EU}\n"
        "allowlist:  # who may read  # reviewed\n"
        "  - 34.90.1.1/32  # new\n"
        "  - 39.42.20.11/32  # office\n"
        "  # the VPN, two egress addresses\n"
        "  - 130.192.120.23/32\n"
        '  - "151.101.1.1/32"  # vpn b\n'
        "cdn: {default_ttl: 3600}\n"
    )
    ok(cli("allowlist", "remove", "39.42.20.11/32", "-c", config))
    text = config.read_text()
    assert "# office" not in text and "# the VPN, two egress addresses\n  - 130.192.120.23/32\n" in text


ALIASES = [
    "allowlist:\n  - *d\n  - 39.42.20.11/32\n",
    "allowlist:\n  - 39.42.20.11/32\n  - *d\n",
    "allowlist: [39.42.20.11/32, *d]\n",
    "allowlist:\n  - &a 39.42.20.11/32\n  - *a\n",
]


@pytest.mark.parametrize("allowlist", ALIASES, ids=["block-first", "block", "flow", "anchored-in-list"])
def test_an_alias_as_an_entry_is_one_message(cli, tmp_path, allowlist: str) -> None:
    config = tmp_path / "iac.yaml"
    text = CONFIG.split("allowlist:")[0].replace(f"domain: {DOMAIN}", f"domain: &d {DOMAIN}") + allowlist
    config.write_text(text)
    stderr = refused(cli("allowlist", "add", "34.90.1.1", "-c", config))
    assert "an alias (*" in stderr and "write the address out" in stderr
    assert config.read_text() == text


def test_an_allowlist_that_is_an_alias_is_one_message(cli, tmp_path) -> None:
    config = tmp_path / "iac.yaml"
    text = CONFIG.split("allowlist:")[0] + "cors:\n  origins: &o\n    - https://app.encord.com\nallowlist: *o\n"
    config.write_text(text)
    stderr = refused(cli("allowlist", "add", "34.90.1.1", "-c", config))
    assert "allowlist: is an alias" in stderr and "write the list out" in stderr
    assert config.read_text() == text
