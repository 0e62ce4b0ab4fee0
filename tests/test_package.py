"""A non-editable install ships the templates and modules: `iac render` works outside the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_install_renders_without_the_source_tree(tmp_path: Path) -> None:
    # Build from a copy so nothing of the checkout (templates/, modules/) can be found at run time.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".git", ".tools", "build", "*.egg-info", ".*cache", "node_modules")
    )
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    shutil.rmtree(source)

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    (workdir / "iac.yaml").write_text((ROOT / "examples" / "documented" / "iac.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [env_dir / "bin" / "iac", "render"], cwd=workdir, capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    located = subprocess.run(
        [python, "-c", "import iac, sys; print(iac.__file__)"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert str(env_dir) in located.stdout, "the test must exercise the installed copy, not the checkout"
    module = workdir / "build" / "modules" / "gcp-direct-access"
    assert (module / "main.tf").read_bytes() == (ROOT / "modules" / "gcp-direct-access" / "main.tf").read_bytes()
    assert (workdir / "build" / "main.tf").read_bytes() == (
        ROOT / "tests" / "golden" / "documented" / "main.tf"
    ).read_bytes()
    assert sys.version_info >= (3, 11)
