"""Memory and time of `iac manifest generate` as the bucket grows (target: memory does not grow).

The listing is replaced by a generator of synthetic objects (mixed images, videos, DICOM series and
unsupported files) so that the measurement is of iac's own streaming, batching and writing; the real
listing (google-cloud-storage's paginated iterator) is streamed the same way.

    python benchmarks/bench_manifest.py [--counts 10000 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from iac.manifest.generate import StoredObject, generate

# Peak traced memory at the largest count may exceed the smallest count's by at most this factor.
MAX_GROWTH = 1.5


def synthetic(count: int) -> Iterator[StoredObject]:
    for i in range(count):
        bucket = i % 10
        if bucket < 6:
            yield StoredObject(f"images/{i:09d}.jpg", 120_000, "image/jpeg")
        elif bucket < 7:
            yield StoredObject(f"videos/{i:09d}.mp4", 9_000_000, "video/mp4")
        elif bucket < 9:
            yield StoredObject(f"scans/series-{i // 40:07d}/{i:09d}.dcm", 500_000, "application/dicom")
        else:
            yield StoredObject(f"misc/{i:09d}.bin", 10, "application/octet-stream")


def measure(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        tracemalloc.start()
        started = time.perf_counter()
        summary = generate(synthetic(count), "encord-directaccess.acme.com", Path(directory) / "m")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "objects": count,
        "seconds": round(elapsed, 3),
        "peak_mib": round(peak / 2**20, 2),
        "files": len(summary.files),
        "skipped": summary.skipped,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(count) for count in sorted(args.counts)]
    growth = rows[-1]["peak_mib"] / max(rows[0]["peak_mib"], 0.01)
    verdict = "PASS" if growth <= MAX_GROWTH else "FAIL"
    if args.json:
        print(json.dumps({"rows": rows, "growth": round(growth, 2), "verdict": verdict}, indent=2))
    else:
        print(f"{'objects':>10} {'seconds':>9} {'peak MiB':>9} {'files':>6} {'skipped':>8}")
        for row in rows:
            print(
                f"{row['objects']:>10} {row['seconds']:>9} {row['peak_mib']:>9} {row['files']:>6} {row['skipped']:>8}"
            )
        print(
            f"{verdict}  peak memory grows {growth:.2f}x from {rows[0]['objects']} to {rows[-1]['objects']} "
            f"objects (target <= {MAX_GROWTH}x: bounded, not proportional)"
        )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
