#!/usr/bin/env python3
"""Benchmark the `iac` CLI: cold start, imported client libraries, and render time against allowlist size.

    python benchmarks/bench_cli.py [--runs N] [--json] [--strict]

Performance targets live here (and in benchmarks/README.md), never as timed assertions in the tests.
Exit status: 0 when no Google/AWS/Azure/OBS client library is imported (and, with --strict, every timing
target is met); 1 otherwise, or when a measured command fails; 2 for a usage error.
Standard library only; the in-process measurements import iac itself.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import ipaddress
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "documented" / "iac.yaml"

# Client libraries `iac --help` and `iac render` must never import (they belong to plan/apply, if anywhere).
HEAVY_MODULES = ("google.cloud", "google.api_core", "googleapiclient", "boto3", "botocore", "azure", "obs")

TARGET_HELP_S = 0.3
TARGET_RENDER_EXAMPLE_S = 0.3
TARGET_RANGES = 10_000
TARGET_RENDER_RANGES_S = 1.0

DEFAULT_RUNS = 10
DEFAULT_SIZES = (10, 1_000, 10_000)
MAX_RULES = 1000  # 10 ranges per Cloud Armor rule: 10,000 ranges need exactly 1,000 rules

# Generated allowlist addresses come from these globally routed blocks (Google Cloud, AWS) ...
PUBLIC_BLOCKS = ("34.64.0.0/10", "52.0.0.0/11")
# ... and are checked against the special-purpose blocks iac rejects, so the benchmark never times an error.
NOT_PUBLIC = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)  # fmt: skip


class BenchError(Exception):
    """A measured command failed or produced something unexpected: the numbers would be meaningless."""


# --------------------------------------------------------------------------------------------- helpers


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def min(self) -> float:
        return min(self.seconds)

    def as_json(self) -> dict[str, Any]:
        return {
            "median_s": round(self.median, 6),
            "min_s": round(self.min, 6),
            "samples_s": [round(s, 6) for s in self.seconds],
        }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def iac_command() -> tuple[list[str], str]:
    """How to start the CLI as a user would: `python -m iac` if the package has a __main__, else the script."""
    spec = importlib.util.find_spec("iac")
    locations = list(spec.submodule_search_locations or []) if spec else [str(REPO / "iac")]
    if any((Path(location) / "__main__.py").is_file() for location in locations):
        return [sys.executable, "-m", "iac"], "python -m iac (iac/__main__.py exists)"
    beside = shutil.which("iac", path=str(Path(sys.executable).parent))
    if beside:
        return [beside], "console script next to sys.executable"
    on_path = shutil.which("iac")
    if on_path:
        return [on_path], "console script found on PATH (may be a wrapper such as a pyenv shim)"
    raise BenchError(
        "cannot find the iac command: no iac/__main__.py, no `iac` script next to "
        f"{sys.executable} and none on PATH; install the project (pip install -e .)"
    )


def child_env(pyc_prefix: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPROFILEIMPORTTIME", "PYTHONDEVMODE", "PYTHONTRACEMALLOC", "PYTHONASYNCIODEBUG"):
        env.pop(name, None)
    if pyc_prefix is not None:
        # Byte-code is cached under a temporary prefix, as a normal install has it, without writing
        # __pycache__ into the source tree (and regardless of PYTHONDONTWRITEBYTECODE).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pyc_prefix)
    return env


def run(argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )


def checked(proc: subprocess.CompletedProcess[str], argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise BenchError(f"`{' '.join(argv)}` exited with {proc.returncode}: " + " | ".join(tail))
    return proc


def time_command(
    make_argv: Callable[[int], Sequence[str]],
    runs: int,
    env: dict[str, str],
    check: Callable[[str], None] | None = None,
    warmup: int = 1,
) -> Samples:
    """Wall time of `runs` fresh subprocesses, after `warmup` untimed ones (page cache, byte-code cache)."""
    samples = Samples()
    for index in range(warmup + runs):
        argv = make_argv(index)
        start = time.perf_counter()
        proc = run(argv, env)
        elapsed = time.perf_counter() - start
        checked(proc, argv)
        if check is not None and index == 0:
            check(proc.stdout)
        if index >= warmup:
            samples.seconds.append(elapsed)
    return samples


# ---------------------------------------------------------------------------------------- import check


@dataclass
class ImportReport:
    argv: list[str]
    modules: list[str]
    heavy: list[str]
    top_level_ms: dict[str, float]  # imports at nesting level 0 -> cumulative ms (includes importtime overhead)
    missing_marker: str | None  # a module that must appear if the command really ran, when it did not

    @property
    def passed(self) -> bool:
        return not self.heavy and self.missing_marker is None


def parse_importtime(stderr: str) -> tuple[list[str], dict[str, float]]:
    modules: list[str] = []
    top: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        raw = parts[2].rstrip()
        name = raw.strip()
        modules.append(name)
        if len(raw) - len(raw.lstrip(" ")) <= 1:  # one space after '|', no nesting indent
            top[name] = top.get(name, 0.0) + int(parts[1]) / 1000
    return modules, top


def heavy_root(module: str) -> str | None:
    """The entry of HEAVY_MODULES that `module` is, or is inside of."""
    return next((root for root in HEAVY_MODULES if module == root or module.startswith(root + ".")), None)


def import_report(argv: list[str], env: dict[str, str], marker: str) -> ImportReport:
    """Run the real command once with -X importtime (via PYTHONPROFILEIMPORTTIME) and list what it imported."""
    proc = checked(run(argv, {**env, "PYTHONPROFILEIMPORTTIME": "1"}), argv)
    modules, top = parse_importtime(proc.stderr)
    return ImportReport(
        argv=argv,
        modules=modules,
        heavy=sorted({root for root in map(heavy_root, modules) if root is not None}),
        top_level_ms=dict(sorted(top.items(), key=lambda item: -item[1])),
        missing_marker=None if marker in modules else marker,
    )


# ------------------------------------------------------------------------------------ allowlist configs


def public_ranges(count: int) -> list[str]:
    """`count` distinct /32s, two addresses apart (never adjacent, so nothing collapses), shuffled."""
    blocks = [ipaddress.IPv4Network(block) for block in PUBLIC_BLOCKS]
    reserved = [ipaddress.IPv4Network(block) for block in NOT_PUBLIC]
    for block in blocks:
        if any(block.overlaps(r) for r in reserved):
            raise BenchError(f"benchmark bug: {block} overlaps a special-purpose block")
    ranges = []
    for index in range(count):
        block = blocks[index % len(blocks)]
        address = block.network_address + 1 + 2 * (index // len(blocks))
        if address not in block:
            raise BenchError(f"benchmark bug: {count} addresses do not fit in {PUBLIC_BLOCKS}")
        ranges.append(f"{address}/32")
    random.Random(count).shuffle(ranges)  # a real list is not sorted; iac sorts it
    return ranges


def config_text(example: str, ranges: list[str], max_rules: int) -> str:
    """The documented example with its allowlist replaced and allowlist_max_rules set."""
    out: list[str] = []
    lines = example.splitlines()
    index = 0
    replaced = False
    while index < len(lines):
        line = lines[index]
        index += 1
        if line.startswith("allowlist_max_rules:"):
            continue
        if not line.startswith("allowlist:"):
            out.append(line)
            continue
        while index < len(lines) and (lines[index].startswith((" ", "-")) or not lines[index].strip()):
            index += 1  # the old list items
        out.append("allowlist:")
        out.extend(f"  - {r}" for r in ranges)
        out.append(f"allowlist_max_rules: {max_rules}")
        replaced = True
    if not replaced:
        raise BenchError(f"{EXAMPLE}: no top-level `allowlist:` key to replace")
    return "\n".join(out) + "\n"


@dataclass
class ScalePoint:
    ranges: int
    cli: Samples
    core: dict[str, Samples]  # load_config, render, write_tree, total

    def per_thousand(self, seconds: float) -> float:
        return seconds / self.ranges * 1000


def core_samples(config: Path, expected_ranges: int | None, runs: int, scratch: Path) -> dict[str, Samples]:
    """load_config + render + write_tree in this process (modules imported, templates compiled beforehand)."""
    from iac.config.load import load_config
    from iac.files.output import write_tree
    from iac.terraform.render import render

    phases = {name: Samples() for name in ("load_config", "render", "write_tree", "total")}
    for index in range(runs):
        out = scratch / f"run-{index}"
        t0 = time.perf_counter()
        loaded = load_config(config)
        t1 = time.perf_counter()
        rendered = render(loaded)
        t2 = time.perf_counter()
        write_tree(out, rendered.files)
        t3 = time.perf_counter()
        if expected_ranges is not None and rendered.ranges != expected_ranges:
            raise BenchError(f"{config}: expected {expected_ranges} ranges after collapsing, got {rendered.ranges}")
        for name, seconds in (("load_config", t1 - t0), ("render", t2 - t1), ("write_tree", t3 - t2)):
            phases[name].seconds.append(seconds)
        phases["total"].seconds.append(t3 - t0)
        shutil.rmtree(out)
    return phases


def import_iac_in_process(pyc_prefix: Path | None) -> None:
    if pyc_prefix is not None:
        sys.pycache_prefix = str(pyc_prefix)  # never write __pycache__ into the source tree
    try:
        importlib.import_module("iac.config.load")
    except ImportError:
        sys.path.insert(0, str(REPO))
        importlib.import_module("iac.config.load")


# ---------------------------------------------------------------------------------------------- main


@dataclass
class Target:
    name: str
    limit_s: float
    measured_s: float

    @property
    def passed(self) -> bool:
        return self.measured_s < self.limit_s


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed runs per measurement (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of tables")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a timing target is missed too")
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="allowlist sizes to render, comma-separated (default 10,1000,10000; the target uses 10000)",
    )
    parser.add_argument(
        "--no-pyc-cache",
        action="store_true",
        help="run children in the environment as is (by default byte-code is cached in a temporary "
        "PYTHONPYCACHEPREFIX, as in a normal install, even if PYTHONDONTWRITEBYTECODE is set)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes must be comma-separated integers")
    if not args.sizes or args.sizes[0] < 1 or args.sizes[-1] > MAX_RULES * 10:
        parser.error(f"--sizes must be between 1 and {MAX_RULES * 10}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="iac-bench-") as temp:
            result = measure(args, Path(temp))
    except BenchError as exc:
        print(f"FAIL  benchmark could not run: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        for line in result["verdict_lines"]:
            log(line)
    else:
        print(result.pop("_text"))
    return int(result["exit_status"])


def measure(args: argparse.Namespace, temp: Path) -> dict[str, Any]:
    runs: int = args.runs
    pyc_prefix = None if args.no_pyc_cache else temp / "pycache"
    env = child_env(pyc_prefix)
    iac, how = iac_command()
    example = EXAMPLE.relative_to(REPO)
    out_root = temp / "out"

    def render_argv(config: Path | str, label: str) -> Callable[[int], list[str]]:
        return lambda i: [*iac, "render", "-c", str(config), "-o", str(out_root / label / f"run-{i}")]

    def expect_ranges(count: int) -> Callable[[str], None]:
        def check(stdout: str) -> None:
            wanted = f"allowlist: {count} range{'s' if count != 1 else ''}"
            if wanted not in stdout:
                raise BenchError(f"render output lacks {wanted!r}: {stdout.strip()!r}")

        return check

    # 1. Cold start.
    log(f"cold start: {runs} runs each ...")
    cold = {
        "python -c pass": (
            [sys.executable, "-c", "pass"],
            time_command(lambda i: [sys.executable, "-c", "pass"], runs, env),
        ),
        "iac --help": ([*iac, "--help"], time_command(lambda i: [*iac, "--help"], runs, env)),
        f"iac render -c {example}": (
            [*iac, "render", "-c", str(example), "-o", "<tmpdir>"],
            time_command(render_argv(example, "example"), runs, env, check=expect_ranges(2)),
        ),
    }

    # 2. Client libraries imported.
    log("import check ...")
    imports = {
        "iac --help": import_report([*iac, "--help"], env, marker="iac.cli"),
        "iac render": import_report(render_argv(example, "importtime")(0), env, marker="iac.terraform.render"),
    }

    # 3. Allowlist scaling.
    import_iac_in_process(pyc_prefix)
    core_samples(EXAMPLE, None, 1, temp / "core-warmup")  # compile templates, read the module files once
    example_text = EXAMPLE.read_text(encoding="utf-8")
    scale: list[ScalePoint] = []
    for size in args.sizes:
        log(f"allowlist of {size:,} ranges: {runs} CLI runs, {runs} in-process runs ...")
        config = temp / "configs" / f"ranges-{size}.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(config_text(example_text, public_ranges(size), MAX_RULES), encoding="utf-8")
        core = core_samples(config, size, runs, temp / f"core-{size}")
        cli = time_command(render_argv(config, f"ranges-{size}"), runs, env, check=expect_ranges(size))
        scale.append(ScalePoint(size, cli, core))

    # 4. Targets.
    targets = [
        Target("iac --help", TARGET_HELP_S, cold["iac --help"][1].median),
        Target(f"iac render -c {example}", TARGET_RENDER_EXAMPLE_S, cold[f"iac render -c {example}"][1].median),
    ]
    at_target = next((p for p in scale if p.ranges == TARGET_RANGES), None)
    if at_target is not None:
        targets.append(Target(f"iac render, {TARGET_RANGES:,} ranges", TARGET_RENDER_RANGES_S, at_target.cli.median))
    imports_ok = all(report.passed for report in imports.values())
    timing_ok = all(t.passed for t in targets)
    exit_status = 0 if imports_ok and (timing_ok or not args.strict) else 1

    verdicts = []
    for target in targets:
        verdicts.append(
            f"{'PASS' if target.passed else 'FAIL'}  {target.name} < {target.limit_s:g} s "
            f"(median {target.measured_s:.3f} s)"
        )
    if at_target is None:
        verdicts.append(f"SKIP  iac render, {TARGET_RANGES:,} ranges < 1 s (size not in --sizes)")
    for name, report in imports.items():
        if report.missing_marker:
            verdicts.append(
                f"FAIL  {name}: cannot tell what it imports ({report.missing_marker} missing from -X importtime)"
            )
        elif report.heavy:
            verdicts.append(f"FAIL  {name} imports cloud client libraries: {', '.join(report.heavy)}")
        else:
            verdicts.append(f"PASS  {name} imports none of {', '.join(HEAVY_MODULES)}")
    verdicts.append(
        f"exit {exit_status}: import check {'passed' if imports_ok else 'FAILED'}; timing targets "
        f"{'met' if timing_ok else 'MISSED'}{'' if args.strict else ' (reported only; --strict makes them fatal)'}"
    )

    environment = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "iac_command": iac,
        "iac_command_source": how,
        "bytecode": "env as is" if pyc_prefix is None else "cached under a temporary PYTHONPYCACHEPREFIX",
        "PYTHONDONTWRITEBYTECODE_in_env": "PYTHONDONTWRITEBYTECODE" in os.environ,
        "runs": runs,
        "warmup_runs": 1,
    }
    result: dict[str, Any] = {
        "environment": environment,
        "cold_start": {name: {"argv": argv, **s.as_json()} for name, (argv, s) in cold.items()},
        "imports": {
            name: {
                "argv": r.argv,
                "pass": r.passed,
                "heavy_imported": r.heavy,
                "modules_imported": len(r.modules),
                "top_level_cumulative_ms": {k: round(v, 1) for k, v in list(r.top_level_ms.items())[:15]},
            }
            for name, r in imports.items()
        },
        "allowlist_scaling": [
            {
                "ranges": p.ranges,
                "cli": {**p.cli.as_json(), "median_per_1000_ranges_s": round(p.per_thousand(p.cli.median), 6)},
                "core": {
                    name: {**s.as_json(), "median_per_1000_ranges_s": round(p.per_thousand(s.median), 6)}
                    for name, s in p.core.items()
                },
            }
            for p in scale
        ],
        "marginal_per_1000_ranges_s": marginal(scale),
        "targets": [
            {"name": t.name, "limit_s": t.limit_s, "median_s": round(t.measured_s, 6), "pass": t.passed}
            for t in targets
        ],
        "import_check_pass": imports_ok,
        "timing_targets_pass": timing_ok,
        "strict": args.strict,
        "exit_status": exit_status,
        "verdict_lines": verdicts,
    }
    if not args.json:
        result["_text"] = text_report(environment, cold, imports, scale, verdicts)
    return result


def marginal(scale: list[ScalePoint]) -> list[dict[str, Any]]:
    """Cost of each further 1,000 ranges between consecutive sizes: the slope, without the fixed costs.

    Similar slopes for 10 -> 1,000 and 1,000 -> 10,000 mean render time grows linearly with the allowlist.
    """
    slopes = []
    for low, high in itertools.pairwise(scale):
        span = (high.ranges - low.ranges) / 1000
        slopes.append(
            {
                "between": [low.ranges, high.ranges],
                "cli_s": round((high.cli.median - low.cli.median) / span, 6),
                **{
                    f"core_{name}_s": round((high.core[name].median - low.core[name].median) / span, 6)
                    for name in high.core
                },
            }
        )
    return slopes


def text_report(
    environment: dict[str, Any],
    cold: dict[str, tuple[list[str], Samples]],
    imports: dict[str, ImportReport],
    scale: list[ScalePoint],
    verdicts: list[str],
) -> str:
    out: list[str] = []
    add = out.append
    add(
        f"iac CLI benchmark: Python {environment['python']} on {environment['platform']}, "
        f"{environment['cpus']} CPUs; {environment['runs']} timed runs per row (after 1 untimed warm-up)"
    )
    add(f"iac command: {' '.join(environment['iac_command'])} ({environment['iac_command_source']})")
    add(
        f"byte-code: {environment['bytecode']}"
        + ("; PYTHONDONTWRITEBYTECODE is set in this shell" if environment["PYTHONDONTWRITEBYTECODE_in_env"] else "")
    )
    add("")
    add("1. Cold start (wall time, a fresh subprocess per run)")
    width = max(len(name) for name in cold) + 2
    add(f"   {'command':<{width}}{'median':>10}{'min':>10}")
    for name, (_, samples) in cold.items():
        add(f"   {name:<{width}}{samples.median:>9.3f}s{samples.min:>9.3f}s")
    add("")
    add(f"2. Cloud client libraries imported ({', '.join(HEAVY_MODULES)})")
    for name, report in imports.items():
        status = "PASS" if report.passed else "FAIL"
        found = ", ".join(report.heavy) if report.heavy else "none"
        add(f"   {status}  {name:<12} heavy: {found}  ({len(report.modules)} modules imported in total)")
    add("   Slowest imports at top level (cumulative, -X importtime, which itself adds overhead):")
    for name, report in imports.items():
        top = ", ".join(f"{module} {value:.0f}" for module, value in list(report.top_level_ms.items())[:7])
        add(f"     {name}: {top} ms")
    add("")
    add("3. Allowlist size (distinct /32s, none collapse). CLI = the full `iac render` subprocess;")
    add("   core = load_config + render + write_tree in-process (warm: modules imported, templates compiled).")
    add("   Medians; x/1k = time / ranges * 1000.")
    header = (
        f"   {'ranges':>7} {'CLI':>9} {'CLI min':>9} {'CLI/1k':>9} {'core':>9} {'core/1k':>9}"
        f" {'load':>9} {'render':>9} {'write':>9}"
    )
    add(header)

    def per_k(point: ScalePoint, seconds: float) -> str:
        # Below 1,000 ranges the per-1,000 figure is fixed cost scaled up, not a rate (it is in the JSON).
        return f"{point.per_thousand(seconds):>8.3f}s" if point.ranges >= 1000 else f"{'-':>9}"

    for p in scale:
        core = p.core
        add(
            f"   {p.ranges:>7,} {p.cli.median:>8.3f}s {p.cli.min:>8.3f}s {per_k(p, p.cli.median)}"
            f" {core['total'].median:>8.3f}s {per_k(p, core['total'].median)}"
            f" {core['load_config'].median:>8.3f}s {core['render'].median:>8.3f}s {core['write_tree'].median:>8.3f}s"
        )
    add("   Marginal cost per further 1,000 ranges (equal slopes = linear growth):")
    for slope in marginal(scale):
        low, high = slope["between"]
        add(
            f"   {low:>7,} -> {high:<7,} CLI {ms(slope['cli_s'])}, core {ms(slope['core_total_s'])} "
            f"(load {ms(slope['core_load_config_s'])}, render {ms(slope['core_render_s'])}, "
            f"write {ms(slope['core_write_tree_s'])})"
        )
    add("")
    add("4. Targets (median wall time of the CLI subprocess)")
    out.extend(f"   {line}" for line in verdicts)
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
