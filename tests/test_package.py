"""A non-editable install ships the templates and modules: `iac render` works outside the source tree."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The name `iac` on the public package index belongs to an unrelated project: ours has its own.
DISTRIBUTION = "encord-da-iac"
THIS = "tests/test_package.py"


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
    shown = subprocess.run([python, "-m", "pip", "show", DISTRIBUTION], capture_output=True, text=True, check=False)
    assert shown.returncode == 0 and f"Name: {DISTRIBUTION}" in shown.stdout, shown.stderr

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
    # Both root modules, each with its module copied from the installed package and rendered from its templates.
    for root, module in (("serving", "gcp-direct-access"), ("allowlist", "gcp-direct-access-allowlist")):
        copied = workdir / "build" / root / "modules" / module
        shipped = sorted(p.name for p in (ROOT / "modules" / module).iterdir())
        assert sorted(p.name for p in copied.iterdir()) == shipped, root
        for name in shipped:
            assert (copied / name).read_bytes() == (ROOT / "modules" / module / name).read_bytes(), (root, name)
        for name in ("main.tf", "outputs.tf", "versions.tf", "backend.tf", ".gitignore"):
            golden = ROOT / "tests" / "golden" / "documented" / root / name
            assert (workdir / "build" / root / name).read_bytes() == golden.read_bytes(), (root, name)
    assert sys.version_info >= (3, 11)


def test_the_distribution_has_a_name_of_its_own() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"iac": "iac.cli:main"}, "the command stays iac"


def test_nothing_tells_anyone_to_install_iac_from_a_package_index() -> None:
    """`pip install iac`, `iac==1.0` or `iac[aws]` would install the unrelated project of that name."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    install = re.compile(r"pip3? install ([^&;#\n]*)")
    extra = re.compile(r"""['"]iac\[""")
    found = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".yml", ".yaml", ".toml", ".sh", ".txt", ".cfg"} or name == THIS:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            arguments = [arg.strip("'\"`") for match in install.finditer(line) for arg in match.group(1).split()]
            if extra.search(line) or any(re.fullmatch(r"iac(\[[a-z,]+\])?([=<>~!]=?\S*)?", a) for a in arguments):
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == []
