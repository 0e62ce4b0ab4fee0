#!/usr/bin/env python3
"""Fast at any size (issue 17): each row of the issue's table, measured now against its target.

    python benchmarks/bench_speed.py [--runs N] [--only ROW ...] [--json]

Rows (`--only` takes their names):

- `add`: `iac allowlist add` of 500 addresses to a 10,000-range list (the config written; target <= 1 s).
- `validate`, `render`, `list`: the same commands on a 20,000-range list (target <= 1 s each; `list` against
  the rendering in its output directory, so every range is looked up in its current rule).
- `help`, `render-example`: `iac --help` and `iac render` of the documented example, as a ratio of
  `python -c "import typer"` in the same interpreter, run in pairs (one of each, alternating) and compared
  median to median (targets <= 1.5x and <= 2.5x).
- `manifest`: `iac manifest generate --strict-metadata` of 1,000 images, each request to storage answered
  after 20 ms (a minimal stand-in for Cloud Storage's JSON API in this process, see `_Storage`), with
  `--jobs 1` (a serial run) and the default (16): the speed-up (target >= 8x) and the files of both runs
  compared byte for byte.

Wall times are medians of fresh processes (after one untimed warm-up); each large-input row also reports the
process's peak resident memory (ru_maxrss of that child, from wait4). Exit status 1 if a target is missed or
a command fails. Judge the timings on a quiet machine: the start-up ratios are paired so that load affects
both sides alike, the others are absolute.
"""

from __future__ import annotations

import argparse
import filecmp
import http.server
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench_cli import EXAMPLE, REPO, child_env, config_text, public_ranges

ROWS = ("add", "validate", "render", "list", "help", "render-example", "manifest")
TARGET_SECONDS = 1.0
TARGET_HELP_RATIO = 1.5
TARGET_RENDER_RATIO = 2.5
TARGET_SPEEDUP = 8.0
LATENCY_S = 0.020
IMAGES = 1000


@dataclass
class Row:
    name: str
    work: str
    measured: str
    target: str
    passed: bool
    detail: dict[str, Any]


def iac(*args: str) -> list[str]:
    return [sys.executable, "-m", "iac", *args]


# The children's environment: byte-code cached (under a temporary prefix) as in a normal install, even when
# the shell sets PYTHONDONTWRITEBYTECODE; set by main().
ENV: dict[str, str] = {}


def run_with_rss(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one run of `argv` (waited for with
    wait4, which gives this child's own usage); a failed run stops the benchmark."""
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, cwd=REPO, env=env or ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert child.stderr is not None
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"`{' '.join(argv)}` exited {child.returncode}: {err.decode(errors='replace')[-600:]}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def median_run(
    make: Callable[[int], list[str]], runs: int, prepare: Callable[[], None] = lambda: None
) -> dict[str, Any]:
    seconds, peaks, cpu = [], [], []
    for index in range(runs + 1):
        prepare()
        elapsed, peak, used = run_with_rss(make(index))
        if index:  # the first run warms the page and byte-code caches
            seconds.append(elapsed)
            peaks.append(peak)
            cpu.append(used)
    return {
        "seconds": round(statistics.median(seconds), 3),
        "cpu_seconds": round(statistics.median(cpu), 3),
        "peak_rss_mib": round(max(peaks) / 1024, 1),
    }


def seconds_row(name: str, work: str, result: dict[str, Any]) -> Row:
    return Row(
        name,
        work,
        f"{result['seconds']:.2f} s ({result['cpu_seconds']:.2f} s CPU, peak {result['peak_rss_mib']} MiB)",
        f"<= {TARGET_SECONDS:.0f} s",
        result["seconds"] <= TARGET_SECONDS,
        result,
    )


def bench_allowlist(rows: set[str], runs: int, scratch: Path) -> list[Row]:
    example = EXAMPLE.read_text()
    found: list[Row] = []
    if "add" in rows:
        ranges = public_ranges(10_500)
        base, added = ranges[:10_000], [r.removesuffix("/32") for r in ranges[10_000:]]
        original = config_text(example, base, 2_000)
        config = scratch / "add.yaml"

        def fresh() -> None:
            config.write_text(original)

        result = median_run(
            lambda i: iac("allowlist", "add", "-c", str(config), "-o", str(scratch / "add-build"), *added), runs, fresh
        )
        found.append(seconds_row("add", "`iac allowlist add` of 500 addresses to a 10,000-range list", result))
    big = scratch / "big.yaml"
    big.write_text(config_text(example, public_ranges(20_000), 2_000))
    build = scratch / "big-build"
    if "validate" in rows:
        result = median_run(lambda i: iac("validate", "-c", str(big)), runs)
        found.append(seconds_row("validate", "`iac validate` of 20,000 ranges", result))
    if "render" in rows:
        result = median_run(lambda i: iac("render", "-c", str(big), "-o", str(scratch / f"render-{i}")), runs)
        found.append(seconds_row("render", "`iac render` of 20,000 ranges (empty output directory)", result))
    if "list" in rows:
        run_with_rss(iac("render", "-c", str(big), "-o", str(build)))
        result = median_run(lambda i: iac("allowlist", "list", "-c", str(big), "-o", str(build)), runs)
        found.append(seconds_row("list", "`iac allowlist list` of 20,000 ranges (rendered rules in -o)", result))
    return found


def paired_ratio(argv: Callable[[int], list[str]], runs: int) -> dict[str, Any]:
    """Median wall time of `argv` over the median of `python -c "import typer"`, run alternately."""
    base, command = [], []
    for index in range(runs + 1):
        typer_s, _, _ = run_with_rss([sys.executable, "-c", "import typer"])
        command_s, _, _ = run_with_rss(argv(index))
        if index:
            base.append(typer_s)
            command.append(command_s)
    typer_median, command_median = statistics.median(base), statistics.median(command)
    return {
        "ratio": round(command_median / typer_median, 2),
        "seconds": round(command_median, 3),
        "import_typer_seconds": round(typer_median, 3),
    }


def bench_startup(rows: set[str], runs: int, scratch: Path) -> list[Row]:
    found = []
    if "help" in rows:
        result = paired_ratio(lambda i: iac("--help"), max(runs, 10))
        found.append(
            Row(
                "help",
                '`iac --help`, as a ratio of `python -c "import typer"` (paired)',
                f"{result['ratio']:.2f}x ({result['seconds']:.3f} s against {result['import_typer_seconds']:.3f} s)",
                f"<= {TARGET_HELP_RATIO}x",
                result["ratio"] <= TARGET_HELP_RATIO,
                result,
            )
        )
    if "render-example" in rows:
        result = paired_ratio(
            lambda i: iac("render", "-c", str(EXAMPLE), "-o", str(scratch / f"example-{i}")), max(runs, 10)
        )
        found.append(
            Row(
                "render-example",
                "`iac render` of the documented example, same ratio",
                f"{result['ratio']:.2f}x ({result['seconds']:.3f} s against {result['import_typer_seconds']:.3f} s)",
                f"<= {TARGET_RENDER_RATIO}x",
                result["ratio"] <= TARGET_RENDER_RATIO,
                result,
            )
        )
    return found


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc + b"\x00" * 64


class _Storage(http.server.BaseHTTPRequestHandler):
    """The two requests `manifest generate` makes of Cloud Storage's JSON API (list the objects, read the first
    bytes of one), answered after LATENCY_S. A stand-in that costs next to no CPU per request, unlike
    gcp-storage-emulator (one request at a time, all in Python): the measurement is then of iac's side, as
    against Cloud Storage, which does not share this machine's processors."""

    objects: ClassVar[dict[str, bytes]] = {}
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes: without this, Nagle's algorithm and the client's delayed
        # acknowledgement would add 40 ms to each answer.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        time.sleep(LATENCY_S)
        path = self.path.partition("?")[0]
        if path.startswith("/download/storage/v1/b/"):
            name = urllib.parse.unquote(path.split("/o/", 1)[1])
            data = self.objects[name]
            first, _, last = self.headers.get("Range", "bytes=0-").removeprefix("bytes=").partition("-")
            body = data[int(first) : int(last) + 1 if last else None]
            self._send(206 if "Range" in self.headers else 200, body, "application/octet-stream")
            return
        bucket = path.split("/")[4]
        items = [
            {"kind": "storage#object", "name": name, "bucket": bucket, "size": str(len(data)),
             "contentType": "image/png", "generation": "1"}
            for name, data in sorted(self.objects.items())
        ]  # fmt: skip
        self._send(200, json.dumps({"kind": "storage#objects", "items": items}).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def slow_storage(objects: dict[str, bytes]) -> Iterator[str]:
    """The stand-in above on 127.0.0.1 (a free port), one thread per connection, as STORAGE_EMULATOR_HOST."""
    _Storage.objects = objects
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Storage)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def bench_manifest(scratch: Path) -> list[Row]:
    objects = {f"img/{index:05d}.png": png(64 + index, 48) for index in range(IMAGES)}
    with slow_storage(objects) as url:
        config = scratch / "manifest.yaml"
        config.write_text(
            "project: my-gcp-project\ndomain: encord-directaccess.acme.com\n"
            "bucket: {name: bench-images, create: false, origin_region: eu}\nallowlist: [39.42.20.11/32]\n"
        )
        env = {**ENV, "STORAGE_EMULATOR_HOST": url}
        results = {}
        for jobs in ("1", "16"):
            out = scratch / f"manifest-{jobs}"
            argv = iac("manifest", "generate", "-c", str(config), "-o", str(out), "--strict-metadata", "--jobs", jobs)
            seconds, peak, cpu = run_with_rss(argv, env)
            results[jobs] = {
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "peak_rss_mib": round(peak / 1024, 1),
                "out": out,
            }
    same = sorted(p.name for p in results["1"]["out"].iterdir()) == sorted(
        p.name for p in results["16"]["out"].iterdir()
    )
    same = same and all(
        filecmp.cmp(path, results["16"]["out"] / path.name, shallow=False)
        for path in results["1"]["out"].iterdir()
        if path.is_file()
    )
    speedup = results["1"]["seconds"] / results["16"]["seconds"]
    detail = {
        "serial_seconds": results["1"]["seconds"],
        "jobs_16_seconds": results["16"]["seconds"],
        "speedup": round(speedup, 1),
        "peak_rss_mib": {"serial": results["1"]["peak_rss_mib"], "jobs_16": results["16"]["peak_rss_mib"]},
        "iac_cpu_seconds": {"serial": results["1"]["cpu_seconds"], "jobs_16": results["16"]["cpu_seconds"]},
        "identical_files": same,
    }
    return [
        Row(
            "manifest",
            f"`manifest generate --strict-metadata`, {IMAGES:,} images, storage answering in {LATENCY_S * 1000:.0f} ms",
            f"{speedup:.1f}x faster ({results['1']['seconds']} s serial, {results['16']['seconds']} s with --jobs 16; "
            f"files {'identical' if same else 'DIFFERENT'}; iac's own CPU {results['16']['cpu_seconds']} s)",
            f">= {TARGET_SPEEDUP:.0f}x faster, same files",
            speedup >= TARGET_SPEEDUP and same,
            detail,
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (start-up rows: at least 10)")
    parser.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS), help="rows to measure")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    wanted = set(args.only)
    with tempfile.TemporaryDirectory(prefix="iac-bench-speed-") as directory:
        scratch = Path(directory)
        ENV.update(child_env(scratch / "pyc"))
        rows = bench_allowlist(wanted, args.runs, scratch) + bench_startup(wanted, args.runs, scratch)
        if "manifest" in wanted:
            rows += bench_manifest(scratch)
    if args.json:
        print(
            json.dumps(
                [{"row": r.name, "work": r.work, "passed": r.passed, **r.detail} for r in rows], indent=2, default=str
            )
        )
    else:
        for row in rows:
            print(f"{'PASS' if row.passed else 'FAIL'}  {row.work}\n      {row.measured}; target {row.target}")
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
