"""Time and memory of reading hostile YAML: alias bombs ("billion laughs") against a large honest config.

Issue #10: nine lines of nested aliases stand for 9**9 values; reading them used to take tens of GB. The
reader now refuses aliases that expand to more than iac.config.yamldoc.MAX_ALIAS_VALUES values, counting them
from the parser's events without building anything.

    python benchmarks/bench_yaml.py [--json]

In-process rows: wall time and peak traced memory (tracemalloc) of `load_config`. The last row runs
`iac validate` on the 9-level bomb as a user would (a fresh process): wall time and maximum resident set.
Exit status 1 if a target is missed. Standard library only, plus iac itself.
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from iac.config.load import load_config
from iac.config.yamldoc import MAX_ALIAS_VALUES
from iac.errors import ConfigError

BASE = """\
project: my-gcp-project
domain: encord-directaccess.acme.com
bucket: {name: encord-data, location: EU}
"""

# Targets: a refused bomb costs next to nothing; the largest accepted expansion and a 20,000-entry
# allowlist still read in well under a second.
TARGET_BOMB_S = 0.1
TARGET_BOMB_PEAK_MIB = 5.0
TARGET_CLI_BOMB_S = 1.0
TARGET_CLI_BOMB_RSS_MIB = 150.0
TARGET_LARGE_S = 1.0


def billion_laughs(levels: int) -> str:
    """Level a: nine strings; every further level: nine aliases of the one before (9**levels values)."""
    names = "abcdefghijklmnopqrstuvwxyz"[:levels]
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{name}: &{name} [{','.join([f'*{before}'] * 9)}]" for before, name in itertools.pairwise(names)]
    return BASE + "allowlist: [39.42.20.11]\n" + "\n".join(lines) + "\n"


def just_under_the_limit() -> str:
    """Aliases that expand to as many values as the limit allows: the most an accepted file can cost."""
    width = 1000
    copies = MAX_ALIAS_VALUES // (width + 1)
    return (
        BASE
        + "allowlist: [39.42.20.11]\n"
        + f"a: &a [{', '.join(['lol'] * width)}]\n"
        + f"b: [{', '.join(['*a'] * copies)}]\n"
    )


def large_allowlist(entries: int = 20_000) -> str:
    """An honest config at the top of the range: global /32s two apart (none merge), one rule per ten."""
    first = int(ipaddress.IPv4Address("81.0.0.0"))
    lines = "".join(f"  - {ipaddress.IPv4Address(first + 2 * i)}\n" for i in range(entries))
    return BASE + f"allowlist_max_rules: {entries // 10}\nallowlist:\n" + lines


def load(path: Path) -> str:
    try:
        load_config(path)
    except ConfigError as exc:
        first = exc.problems[0]
        return "refused: aliases" if "YAML aliases expand" in first else f"invalid: {first.split(': ', 2)[-1]}"
    return "valid"


def measure(name: str, text: str, directory: Path, runs: int) -> dict[str, Any]:
    """Best wall time of `runs` untraced loads, then the peak of one load under tracemalloc (much slower)."""
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        outcome = load(path)
        best = min(best, time.perf_counter() - started)
    tracemalloc.start()
    load(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "case": name,
        "bytes": len(text.encode()),
        "seconds": round(best, 4),
        "peak_mib": round(peak / 2**20, 2),
        "outcome": outcome[:60],
    }


def iac_command() -> list[str]:
    if (Path(__file__).resolve().parent.parent / "iac" / "__main__.py").is_file():
        return [sys.executable, "-m", "iac"]
    found = shutil.which("iac", path=str(Path(sys.executable).parent)) or shutil.which("iac")
    if found is None:
        raise SystemExit("cannot find the iac command: install iac (pip install -e .)")
    return [found]


def measure_cli(case: str, text: str, directory: Path) -> dict[str, Any]:
    """`iac validate` on `text` in a fresh process: wall time and the child's own maximum resident set."""
    path = directory / "cli.yaml"
    path.write_text(text, encoding="utf-8")
    with open(directory / "cli.out", "wb") as out:
        started = time.perf_counter()
        child = subprocess.Popen([*iac_command(), "validate", "-c", str(path)], stdout=out, stderr=out)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    output = (directory / "cli.out").read_text(errors="replace")
    rss_kib = usage.ru_maxrss  # KiB on Linux
    return {
        "case": case,
        "bytes": len(text.encode()),
        "seconds": round(elapsed, 4),
        "max_rss_mib": round(rss_kib / 1024, 1),
        "exit": child.returncode,
        "refused": "YAML aliases expand" in output,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case (the best counts)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        rows = [
            measure(f"bomb-{levels}-levels", billion_laughs(levels), directory, args.runs) for levels in (5, 6, 7, 9)
        ]
        rows.append(measure("aliases-just-under-limit", just_under_the_limit(), directory, args.runs))
        rows.append(measure("allowlist-20000-entries", large_allowlist(), directory, args.runs))
        baseline = measure_cli("iac validate, honest file", BASE + "allowlist: [39.42.20.11]\n", directory)
        cli = measure_cli("iac validate, 9-level bomb", billion_laughs(9), directory)
    by_case = {row["case"]: row for row in rows}
    bomb, under, large = (
        by_case["bomb-9-levels"],
        by_case["aliases-just-under-limit"],
        by_case["allowlist-20000-entries"],
    )
    checks = [
        ("9-level bomb refused", bomb["outcome"] == "refused: aliases" and cli["refused"] and cli["exit"] == 1),
        (f"9-level bomb in-process < {TARGET_BOMB_S} s", bomb["seconds"] < TARGET_BOMB_S),
        (f"9-level bomb peak < {TARGET_BOMB_PEAK_MIB} MiB", bomb["peak_mib"] < TARGET_BOMB_PEAK_MIB),
        (f"iac validate of the bomb < {TARGET_CLI_BOMB_S} s", cli["seconds"] < TARGET_CLI_BOMB_S),
        (f"iac validate of the bomb < {TARGET_CLI_BOMB_RSS_MIB} MiB RSS", cli["max_rss_mib"] < TARGET_CLI_BOMB_RSS_MIB),
        (f"just under the limit read < {TARGET_LARGE_S} s", under["seconds"] < TARGET_LARGE_S),
        ("20,000-entry allowlist valid", large["outcome"] == "valid"),
        (f"20,000-entry allowlist < {TARGET_LARGE_S} s", large["seconds"] < TARGET_LARGE_S),
    ]
    failed = [what for what, ok in checks if not ok]
    if args.json:
        document = {"limit": MAX_ALIAS_VALUES, "rows": rows, "cli": [baseline, cli], "failed": failed}
        print(json.dumps(document, indent=2))
    else:
        print(f"alias limit: {MAX_ALIAS_VALUES:,} values")
        print(f"{'case':<28} {'bytes':>8} {'seconds':>8} {'peak MiB':>9}  outcome")
        for row in rows:
            print(f"{row['case']:<28} {row['bytes']:>8} {row['seconds']:>8} {row['peak_mib']:>9}  {row['outcome']}")
        print(f"\n{'fresh process':<28} {'bytes':>8} {'seconds':>8} {'RSS MiB':>9}  exit")
        for row in (baseline, cli):
            print(f"{row['case']:<28} {row['bytes']:>8} {row['seconds']:>8} {row['max_rss_mib']:>9}  {row['exit']}")
        for what, ok in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
