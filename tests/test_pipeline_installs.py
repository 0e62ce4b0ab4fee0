"""examples/pipelines/: installs that cannot drift. The locks pin every dependency with its hashes and still satisfy
pyproject.toml, and every install line of every example goes through them (`--require-hashes`), iac itself from
its pinned commit with `--no-deps`. Offline: the files are read, nothing is installed."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT

PIPELINES = ROOT / "examples" / "pipelines"
RUNTIME_LOCK = PIPELINES / "iac-requirements.lock"
BUILD_LOCK = PIPELINES / "iac-build.lock"
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")

# The installs every example runs, in this order (pip's own options such as --quiet, --user and
# --break-system-packages aside).
INSTALLS = (
    ("--require-hashes", "--only-binary=:all:", "-r", "iac-build.lock"),
    ("--require-hashes", "--no-build-isolation", "-r", "iac-requirements.lock"),
    ("--no-deps", "--no-build-isolation", "-r", "iac-requirements.txt"),
)
PIP_OWN_OPTIONS = ("--quiet", "--user", "--break-system-packages")

# Where the pipelines run: Linux runners (x86_64, arm64) and macOS laptops, CPython 3.11 to 3.13.
PLATFORMS = [
    {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": machine}
    for machine in ("x86_64", "aarch64")
] + [{"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": "arm64"}]
PYTHONS = [{"python_version": v, "python_full_version": f"{v}.0"} for v in ("3.11", "3.12", "3.13")]
CPYTHON = {"implementation_name": "cpython", "platform_python_implementation": "CPython"}


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: tuple[str, ...]
    line: str


def lock_entries(text: str) -> list[Pin]:
    """The requirements of a pip requirements file, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pins = []
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        hashes = tuple(HASH.findall(line))
        pins.append(Pin(Requirement(HASH.sub("", line).strip()), hashes, line))
    return pins


def environments() -> Iterator[dict[str, str]]:
    for platform in PLATFORMS:
        for python in PYTHONS:
            yield {**default_environment(), **CPYTHON, **platform, **python, "extra": ""}


def problems(requirements: Iterable[str], pins: list[Pin]) -> list[str]:
    """What keeps `pip install --require-hashes` of the lock from satisfying the requirements, per environment."""
    found = []
    for pin in pins:
        specifiers = list(pin.requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
            found.append(f"{pin.line}: not pinned with ==")
        if not pin.hashes:
            found.append(f"{pin.requirement.name}: no --hash")
    for text in requirements:
        wanted = Requirement(text)
        for env in environments():
            if wanted.marker is not None and not wanted.marker.evaluate(env):
                continue
            where = f"{env['sys_platform']}/{env['platform_machine']}, Python {env['python_version']}"
            chosen = [
                pin
                for pin in pins
                if canonicalize_name(pin.requirement.name) == canonicalize_name(wanted.name)
                and (pin.requirement.marker is None or pin.requirement.marker.evaluate(env))
            ]
            if not chosen:
                found.append(f"{text}: nothing in the lock for {where}")
            for pin in chosen:
                [version] = [spec.version for spec in pin.requirement.specifier] or [""]
                if not wanted.specifier.contains(version, prereleases=True):
                    found.append(f"{text}: the lock pins {pin.requirement.name}=={version} ({where})")
    return sorted(set(found))


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_runtime_lock_satisfies_pyproject_dependencies() -> None:
    dependencies = pyproject()["project"]["dependencies"]
    assert problems(dependencies, lock_entries(RUNTIME_LOCK.read_text(encoding="utf-8"))) == [], (
        f"regenerate {RUNTIME_LOCK.name} with the command in its first lines"
    )


def test_the_build_lock_holds_the_build_backends() -> None:
    """hatchling builds iac from its commit; setuptools builds python-terraform, published only as source."""
    requires = [*pyproject()["build-system"]["requires"], "setuptools>=40.8.0"]
    assert problems(requires, lock_entries(BUILD_LOCK.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, BUILD_LOCK])
def test_each_lock_says_how_to_regenerate_it(lock: Path) -> None:
    header = lock.read_text(encoding="utf-8").splitlines()[:2]
    assert header[0].startswith("# This file was autogenerated by uv")
    assert "uv pip compile" in header[1] and "--generate-hashes" in header[1] and "--universal" in header[1]
    assert header[1].endswith(f"-o examples/pipelines/{lock.name}")


def test_the_check_fails_when_the_lock_falls_behind() -> None:
    pins = lock_entries("typer==0.12.5 \\\n    --hash=sha256:" + "a" * 64 + "\njinja2==3.1.6\n")
    assert problems(["typer>=0.13,<1", "jinja2>=3.1,<4", "pyyaml>=6"], pins) == [
        "jinja2: no --hash",
        "pyyaml>=6: nothing in the lock for darwin/arm64, Python 3.11",
        "pyyaml>=6: nothing in the lock for darwin/arm64, Python 3.12",
        "pyyaml>=6: nothing in the lock for darwin/arm64, Python 3.13",
        *(
            f"pyyaml>=6: nothing in the lock for linux/{m}, Python 3.{v}"
            for m in ("aarch64", "x86_64")
            for v in (11, 12, 13)
        ),
        *(f"typer>=0.13,<1: the lock pins typer==0.12.5 (darwin/arm64, Python 3.{v})" for v in (11, 12, 13)),
        *(
            f"typer>=0.13,<1: the lock pins typer==0.12.5 (linux/{m}, Python 3.{v})"
            for m in ("aarch64", "x86_64")
            for v in (11, 12, 13)
        ),
    ]
    assert problems(["typer>=0.12"], lock_entries("typer>=0.12 --hash=sha256:" + "b" * 64)) == [
        "typer>=0.12 --hash=sha256:" + "b" * 64 + ": not pinned with =="
    ]


def test_environment_markers_count() -> None:
    """A pin for Windows only does not satisfy a requirement on Linux; a requirement for Windows only needs nothing."""
    pins = lock_entries("colorama==0.4.6 ; sys_platform == 'win32' --hash=sha256:" + "c" * 64)
    assert problems(["colorama>=0.4 ; sys_platform == 'win32'"], pins) == []
    assert len(problems(["colorama>=0.4"], pins)) == 9


# ---------------------------------------------------------------------------------------------------
# The install lines of the examples


def shell_blocks() -> Iterator[tuple[str, str]]:
    """(where, script) for every shell script of every example: GitHub `run:`, GitLab `before_script` and
    `script`, Cloud Build `args`."""
    for path in sorted(PIPELINES.glob("*.y*ml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "jobs" in document:
            for job_id, job in document["jobs"].items():
                for step in job.get("steps", []):
                    if "run" in step:
                        yield f"{path.name}: {job_id}: {step.get('name')}", step["run"]
        elif "steps" in document:
            for step in document["steps"]:
                yield f"{path.name}: {step['id']}", "\n".join(step.get("args", []))
        else:
            for job_id, job in document.items():
                if isinstance(job, dict):
                    for key in ("before_script", "script"):
                        if key in job:
                            yield f"{path.name}: {job_id}: {key}", "\n".join(job[key])


def pip_installs(script: str) -> list[tuple[str, ...]]:
    installs = []
    for line in script.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:2] == ["pip", "install"]:
            installs.append(tuple(word for word in words[2:] if word not in PIP_OWN_OPTIONS))
    return installs


def test_every_install_is_hash_checked_or_the_pinned_iac_without_dependencies() -> None:
    seen = []
    for where, script in shell_blocks():
        installs = pip_installs(script)
        if installs:
            assert tuple(installs) == INSTALLS, f"{where}: {installs}"
            seen.append(where)
    files = {where.split(":")[0] for where in seen}
    assert files == {p.name for p in PIPELINES.glob("*.y*ml")}, "every example installs iac"
    assert len(seen) == 7, seen  # GitHub: plan, main plan, apply, rotation; GitLab: .iac; Cloud Build: plan, apply
    text = "\n".join(path.read_text(encoding="utf-8") for path in PIPELINES.glob("*.y*ml"))
    assert len(re.findall(r"\bpip install\b", text)) == 3 * len(seen), "no install outside the steps above"
    for install in INSTALLS[:2]:
        assert install[0] == "--require-hashes"


def test_iac_itself_is_pinned_to_one_commit() -> None:
    [pin] = lock_entries((PIPELINES / "iac-requirements.txt").read_text(encoding="utf-8"))
    assert pin.requirement.name == "encord-da-iac"
    assert re.fullmatch(
        r"git\+https://github\.com/[\w.-]+/[\w.-]+@(REVIEWED_COMMIT|[0-9a-f]{40})", pin.requirement.url or ""
    )


def test_the_locks_trigger_a_plan_like_the_pin() -> None:
    for name in ("github-actions.yml", "gitlab-ci.yml"):
        text = (PIPELINES / name).read_text(encoding="utf-8")
        for lock in ("iac-requirements.lock", "iac-build.lock"):
            assert text.count(f"- {lock}") >= (2 if name == "github-actions.yml" else 1), (name, lock)
    cloudbuild = (PIPELINES / "cloudbuild.yaml").read_text(encoding="utf-8")
    assert (
        cloudbuild.count("--included-files='iac.yaml,iac-requirements.txt,iac-requirements.lock,iac-build.lock,") == 2
    )
