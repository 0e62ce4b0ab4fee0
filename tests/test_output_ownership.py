"""Output directories: each belongs to one command and one deployment (the ledger, `.iac-files`), defaults
beside the config file, and survives a run stopped at any point (staging, then commit through the ledger)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_roots import upgrade_fixture

from conftest import EXAMPLES, ROOT, ok, refused

CORS_CONFIG = EXAMPLES / "cors" / "iac.yaml"
DOMAIN = "encord-directaccess.acme.com"
# Two renderings of one deployment that differ: B adds an address and a state backend (backend.tf).
CONFIG_A = f"""\
project: my-gcp-project
name: encord-da
domain: {DOMAIN}
dns_zone: acme-com
bucket: {{name: encord-data, location: EU}}
allowlist: [39.42.20.11/32, 130.192.120.23/32]
"""
CONFIG_B = CONFIG_A.replace("130.192.120.23/32]", "130.192.120.23/32, 151.101.1.1/32]") + (
    "terraform:\n  backend:\n    gcs: {bucket: acme-tfstate, prefix: encord-da}\n"
)


def tree(directory: Path) -> dict[str, bytes]:
    """Every file below `directory` (the ledger and anything hidden included), by relative path."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def assert_no_leftovers(directory: Path) -> None:
    assert not (directory / ".iac-staging").exists()
    assert not [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


# --- one ledger, one writer per directory ------------------------------------------------------------------


def test_render_and_cors_render_keep_to_their_own_directories(cli, tmp_path, monkeypatch) -> None:
    config = tmp_path / "iac.yaml"
    shutil.copyfile(CORS_CONFIG, config)
    tfout = tmp_path / "tfout"
    monkeypatch.setenv("IAC_OUTPUT", str(tfout))
    ok(cli("render", "-c", config))
    rendered = tree(tfout)
    assert {
        "serving/main.tf",
        "serving/versions.tf",
        "serving/modules/gcp-direct-access/main.tf",
        "allowlist/main.tf",
        "allowlist/versions.tf",
        "allowlist/modules/gcp-direct-access-allowlist/main.tf",
    } <= set(rendered)

    # IAC_OUTPUT is the Terraform configuration's directory: cors render has its own, beside the config.
    stdout = ok(cli("cors", "render", "-c", config))
    assert f"Rendered {tmp_path / 'cors'}/" in stdout
    assert (tmp_path / "cors" / "gcs-acme-archive-data.json").is_file()
    assert tree(tfout) == rendered

    # Asked to write into the Terraform configuration's directory, it refuses, naming the owner.
    stderr = refused(cli("cors", "render", "-c", config, "-o", tfout))
    assert f"{tfout}: holds the files of `iac render`" in stderr
    assert "`iac cors render` would replace or remove: choose another directory with -o DIR" in stderr
    assert tree(tfout) == rendered
    # And the other way round.
    cors = tree(tmp_path / "cors")
    monkeypatch.setenv("IAC_OUTPUT", str(tmp_path / "cors"))
    stderr = refused(cli("render", "-c", config))
    assert "holds the files of `iac cors render`" in stderr
    assert tree(tmp_path / "cors") == cors


def help_text(cli, *command: str) -> str:  # type: ignore[no-untyped-def]
    """The help of `iac COMMAND`, without the frame and the line breaks."""
    return " ".join(ok(cli(*command, "--help")).replace("│", " ").split())


def test_cors_output_option_is_its_own(cli) -> None:
    text = help_text(cli, "cors", "render")
    assert "Directory for the CORS documents (default: cors/ beside the config file)" in text
    assert "Terraform configuration" not in text
    assert "IAC_OUTPUT" not in text


@pytest.fixture
def images_bucket(gcs_client, request: pytest.FixtureRequest) -> str:  # type: ignore[no-untyped-def]
    name = f"ownership-{abs(hash(request.node.name)) % 10**8}"
    bucket = gcs_client.create_bucket(name)
    for i in range(1, 6):
        bucket.blob(f"img/{i:04d}.png").upload_from_string(b"\x89PNG", content_type="image/png")
    bucket.blob("tools/setup.exe").upload_from_string(b"MZ", content_type="application/x-msdownload")
    return name


def manifest_config(path: Path, bucket: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG_A.replace("{name: encord-data, location: EU}", f"{{name: {bucket}, location: EU}}"))
    return path


def test_manifest_generate_and_render_refuse_each_others_directory(cli, tmp_path, images_bucket) -> None:
    config = manifest_config(tmp_path / "iac.yaml", images_bucket)
    build = tmp_path / "build"
    ok(cli("manifest", "generate", "-c", config, "-o", build))
    manifests = tree(build)
    assert "images-0001.json" in manifests
    stderr = refused(cli("render", "-c", config, "-o", build))
    assert f"{build}: holds the files of `iac manifest generate`" in stderr
    assert "choose another directory with -o DIR" in stderr
    assert tree(build) == manifests

    rendered_dir = tmp_path / "manifests"
    ok(cli("render", "-c", config, "-o", rendered_dir))
    rendered = tree(rendered_dir)
    stderr = refused(cli("manifest", "generate", "-c", config, "-o", rendered_dir))
    assert f"{rendered_dir}: holds the files of `iac render`" in stderr
    assert tree(rendered_dir) == rendered


def test_ledger_records_writer_deployment_and_files(cli, tmp_path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG_B)
    out = tmp_path / "out"
    ok(cli("render", "-c", config, "-o", out))
    first = (out / ".iac-files").read_bytes()
    ledger = json.loads(first)
    assert ledger["writer"] == "render"
    assert ledger["deployment"] == {"project": "my-gcp-project", "name": "encord-da"}
    assert ledger["complete"] is True
    assert ledger["files"] == sorted(name for name in tree(out) if name != ".iac-files")
    assert {"serving/backend.tf", "allowlist/backend.tf"} <= set(ledger["files"])
    ok(cli("render", "-c", config, "-o", out))
    assert (out / ".iac-files").read_bytes() == first  # nothing in it changes from run to run
    assert_no_leftovers(out)


def plain_list(out: Path) -> None:
    """The ledger of `out` as `iac render` wrote it before the JSON ledger: a comment and one name a line."""
    names = json.loads((out / ".iac-files").read_text())["files"]
    (out / ".iac-files").write_text(
        "# Files written by `iac render`; the next render replaces them and removes stale ones.\n"
        + "".join(f"{name}\n" for name in names)
    )


def test_a_plain_list_of_an_earlier_version_keeps_working(cli, tmp_path) -> None:
    # The versions that wrote plain lists rendered the single-root layout: the list names its files.
    config, out = upgrade_fixture(tmp_path, "documented")
    plain_list(out)
    config.write_text(config.read_text().replace("  - 130.192.120.23/32  # Porto NAT A\n", ""))
    stdout = ok(cli("render", "-c", config, "-o", out))
    # Read as iac render's: its files are replaced, the stale ones removed (the whole layout).
    for name in ("main.tf", "backend.tf", "modules/gcp-direct-access/main.tf"):
        assert f"removed stale file {name}\n" in stdout
    # main.tf was read back as iac's rendering: the rules are compared with it, and adopted.
    assert "Cloud Armor rules changed: 1 of 1, compared with the rendering in" in stdout
    assert "upgraded from the single-root layout" in stdout
    fresh = tmp_path / "fresh"
    ok(cli("render", "-c", config, "-o", fresh))
    upgraded, expected = tree(out), tree(fresh)
    assert upgraded.pop("allowlist/imports.tf")
    ledger, fresh_ledger = (json.loads(files.pop(".iac-files")) for files in (upgraded, expected))
    assert upgraded == expected, "the rest is what a fresh rendering writes"
    # The ledger is rewritten in the JSON format, with the deployment: a fresh rendering's, and the imports.
    assert ledger == {**fresh_ledger, "files": sorted([*fresh_ledger["files"], "allowlist/imports.tf"])}
    # One written by `iac manifest generate` belongs to it.
    manifests = tmp_path / "old-manifests"
    manifests.mkdir()
    (manifests / "images-0001.json").write_text("{}")
    (manifests / ".iac-files").write_text("# Files written by `iac manifest generate`; ...\nimages-0001.json\n")
    assert "holds the files of `iac manifest generate`" in refused(cli("render", "-c", config, "-o", manifests))
    # `iac cors render` wrote the same comment as `iac render`, but never a main.tf.
    cors = tmp_path / "old-cors"
    cors.mkdir()
    (cors / "gcs-acme-archive-data.json").write_text("[]")
    (cors / ".iac-files").write_text("# Files written by `iac render`; ...\ngcs-acme-archive-data.json\n")
    assert "holds the files of `iac cors render`" in refused(cli("render", "-c", config, "-o", cors))
    ok(cli("cors", "render", "-c", CORS_CONFIG, "-o", cors))
    assert json.loads((cors / ".iac-files").read_text())["writer"] == "cors render"


def test_an_unreadable_ledger_is_reported(cli, tmp_path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG_A)
    out = tmp_path / "build"
    ok(cli("render", "-c", config, "-o", out))
    (out / ".iac-files").write_text('{"writer": "render", "files": ')
    stderr = refused(cli("render", "-c", config, "-o", out))
    assert f"{out / '.iac-files'}: not a list of files iac can read" in stderr
    assert "restore it, or write to another directory with -o DIR" in stderr


# What the user keeps at the top of an output directory of the single-root layout: files Terraform does not read,
# inside directories the upgrade empties of iac's files too, and Terraform's own working directory.
USERS_FILES = {
    "README.md": b"# our deployment\n",
    "runbooks/rotate.md": b"call the on-call first\n",
    "modules/gcp-direct-access/NOTES.txt": b"reviewed 2025-11\n",
    ".terraform/modules/modules.json": b'{"Modules": []}\n',
}


@pytest.mark.parametrize("ledger", ["json", "plain list"])
def test_an_upgraded_directory_lists_only_the_new_files_and_keeps_the_users(cli, tmp_path, ledger: str) -> None:
    config, out = upgrade_fixture(tmp_path, "documented")
    old = set(json.loads((out / ".iac-files").read_text())["files"])
    if ledger == "plain list":
        plain_list(out)
    for name, content in USERS_FILES.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    ok(cli("render", "-c", config, "-o", out))

    written = json.loads((out / ".iac-files").read_text())
    assert written["writer"] == "render" and written["complete"] is True
    assert written["deployment"] == {"project": "my-gcp-project", "name": "encord-da"}
    fresh = tmp_path / "fresh"
    ok(cli("render", "-c", config, "-o", fresh))
    # The files of the new layout, and allowlist/imports.tf, which adopts the rules deployed: nothing else.
    fresh_files = json.loads((fresh / ".iac-files").read_text())["files"]
    assert written["files"] == sorted([*fresh_files, "allowlist/imports.tf"])
    assert all(name.startswith(("serving/", "allowlist/")) for name in written["files"] if name != ".gitignore")
    assert not (old - {".gitignore"}) & set(written["files"])
    for name in old - {".gitignore"}:
        assert not (out / name).exists(), f"{name} of the single-root layout is removed"
    # The user's files are untouched, and no file of theirs is in the ledger.
    for name, content in USERS_FILES.items():
        assert (out / name).read_bytes() == content, name
    assert not set(USERS_FILES) & set(written["files"])
    assert cli("render", "-c", config, "-o", out, "--check").exit_code == 0


# --- a failed listing in `iac manifest generate` --------------------------------------------------------


def test_a_failed_listing_is_reported_and_the_next_run_completes(cli, tmp_path, images_bucket, monkeypatch) -> None:
    from google.api_core import exceptions
    from google.cloud import storage

    config = manifest_config(tmp_path / "iac.yaml", images_bucket)
    args = ["manifest", "generate", "-c", config, "--images-per-file", "2"]
    fresh = tmp_path / "fresh"
    ok(cli(*args, "-o", fresh))
    assert sorted(tree(fresh)) == [".iac-files", *(f"images-000{i}.json" for i in (1, 2, 3)), "skipped.csv"]
    # One directory empty, one holding an earlier run's files, some of which no longer belong.
    empty, earlier = tmp_path / "empty", tmp_path / "earlier"
    ok(cli("manifest", "generate", "-c", config, "--images-per-file", "1", "-o", earlier))
    assert (earlier / "images-0005.json").exists()

    real_list_blobs = storage.Client.list_blobs

    def list_then_fail(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        for count, blob in enumerate(real_list_blobs(self, *args, **kwargs)):
            if count == 3:  # after the first batch file (2 images) was written
                raise exceptions.ServiceUnavailable("backend error")
            yield blob

    for out in (empty, earlier):
        monkeypatch.setattr(storage.Client, "list_blobs", list_then_fail)
        stderr = refused(cli(*args, "-o", out))
        assert f"gs://{images_bucket}: cannot list objects: backend error" in stderr
        assert len(json.loads((out / "images-0001.json").read_text())["images"]) == 2  # written, and recorded
        assert_no_leftovers(out)
        ledger = (out / ".iac-files").read_text() if (out / ".iac-files").exists() else "{}"

        monkeypatch.setattr(storage.Client, "list_blobs", real_list_blobs)
        ok(cli(*args, "-o", out))
        assert tree(out) == tree(fresh)
        assert_no_leftovers(out)
        assert json.loads(ledger)["complete"] is False
        assert "images-0001.json" in json.loads(ledger)["files"]


def test_a_network_failure_while_listing_is_one_message(cli, tmp_path, images_bucket, monkeypatch) -> None:
    """Retries exhausted, or the connection refused: a message saying what to check, not a traceback."""
    import requests
    from google.api_core import exceptions
    from google.cloud import storage

    config = manifest_config(tmp_path / "iac.yaml", images_bucket)
    failures = [
        exceptions.RetryError("Timeout of 120.0s exceeded", cause=None),
        requests.exceptions.ConnectionError("Connection refused"),
    ]
    for failure in failures:

        def unreachable(self, *args, failure=failure, **kwargs):  # type: ignore[no-untyped-def]
            raise failure
            yield  # a generator, like the real listing

        monkeypatch.setattr(storage.Client, "list_blobs", unreachable)
        stderr = refused(cli("manifest", "generate", "-c", config, "-o", tmp_path / "out"))
        assert f"gs://{images_bucket}: cannot reach Cloud Storage to list the objects" in stderr
        assert "Traceback" not in stderr


# --- two deployments, one directory ------------------------------------------------------------------------


def test_each_config_renders_beside_itself_by_default(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IAC_OUTPUT", raising=False)
    for env in ("a", "b"):
        (tmp_path / "envs" / env).mkdir(parents=True)
        (tmp_path / "envs" / env / "iac.yaml").write_text(CONFIG_A.replace("name: encord-da", f"name: encord-{env}"))
    ok(cli("render", "-c", "envs/a/iac.yaml"))
    ok(cli("render", "-c", "envs/b/iac.yaml"))
    assert not (tmp_path / "build").exists()
    for env in ("a", "b"):
        ledger = json.loads((tmp_path / "envs" / env / "build" / ".iac-files").read_text())
        assert ledger["deployment"]["name"] == f"encord-{env}"
    for root in ("serving", "allowlist"):
        assert '"encord-a"' in (tmp_path / "envs" / "a" / "build" / root / "main.tf").read_text()
    assert ok(cli("allowlist", "list", "-c", "envs/a/iac.yaml")).startswith("2 ranges")
    # The config in the current directory: build/ here, as before.
    shutil.copyfile(tmp_path / "envs" / "a" / "iac.yaml", tmp_path / "iac.yaml")
    ok(cli("render"))
    assert (tmp_path / "build" / "serving" / "main.tf").is_file()


@pytest.mark.parametrize(
    ("command", "default"),
    [
        (["render"], "build/ beside the config file"),
        (["plan"], "build/ beside the config file"),
        (["apply"], "build/ beside the config file"),
        (["allowlist", "add"], "build/ beside the config file"),
        (["allowlist", "list"], "build/ beside the config file"),
        (["cors", "render"], "cors/ beside the config file"),
        (["manifest", "generate"], "manifests/ beside the config file"),
    ],
)
def test_help_names_the_default_directory(cli, command: list[str], default: str) -> None:
    assert f"(default: {default})" in help_text(cli, *command)


def test_cors_render_defaults_beside_the_config(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "env").mkdir()
    shutil.copyfile(CORS_CONFIG, tmp_path / "env" / "iac.yaml")
    ok(cli("cors", "render", "-c", "env/iac.yaml"))
    assert (tmp_path / "env" / "cors" / "gcs-acme-archive-data.json").is_file()


def test_manifest_generate_defaults_beside_the_config(cli, tmp_path, images_bucket, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    manifest_config(tmp_path / "env" / "iac.yaml", images_bucket)
    ok(cli("manifest", "generate", "-c", "env/iac.yaml"))
    assert (tmp_path / "env" / "manifests" / "images-0001.json").is_file()


def test_another_deployments_rendering_is_refused_naming_both(cli, tmp_path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text(CONFIG_A)
    second = tmp_path / "b.yaml"
    second.write_text(CONFIG_A.replace("project: my-gcp-project", "project: other-project"))
    out = tmp_path / "build"
    ok(cli("render", "-c", first, "-o", out))
    before = tree(out)
    stderr = refused(cli("render", "-c", second, "-o", out))
    assert f"{out}: holds the files `iac render` wrote for deployment encord-da of project my-gcp-project" in stderr
    assert "not for this config's deployment encord-da of project other-project" in stderr
    assert "choose another directory with -o DIR" in stderr
    assert tree(out) == before


# --- a dangling symlink ----------------------------------------------------------------------------------


def test_a_dangling_symlink_as_output_is_named(cli, tmp_path) -> None:
    config = tmp_path / "iac.yaml"
    shutil.copyfile(CORS_CONFIG, config)
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "gone")
    expected = f"{link}: is a symlink to {tmp_path / 'gone'}, which does not exist: create it or choose another"
    assert expected in refused(cli("render", "-c", config, "-o", link))
    assert expected in refused(cli("cors", "render", "-c", config, "-o", link))
    stderr = refused(cli("render", "-c", config, "-o", link / "sub"))
    assert f"{link / 'sub'}: {link} is a symlink to {tmp_path / 'gone'}, which does not exist" in stderr
    assert not (tmp_path / "gone").exists()
    assert link.is_symlink()

    from iac.files.ledger import OutputError
    from iac.manifest.generate import generate

    with pytest.raises(OutputError, match="which does not exist: create it or choose another directory"):
        generate([], DOMAIN, link)

    # A symlink to a directory that exists is written through.
    (tmp_path / "gone").mkdir()
    ok(cli("render", "-c", config, "-o", link))
    assert (tmp_path / "gone" / "serving" / "main.tf").is_file()


# --- runs killed at every step -----------------------------------------------------------------------------

# `python -m iac ARGS`, with iac.files.atomic.after_step set to SIGKILL the process at step KILL_AT (0: never)
# and to log each step's label to STEP_LOG.
KILLED_IAC = textwrap.dedent(
    """\
    import os, runpy, signal, sys
    import iac.files.atomic

    steps = []

    def after_step(label):
        steps.append(label)
        with open(os.environ["STEP_LOG"], "a") as log:
            log.write(label + "\\n")
        if len(steps) == int(os.environ["KILL_AT"]):
            os.kill(os.getpid(), signal.SIGKILL)

    iac.files.atomic.after_step = after_step
    sys.argv[0] = "iac"
    runpy.run_module("iac", run_name="__main__", alter_sys=True)
    """
)


def run_killed(args: list[str], kill_at: int, log: Path) -> subprocess.CompletedProcess[str]:
    log.unlink(missing_ok=True)
    env = {**os.environ, "KILL_AT": str(kill_at), "STEP_LOG": str(log)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", KILLED_IAC, *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("before", "killed"), [("A", "B"), ("B", "A"), (None, "B")])
def test_a_render_killed_at_any_step_is_completed_or_rolled_back(
    cli, tmp_path: Path, before: str | None, killed: str
) -> None:
    configs = {"A": tmp_path / "a.yaml", "B": tmp_path / "b.yaml"}
    configs["A"].write_text(CONFIG_A)
    configs["B"].write_text(CONFIG_B)
    fresh = {}
    for name, config in configs.items():
        ok(cli("render", "-c", config, "-o", tmp_path / f"fresh-{name}"))
        fresh[name] = tree(tmp_path / f"fresh-{name}")
    assert set(fresh["B"]) - set(fresh["A"]) == {"serving/backend.tf", "allowlist/backend.tf"}

    def prepared(directory: Path) -> Path:
        shutil.rmtree(directory, ignore_errors=True)
        if before is not None:
            ok(cli("render", "-c", configs[before], "-o", directory))
        return directory

    # The steps of the uninterrupted run, then that run killed after each of them.
    log = tmp_path / "steps.log"
    out = prepared(tmp_path / "out")
    done = run_killed(["render", "-c", str(configs[killed]), "-o", str(out)], 0, log)
    assert done.returncode == 0, done.stderr
    assert tree(out) == fresh[killed]
    steps = log.read_text().splitlines()
    assert steps.count("ledger (incomplete)") == 1 and steps[-1] == "ledger", steps
    if before is not None:
        changes = {"A": "remove", "B": "rename"}[killed]
        backends = {f"{changes} {root}/backend.tf" for root in ("serving", "allowlist")}
        assert backends | {"rename allowlist/main.tf"} <= set(steps), steps

    for step, label in enumerate(steps, start=1):
        out = prepared(tmp_path / "out")
        killed_run = run_killed(["render", "-c", str(configs[killed]), "-o", str(out)], step, log)
        assert killed_run.returncode == -signal.SIGKILL, (label, killed_run.stderr)
        assert log.read_text().splitlines()[-1] == label
        # Then either config again: the next run completes the killed one, or rolls it back.
        for rerender in ("A", "B"):
            copy = tmp_path / f"after-kill-{rerender}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(out, copy, symlinks=True)
            ok(cli("render", "-c", configs[rerender], "-o", copy))
            assert tree(copy) == fresh[rerender], f"killed after step {step} ({label}), then rendered {rerender}"
            assert_no_leftovers(copy)


@pytest.mark.slow
def test_an_upgrade_killed_at_any_step_is_completed(cli, tmp_path: Path) -> None:
    """The upgrade of a single-root rendering, stopped anywhere, is completed by the next render: the same files,
    the import blocks of every deployed rule included, and the local state in serving/, never lost."""
    config, source = upgrade_fixture(tmp_path, "documented")
    (source / "terraform.tfstate").write_text('{"version": 4, "serial": 7}\n')
    (source / ".terraform.lock.hcl").write_text("# lock\n")

    def prepared(directory: Path) -> Path:
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(source, directory)
        return directory

    log = tmp_path / "steps.log"
    out = prepared(tmp_path / "out")
    done = run_killed(["render", "-c", str(config), "-o", str(out)], 0, log)
    assert done.returncode == 0, done.stderr
    upgraded = tree(out)
    assert "allowlist/imports.tf" in upgraded and "main.tf" not in upgraded
    assert upgraded["serving/terraform.tfstate"] == b'{"version": 4, "serial": 7}\n'
    steps = log.read_text().splitlines()
    assert {"remove main.tf", "rename allowlist/imports.tf", "rename allowlist/main.tf"} <= set(steps), steps

    for step, label in enumerate(steps, start=1):
        out = prepared(tmp_path / "out")
        killed_run = run_killed(["render", "-c", str(config), "-o", str(out)], step, log)
        assert killed_run.returncode == -signal.SIGKILL, (label, killed_run.stderr)
        ok(cli("render", "-c", config, "-o", out))
        assert tree(out) == upgraded, f"killed after step {step} ({label})"
        assert_no_leftovers(out)


@pytest.mark.slow
def test_a_manifest_run_killed_at_any_step_is_completed(cli, tmp_path: Path, images_bucket: str) -> None:
    config = manifest_config(tmp_path / "iac.yaml", images_bucket)
    args = ["manifest", "generate", "-c", str(config), "--images-per-file", "2"]
    fresh = tmp_path / "fresh"
    ok(cli(*args, "-o", fresh))

    def earlier_run(directory: Path) -> Path:  # five files, three of which the killed run replaces
        shutil.rmtree(directory, ignore_errors=True)
        ok(cli("manifest", "generate", "-c", config, "--images-per-file", "1", "-o", directory))
        return directory

    log = tmp_path / "steps.log"
    out = earlier_run(tmp_path / "out")
    done = run_killed([*args, "-o", str(out)], 0, log)
    assert done.returncode == 0, done.stderr
    assert tree(out) == tree(fresh)
    steps = log.read_text().splitlines()
    # The files the earlier run wrote are listed already: only the first commit changes the ledger.
    assert steps.count("ledger (incomplete)") == 1 and steps[-1] == "ledger", steps
    assert {"rename images-0001.json", "rename skipped.csv", "remove images-0005.json"} <= set(steps), steps

    for step, label in enumerate(steps, start=1):
        out = earlier_run(tmp_path / "out")
        killed_run = run_killed([*args, "-o", str(out)], step, log)
        assert killed_run.returncode == -signal.SIGKILL, (label, killed_run.stderr)
        ok(cli(*args, "-o", out))
        assert tree(out) == tree(fresh), f"killed after step {step} ({label})"
        assert_no_leftovers(out)
