"""`iac manifest register` against a local Encord stand-in (tests/standins_encord.py, which verifies the SDK's
Ed25519 signatures): every file registered once, a re-run registering nothing new, a run killed at each step of the
ledger resumed without duplicates, refused units listed, and every error saying what to do. Nothing reaches Encord."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iac.manifest import register_run as register_module
from standins_encord import HOLD_POINTS, INTEGRATION, OTHER_INTEGRATION, EncordStandIn, units_of

DOMAIN = "encord-directaccess.acme.com"
FOLDER = "scans-2026"
ROOT = Path(__file__).resolve().parent.parent
START = r"storage/folders/[0-9a-f-]+/data-upload-jobs"
POLL = r"storage/folders/[0-9a-f-]+/data-upload-jobs/.+"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backoff's waits (seconds in use) are 0 here; their number, the bound, stays."""
    monkeypatch.setattr(register_module, "BACKOFF", (0.0,) * len(register_module.BACKOFF))


def write_config(directory: Path, **encord: str) -> Path:
    settings = {"integration": INTEGRATION, "folder": FOLDER, **encord}
    lines = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in settings.items())
    config = directory / "iac.yaml"
    config.write_text(
        f"project: my-gcp-project\ndomain: {DOMAIN}\nbucket: {{name: acme-data, create: false, origin_region: eu}}\n"
        f"allowlist: [39.42.20.11/32]\nencord:\n{lines}"
    )
    return config


def images(first: int, count: int, *, skip_duplicates: bool = True) -> dict[str, Any]:
    units = [{"objectUrl": url(n), "title": f"img/{n:05d}.jpg"} for n in range(first, first + count)]
    document: dict[str, Any] = {"images": units}
    if skip_duplicates:
        document["skip_duplicate_urls"] = True
    return document


def url(n: int) -> str:
    return f"https://{DOMAIN}/img/{n:05d}.jpg"


def write_manifests(directory: Path, documents: dict[str, dict[str, Any]]) -> Path:
    """Registration files in `directory`/manifests, recorded in its .iac-files as `iac manifest generate` does."""
    manifests = directory / "manifests"
    manifests.mkdir()
    for name, document in documents.items():
        (manifests / name).write_text(json.dumps(document, indent=2) + "\n")
    recorded = {
        "writer": "manifest generate",
        "deployment": {"project": "my-gcp-project", "name": "encord-da"},
        "complete": True,
        "files": sorted(documents),
    }
    (manifests / ".iac-files").write_text(json.dumps(recorded))
    return manifests


def ledger(manifests: Path) -> dict[str, Any]:
    return dict(json.loads((manifests / ".iac-register.json").read_text())["files"])


def starts(api: EncordStandIn) -> int:
    return sum(1 for method, path in api.requests if method == "POST" and path.endswith("/data-upload-jobs"))


def register(cli: Any, config: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    result = cli("manifest", "register", "-c", config, "--json", *args)
    return result, json.loads(result.stdout)


TWO_FILES = {"images-0001.json": images(0, 3), "images-0002.json": images(3, 2)}


# --- the whole flow -------------------------------------------------------------------------------------------


def test_generated_files_are_registered_once_and_a_rerun_registers_nothing_new(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn, gcs_client: Any
) -> None:
    from test_manifest_generate import OBJECTS

    bucket = gcs_client.create_bucket("register-flow")
    for name, content, content_type in OBJECTS:
        bucket.blob(name).upload_from_string(content, content_type=content_type or None)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("acme-data", "register-flow"))
    generated = cli("manifest", "generate", "-c", config, "--images-per-file", "2")
    assert generated.exit_code == 0, generated.output
    manifests = tmp_path / "manifests"
    names = sorted(p.name for p in manifests.glob("*.json"))
    assert "images-0002.json" in names  # three images, two a file
    encord_api.add_folder(FOLDER)

    result, document = register(cli, config)

    assert result.exit_code == 0, result.output
    assert set(document) == {"ok", "files", "folder", "dataset"}
    assert document["ok"] is True and document["folder"] == FOLDER and document["dataset"] is None
    assert [entry["file"] for entry in document["files"]] == names  # in the order generate recorded them
    for entry in document["files"]:
        assert set(entry) == {"file", "job_id", "status", "units_done", "units_error"}
        assert entry["status"] == "done" and entry["units_error"] == 0
        units = len(units_of(json.loads((manifests / entry["file"]).read_text())))
        assert entry["units_done"] == units
    # Each file went to Encord once, as it is, through the integration the config names, signed with the key.
    for name in names:
        assert encord_api.submitted(json.loads((manifests / name).read_text())) == 1
    [integration] = [key for key, title in encord_api.integrations.items() if title == INTEGRATION]
    assert {body["integrationHash"] for body in encord_api.submissions} == {integration}
    assert {body["ignoreErrors"] for body in encord_api.submissions} == {False}
    assert encord_api.unsigned == []
    recorded = ledger(manifests)
    assert sorted(recorded) == names
    assert {entry["state"] for entry in recorded.values()} == {"done"}
    assert all(entry["submissions"] == 1 and len(entry["sha256"]) == 64 for entry in recorded.values())
    assert not (manifests / "register-errors.csv").exists()

    calls = len(encord_api.requests)
    again = cli("manifest", "register", "-c", config)
    assert again.exit_code == 0, again.output
    assert len(encord_api.requests) == calls  # nothing to do: not even a call
    assert len(encord_api.submissions) == len(names)
    assert "done, by an earlier run" in again.stdout


def test_the_summary_and_the_progress_without_json(cli: Any, tmp_path: Path, encord_api: EncordStandIn) -> None:
    encord_api.add_folder(FOLDER)
    config = write_config(tmp_path)
    write_manifests(tmp_path, TWO_FILES)
    result = cli("manifest", "register", "-c", config)
    assert result.exit_code == 0, result.output
    assert "images-0001.json: done, 3 registered (job " in result.stdout
    assert f"2 files in storage folder '{FOLDER}': 5 objects registered" in result.stdout


def test_files_named_on_the_command_line_in_any_directory(cli: Any, tmp_path: Path, encord_api: EncordStandIn) -> None:
    encord_api.add_folder(FOLDER)
    config = write_config(tmp_path)
    elsewhere = tmp_path / "by-hand"
    elsewhere.mkdir()
    (elsewhere / "mine.json").write_text(json.dumps(images(0, 2)))
    result, document = register(cli, config, str(elsewhere / "mine.json"))
    assert result.exit_code == 0, result.output
    assert [entry["file"] for entry in document["files"]] == ["mine.json"]
    assert ledger(elsewhere)["mine.json"]["state"] == "done"


def test_a_dataset_is_created_and_the_items_linked(cli: Any, tmp_path: Path, encord_api: EncordStandIn) -> None:
    encord_api.add_folder(FOLDER)
    config = write_config(tmp_path, dataset="Scans 2026")
    manifests = write_manifests(tmp_path, TWO_FILES)
    result, document = register(cli, config)
    assert result.exit_code == 0, result.output
    assert document["dataset"] == "Scans 2026"
    [(dataset_id, title)] = encord_api.datasets.items()
    assert title == "Scans 2026"
    # The items each job made, linked once; the ledger then keeps only the dataset's title.
    made = [item["itemUuid"] for job in encord_api.jobs.values() for item in job.state()["itemsWithNames"]]
    assert len(made) == 5 and sorted(encord_api.linked[dataset_id]) == sorted(made)
    assert {entry["linked_to"] for entry in ledger(manifests).values()} == {"Scans 2026"}
    assert {len(entry["items"]) for entry in ledger(manifests).values()} == {0}
    # Linked once: a re-run finds nothing to do.
    calls = len(encord_api.requests)
    assert cli("manifest", "register", "-c", config).exit_code == 0
    assert len(encord_api.requests) == calls


def test_the_folder_is_created_only_when_asked(cli: Any, tmp_path: Path, encord_api: EncordStandIn) -> None:
    config = write_config(tmp_path)
    manifests = write_manifests(tmp_path, TWO_FILES)
    result, document = register(cli, config)
    assert result.exit_code == 1
    assert document["ok"] is False and document["exit_code"] == 1
    assert f"no storage folder named '{FOLDER}'" in document["error"] and "--create-folder" in document["error"]
    assert encord_api.submissions == [] and not (manifests / ".iac-register.json").exists()

    result, document = register(cli, config, "--create-folder")
    assert result.exit_code == 0, result.output
    assert [folder["name"] for folder in encord_api.folders.values()] == [FOLDER]
    assert f"created the storage folder '{FOLDER}'" in result.stderr


def test_options_override_the_config(cli: Any, tmp_path: Path, encord_api: EncordStandIn) -> None:
    encord_api.add_folder("other-folder")
    config = write_config(tmp_path)
    write_manifests(tmp_path, TWO_FILES)
    result, document = register(cli, config, "--integration", OTHER_INTEGRATION, "--folder", "other-folder")
    assert result.exit_code == 0, result.output
    assert document["folder"] == "other-folder"
    [other] = [key for key, title in encord_api.integrations.items() if title == OTHER_INTEGRATION]
    assert {body["integrationHash"] for body in encord_api.submissions} == {other}


# --- refused units ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ignore_errors", [False, True])
def test_refused_units_are_listed_in_a_spreadsheet_safe_csv_and_exit_3(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn, ignore_errors: bool
) -> None:
    encord_api.add_folder(FOLDER)
    encord_api.refused = {url(1): '=HYPERLINK("http://evil") \x1b[31mnot found', url(4): "403 from the bucket"}
    config = write_config(tmp_path)
    manifests = write_manifests(tmp_path, TWO_FILES)
    args = ["--ignore-errors"] if ignore_errors else []

    result, document = register(cli, config, *args)

    assert result.exit_code == 3, result.output
    assert document["ok"] is False and document["exit_code"] == 3
    assert "Encord refused 2 objects (units): listed in" in document["error"]
    status = "done" if ignore_errors else "error"
    assert [(e["status"], e["units_done"], e["units_error"]) for e in document["files"]] == [
        (status, 2, 1),
        (status, 1, 1),
    ]
    assert {body["ignoreErrors"] for body in encord_api.submissions} == {ignore_errors}
    rows = list(csv.reader((manifests / "register-errors.csv").open(newline="")))
    assert rows == [
        ["file", "object_url", "error"],
        ["images-0001.json", url(1), '\'=HYPERLINK("http://evil") \\x1b[31mnot found'],
        ["images-0002.json", url(4), "403 from the bucket"],
    ]
    text = cli("manifest", "register", "-c", config, *args)
    assert text.exit_code == 3
    assert f'  refused: images-0001.json: {url(1)}: =HYPERLINK("http://evil") \\x1b[31mnot found\n' in text.stdout
    # A re-run submits nothing and says the same.
    again, same = register(cli, config, *args)
    assert again.exit_code == 3 and len(encord_api.submissions) == 2
    assert same["files"] == document["files"]
    # --force submits the files whose units were refused again (the objects fixed meanwhile).
    encord_api.refused = {}
    fixed, _ = register(cli, config, "--force")
    assert fixed.exit_code == 0, fixed.output
    assert len(encord_api.submissions) == 4
    assert not (manifests / "register-errors.csv").exists()


# --- killed at every step of the ledger, then run again ------------------------------------------------------


def _run_killed_at(point: str, config: Path, api: EncordStandIn) -> None:
    """`iac manifest register` in a process of its own, killed (SIGKILL) while the stand-in holds it at `point`."""
    api.hold_at(point)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "iac", "manifest", "register", "-c", str(config), "--jobs", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        reached = api.reached.wait(60)
        assert reached, f"never reached {point}: {process.communicate(timeout=30)}"
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        api.release.set()


@pytest.mark.slow
@pytest.mark.parametrize("skip_duplicates", [True, False], ids=["skip_duplicate_urls", "no-flag"])
@pytest.mark.parametrize("point", HOLD_POINTS)
def test_a_run_killed_at_any_step_is_resumed_without_duplicates(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn, point: str, skip_duplicates: bool
) -> None:
    encord_api.add_folder(FOLDER)
    config = write_config(tmp_path)
    documents = {
        "images-0001.json": images(0, 3, skip_duplicates=skip_duplicates),
        "images-0002.json": images(3, 2, skip_duplicates=skip_duplicates),
    }
    manifests = write_manifests(tmp_path, documents)

    _run_killed_at(point, config, encord_api)

    first = ledger(manifests)["images-0001.json"]
    assert first["state"] == ("started" if point == "poll" else "starting")
    assert (first["job_id"] is not None) == (point == "poll")
    assert "images-0002.json" not in ledger(manifests)  # --jobs 1: the second was not reached
    reached_encord = 0 if point == "start-before" else 1
    assert encord_api.submitted(documents["images-0001.json"]) == reached_encord

    result, document = register(cli, config)

    by_file = {entry["file"]: entry for entry in document["files"]}
    assert by_file["images-0002.json"]["status"] == "done"
    for name, body in documents.items():
        assert encord_api.submitted(body) <= (2 if skip_duplicates else 1), name
    if point == "poll":
        # The job has its id: polled, never started again.
        assert result.exit_code == 0, result.output
        assert encord_api.submitted(documents["images-0001.json"]) == 1
        assert by_file["images-0001.json"]["job_id"] == first["job_id"]
    elif skip_duplicates:
        assert result.exit_code == 0, result.output
        assert encord_api.submitted(documents["images-0001.json"]) == reached_encord + 1
        assert 'submitting it again, which its "skip_duplicate_urls": true makes harmless' in result.stderr
        assert ledger(manifests)["images-0001.json"]["submissions"] == 2
    else:
        assert result.exit_code == 1
        assert by_file["images-0001.json"]["status"] == "held"
        assert "--force" in document["error"] and "skip_duplicate_urls" in document["error"]
        assert encord_api.submitted(documents["images-0001.json"]) == reached_encord
        # --force is the user's decision to submit it anyway.
        forced, _ = register(cli, config, "--force")
        assert forced.exit_code == 0, forced.output
        assert encord_api.submitted(documents["images-0001.json"]) == reached_encord + 1


# --- errors that say what to do --------------------------------------------------------------------------------


def test_without_a_key_one_message_before_any_call(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENCORD_SSH_KEY_FILE")
    config = write_config(tmp_path)
    write_manifests(tmp_path, TWO_FILES)
    result = cli("manifest", "register", "-c", config)
    assert result.exit_code == 1
    assert result.stderr.count("error:") == 1
    for word in ("ENCORD_SSH_KEY_FILE", "ENCORD_SSH_KEY ", "Ed25519"):
        assert word in result.stderr
    assert encord_api.requests == []


def test_a_key_that_is_not_ed25519_is_refused_without_showing_it(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    monkeypatch.delenv("ENCORD_SSH_KEY_FILE")
    monkeypatch.setenv("ENCORD_SSH_KEY", key.decode())
    config = write_config(tmp_path)
    manifests = write_manifests(tmp_path, TWO_FILES)
    result = cli("manifest", "register", "-c", config)
    assert result.exit_code == 1
    assert "ENCORD_SSH_KEY is not an unencrypted Ed25519 private key" in result.stderr
    secret = key.decode().splitlines()[1]
    assert secret not in result.output
    assert all(secret not in p.read_text() for p in manifests.iterdir() if p.is_file())
    assert encord_api.requests == []


def test_the_key_is_never_printed_or_written(cli: Any, tmp_path: Path, encord_api: EncordStandIn) -> None:
    encord_api.add_folder(FOLDER)
    config = write_config(tmp_path)
    manifests = write_manifests(tmp_path, TWO_FILES)
    result = cli("manifest", "register", "-c", config, "-j", "2")
    assert result.exit_code == 0, result.output
    secret = Path(os.environ["ENCORD_SSH_KEY_FILE"]).read_text().splitlines()[1]
    assert secret not in result.output
    assert all(secret not in p.read_text() for p in manifests.iterdir() if p.is_file())


def test_an_integration_title_not_found_lists_those_the_key_can_see(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn
) -> None:
    encord_api.add_folder(FOLDER)
    config = write_config(tmp_path, integration="Direct Acess acme")
    write_manifests(tmp_path, TWO_FILES)
    result, document = register(cli, config)
    assert result.exit_code == 1
    assert "no cloud integration titled 'Direct Acess acme'" in document["error"]
    assert f"it can see '{INTEGRATION}', '{OTHER_INTEGRATION}'" in document["error"]
    assert encord_api.submissions == []


def test_a_key_unknown_to_the_deployment_names_the_regions(cli: Any, tmp_path: Path, encord_api: EncordStandIn) -> None:
    encord_api.add_folder(FOLDER)
    encord_api.unknown_key = True
    config = write_config(tmp_path)
    write_manifests(tmp_path, TWO_FILES)
    result, document = register(cli, config)
    assert result.exit_code == 1
    assert "does not know the key (401)" in document["error"]
    assert "https://api.encord.com (EU) and https://api.us.encord.com (US)" in document["error"]


@pytest.mark.parametrize(
    ("domain", "other"),
    [("https://api.encord.com", "https://api.us.encord.com"), ("https://api.us.encord.com", "https://api.encord.com")],
)
def test_a_401_names_the_other_region(encord_api: EncordStandIn, domain: str, other: str) -> None:
    from encord.exceptions import AuthenticationError

    from iac.manifest.encord_client import Encord

    message = str(Encord(domain).error("looking up", AuthenticationError("You are not authenticated")))
    assert f"Encord at {domain} does not know the key (401)" in message
    assert f"set encord.domain: {other} (or IAC_ENCORD_DOMAIN={other})" in message


def test_a_file_too_large_is_recorded_as_refused_and_says_how_to_split(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn
) -> None:
    encord_api.add_folder(FOLDER)
    encord_api.fail("POST", START, 413)
    config = write_config(tmp_path)
    manifests = write_manifests(tmp_path, TWO_FILES)
    result, document = register(cli, config, "-j", "1")
    assert result.exit_code == 1
    assert document["files"][0]["status"] == "rejected"
    assert "413" in document["error"] and "iac manifest generate --images-per-file N" in document["error"]
    assert ledger(manifests)["images-0001.json"]["state"] == "rejected"
    assert starts(encord_api) == 2  # the refused start was not tried again
    # No job was made: the next run submits it (the user's own retry).
    again, _ = register(cli, config)
    assert again.exit_code == 0, again.output
    assert encord_api.submitted(TWO_FILES["images-0001.json"]) == 1


@pytest.mark.parametrize("skip_duplicates", [True, False])
def test_a_start_that_fails_is_recorded_and_never_retried_silently(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn, skip_duplicates: bool
) -> None:
    encord_api.add_folder(FOLDER)
    encord_api.fail("POST", START, 500)
    config = write_config(tmp_path)
    documents = {"images-0001.json": images(0, 3, skip_duplicates=skip_duplicates)}
    manifests = write_manifests(tmp_path, documents)
    result, document = register(cli, config)
    assert result.exit_code == 1
    assert document["files"][0]["status"] == "failed"
    assert "stand-in says 500" in document["error"]
    assert starts(encord_api) == 1
    assert ledger(manifests)["images-0001.json"]["state"] == "failed"
    # A server error may have made the job: resubmitted only when that is harmless.
    again, second = register(cli, config)
    if skip_duplicates:
        assert again.exit_code == 0 and starts(encord_api) == 2
        assert "its earlier submission got no clear answer" in again.stderr
    else:
        assert again.exit_code == 1 and starts(encord_api) == 1
        assert second["files"][0]["status"] == "held"


def test_rate_limits_and_server_errors_while_polling_are_waited_out(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn
) -> None:
    encord_api.add_folder(FOLDER)
    encord_api.fail("GET", POLL, 429, 500, 503, 429)
    config = write_config(tmp_path)
    write_manifests(tmp_path, TWO_FILES)
    result, document = register(cli, config, "-j", "1")
    assert result.exit_code == 0, result.output
    assert {entry["status"] for entry in document["files"]} == {"done"}
    assert "rate-limiting this key (429); polling again" in result.stderr
    assert len(encord_api.submissions) == 2


def test_polling_gives_up_after_its_bound_and_the_next_run_polls_again(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn
) -> None:
    encord_api.add_folder(FOLDER)
    encord_api.fail("GET", POLL, *([500] * (len(register_module.BACKOFF) + 1)))
    config = write_config(tmp_path)
    manifests = write_manifests(tmp_path, {"images-0001.json": images(0, 3)})
    result, document = register(cli, config)
    assert result.exit_code == 1
    assert document["files"][0]["status"] == "pending" and document["files"][0]["job_id"]
    assert "run again to poll it (it is not submitted again)" in document["error"]
    assert ledger(manifests)["images-0001.json"]["state"] == "started"
    again, _ = register(cli, config)
    assert again.exit_code == 0, again.output
    assert len(encord_api.submissions) == 1


def test_a_job_still_running_after_the_timeout_is_left_to_the_next_run(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn
) -> None:
    encord_api.add_folder(FOLDER)
    encord_api.pending_polls = 10**6
    config = write_config(tmp_path)
    write_manifests(tmp_path, {"images-0001.json": images(0, 3)})
    result, document = register(cli, config, "--timeout", "1s")
    assert result.exit_code == 1
    assert document["files"][0]["status"] == "pending"
    assert "still running after 1s (--timeout)" in document["error"]
    [job] = encord_api.jobs.values()
    job.pending_polls = 0
    again, _ = register(cli, config)
    assert again.exit_code == 0 and len(encord_api.submissions) == 1


def test_a_file_changed_since_it_was_registered_is_refused_by_name(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn
) -> None:
    encord_api.add_folder(FOLDER)
    config = write_config(tmp_path)
    manifests = write_manifests(tmp_path, TWO_FILES)
    assert cli("manifest", "register", "-c", config).exit_code == 0
    (manifests / "images-0002.json").write_text(json.dumps(images(3, 4)))
    calls = len(encord_api.requests)
    result, document = register(cli, config)
    assert result.exit_code == 1
    assert f"{manifests / 'images-0002.json'}: changed since it was submitted to Encord" in document["error"]
    assert len(encord_api.requests) == calls


def test_a_register_ledger_that_is_not_iacs_is_one_clear_message(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn
) -> None:
    config = write_config(tmp_path)
    manifests = write_manifests(tmp_path, TWO_FILES)
    for junk in ("[]", '{"version": 1, "files": {"../x": {}}}', '{"version": 1, "files": {"a.json": {"state": "x"}}}'):
        (manifests / ".iac-register.json").write_text(junk)
        result, document = register(cli, config)
        assert result.exit_code == 1
        assert document["error"].startswith(f"{manifests / '.iac-register.json'}: not a register ledger iac can read")
        assert "Restore it from a backup" in document["error"]
    assert encord_api.requests == []


def test_csv_and_invalid_files_are_refused_before_any_call(cli: Any, tmp_path: Path, encord_api: EncordStandIn) -> None:
    config = write_config(tmp_path)
    manifests = write_manifests(tmp_path, {"images-0001.json": {"images": [{"title": "no url"}]}})
    result, document = register(cli, config)
    assert result.exit_code == 1
    assert "images-0001.json" in document["error"] and "iac manifest validate" in document["error"]
    (manifests / "images-0001.csv").write_text("objectUrl,title\n")
    result, document = register(cli, config, str(manifests / "images-0001.csv"))
    assert result.exit_code == 1 and "iac registers JSON files" in document["error"]
    assert encord_api.requests == []


def test_missing_settings_and_options_say_what_to_set(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(
        f"project: my-gcp-project\ndomain: {DOMAIN}\nbucket: {{name: acme-data, create: false, origin_region: eu}}\n"
        "allowlist: [39.42.20.11/32]\n"
    )
    result = cli("manifest", "register", "-c", config)
    assert result.exit_code == 1
    assert "no Encord integration: set encord.integration in the config, or give --integration TITLE" in result.stderr
    result = cli("manifest", "register", "-c", config, "--integration", "x", "--jobs", "0")
    assert result.exit_code == 1 and "--jobs 0" in result.stderr


def test_a_bad_domain_in_the_environment_is_named(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAC_ENCORD_DOMAIN", "api.encord.com")
    result = cli("manifest", "register", "-c", write_config(tmp_path))
    assert result.exit_code == 1
    assert "IAC_ENCORD_DOMAIN='api.encord.com': is not an http(s) URL" in result.stderr


def test_no_generated_files_is_a_message(cli: Any, tmp_path: Path, encord_api: EncordStandIn) -> None:
    result = cli("manifest", "register", "-c", write_config(tmp_path))
    assert result.exit_code == 1
    assert "run `iac manifest generate` first, or name the files to register" in result.stderr


def test_the_stand_in_refuses_a_request_signed_with_another_key(
    cli: Any, tmp_path: Path, encord_api: EncordStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from standins_encord import write_key

    encord_api.add_folder(FOLDER)
    other = tmp_path / "other-key"
    write_key(other)
    monkeypatch.setenv("ENCORD_SSH_KEY_FILE", str(other))
    config = write_config(tmp_path)
    write_manifests(tmp_path, TWO_FILES)
    result, document = register(cli, config)
    assert result.exit_code == 1
    assert "does not know the key (401)" in document["error"]
    assert encord_api.unsigned and encord_api.requests == [] and encord_api.submissions == []


def test_the_progress_counts_files_and_objects(tmp_path: Path, encord_api: EncordStandIn) -> None:
    from iac.manifest.register import register as run
    from iac.manifest.register_report import Options, Progress, Target

    encord_api.add_folder(FOLDER)
    manifests = write_manifests(tmp_path, TWO_FILES)
    seen: list[Progress] = []
    report = run(
        manifests,
        [manifests / name for name in TWO_FILES],
        Target(encord_api.domain, INTEGRATION, FOLDER),
        Options(jobs=2),
        ticker=seen.append,
    )
    assert report.exit_code == 0
    assert seen[-1] == Progress(files=2, started=2, finished=2, units_done=5, units_error=0)
    assert [p.started for p in seen] == sorted(p.started for p in seen)
