"""Two rotations with --apply at once: both addresses end in the config and in what is deployed (issue 23.2).

Each rotation runs in its own process (the locks are per process), on a real Terraform core with built-in
resources, through a terraform that pauses in `plan` so that the other rotation runs meanwhile.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_apply import CONFIG

pytestmark = [pytest.mark.terraform, pytest.mark.slow]

TESTS = Path(__file__).resolve().parent
# `iac` with the renderer of built-in resources handed in, as the in-process tests do (tests/fake_deployment.py).
LAUNCHER = """\
import sys
from fake_deployment import render_builtin
from iac.cli import app
from iac.cli.common import Services
app(sys.argv[1:], obj=Services(renderer=render_builtin), prog_name="iac")
"""


def pausing_terraform(directory: Path, real: str, pause: float) -> Path:
    """A terraform that notes each plan in `plans.log` beside it and waits `pause` seconds before running it."""
    script = directory / "terraform"
    log = directory / "plans.log"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        "if 'plan' in sys.argv[1:3]:  # after -chdir=DIR\n"
        f"    with open({str(log)!r}, 'a') as log:\n"
        "        log.write(f'{os.getpid()}\\n')\n"
        f"    time.sleep({pause})\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def deployed_ranges(out: Path) -> list[str]:
    """The allowlist as the allowlist root's state holds it: its output, and the same ranges in each policy's rules."""
    state = json.loads((out / "allowlist" / "terraform.tfstate").read_text())
    ranges = list(state["outputs"]["allowlist_ranges"]["value"])
    [rules] = [r for r in state["resources"] if r["type"] == "terraform_data" and r["name"] == "rule"]
    for policy in ("edge", "backend"):
        in_rules = [
            cidr
            for instance in rules["instances"]
            if instance["index_key"].startswith(f"{policy}-")
            for cidr in instance["attributes"]["input"]["value"]
        ]
        assert sorted(in_rules) == sorted(ranges), f"the {policy} policy's rules differ from the allowlist"
    return ranges


@pytest.mark.parametrize("trial", range(4))
def test_concurrent_rotations_with_apply_deploy_every_address(
    tmp_path: Path, terraform: str, terraform_env: dict[str, str], trial: int
) -> None:
    """The first rotation is planning (paused) when two more start: every address is in the config and in
    the last applied plan, whichever of the two waiting rotations runs first."""
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "build"
    env = {
        **terraform_env,
        "IAC_TERRAFORM": str(pausing_terraform(tmp_path, terraform, pause=1.5)),
        "IAC_LOCK_TIMEOUT": "120s",
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }

    def rotation(address: str) -> subprocess.Popen[str]:
        argv = ["allowlist", "add", address, "-c", str(config), "-o", str(out), "--apply", "--auto-approve"]
        return subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, *argv, "--no-invalidate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    addresses = [f"34.93.{trial}.{n}" for n in (10, 20, 30)]  # no two merge into one range
    first = rotation(addresses[0])
    plans = tmp_path / "plans.log"
    deadline = time.monotonic() + 120
    while not plans.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert plans.exists(), "the first rotation never reached its plan"
    processes = [first, rotation(addresses[1]), rotation(addresses[2])]
    results = [(process.wait(timeout=300), *process.communicate()) for process in processes]
    for code, _out, err in results:
        assert code == 0, err
    text = config.read_text()
    for address in addresses:
        assert f"- {address}/32\n" in text or f"- {address}\n" in text, text
    assert set(deployed_ranges(out)) == {"39.42.20.11/32", "130.192.120.23/32", *(f"{a}/32" for a in addresses)}, (
        "an apply deployed a config older than one already applied"
    )
