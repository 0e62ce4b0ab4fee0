"""Memory and time of `iac manifest generate` as the bucket and its objects grow (target: memory does not grow).

1. Objects: the listing is replaced by a generator of synthetic objects (mixed images, videos, DICOM
   series and unsupported files) so that the measurement is of iac's own streaming, batching and
   writing; the real listing (google-cloud-storage's paginated iterator) is streamed the same way.
2. Video size: `iac manifest generate --strict-metadata` over one real video (made with ffmpeg) of
   about 20 MB and about 200 MB in gcp-storage-emulator, run in this process; the CLI runs in a child
   process, which reports its own peak resident memory (VmHWM, Linux) when it is done.

    python benchmarks/bench_manifest.py [--counts 10000 100000] [--video-mb 20 200] [--only objects|video] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from iac.manifest.generate import StoredObject, generate

# Peak traced memory at the largest count may exceed the smallest count's by at most this factor.
MAX_GROWTH = 1.5
# Peak RSS of the generate process for the largest video may exceed the smallest video's by at most this factor.
MAX_VIDEO_GROWTH = 1.2
DOMAIN = "encord-directaccess.acme.com"

# Runs `iac ARGS...` in the child, then writes the child's peak RSS in KiB to the file named first. The peak is
# VmHWM, the high-water mark of the memory of the program iac runs in. Not getrusage's ru_maxrss: Linux carries
# it over exec from the process that forked, here this benchmark, which holds the emulator and its objects.
_CHILD = """
import json, sys
from iac.cli import app
code = 0
try:
    app(args=sys.argv[2:], prog_name="iac")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
with open(sys.argv[1], "w") as handle:
    json.dump({"peak_kib": peak}, handle)
sys.exit(code)
"""


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


def bench_objects(counts: list[int], as_json: bool) -> dict[str, Any]:
    rows = [measure(count) for count in sorted(counts)]
    growth = rows[-1]["peak_mib"] / max(rows[0]["peak_mib"], 0.01)
    verdict = "PASS" if growth <= MAX_GROWTH else "FAIL"
    if not as_json:
        print(f"{'objects':>10} {'seconds':>9} {'peak MiB':>9} {'files':>6} {'skipped':>8}")
        for row in rows:
            print(
                f"{row['objects']:>10} {row['seconds']:>9} {row['peak_mib']:>9} {row['files']:>6} {row['skipped']:>8}"
            )
        print(
            f"{verdict}  peak memory grows {growth:.2f}x from {rows[0]['objects']} to {rows[-1]['objects']} "
            f"objects (target <= {MAX_GROWTH}x: bounded, not proportional)"
        )
    return {"rows": rows, "growth": round(growth, 2), "verdict": verdict}


def make_video(path: Path, megabytes: int) -> None:
    """A real MPEG-4 video of about `megabytes` MB: 1280x720 at 25 fps and 20 Mbit/s (noise, so the encoder
    cannot compress it below that rate), cut by ffmpeg's own size limit (-fs), which still finishes the
    file properly (the moov index at the end, where ffprobe has to seek for it)."""
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi",
            "-i", "color=c=gray:s=1280x720:r=25,noise=alls=40:allf=t",
            "-t", "3600", "-c:v", "mpeg4", "-b:v", "20M", "-maxrate", "20M", "-bufsize", "20M",
            "-pix_fmt", "yuv420p", "-fs", str(megabytes * 1_000_000), str(path),
        ],
        check=True,
    )  # fmt: skip


def measure_video(emulator: str, client: Any, directory: Path, megabytes: int) -> dict[str, Any]:
    """Peak RSS of `iac manifest generate --strict-metadata` over a bucket holding one video of this size."""
    video = directory / f"video-{megabytes}.mp4"
    make_video(video, megabytes)
    name = f"bench-video-{megabytes}"
    client.create_bucket(name).blob("videos/clip.mp4").upload_from_filename(str(video), content_type="video/mp4")
    size = video.stat().st_size
    video.unlink()  # only the emulator's copy is left
    config = directory / f"{name}.yaml"
    config.write_text(
        f"project: my-gcp-project\ndomain: {DOMAIN}\nbucket: {{name: {name}, create: false, origin_region: eu}}\n"
        "allowlist: [39.42.20.11/32]\n"
    )
    usage = directory / f"{name}.usage.json"
    out = directory / f"{name}-out"
    args = ["manifest", "generate", "-c", str(config), "-o", str(out), "--strict-metadata", "--json"]
    env = {**os.environ, "STORAGE_EMULATOR_HOST": emulator}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(usage), *args], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"iac manifest generate failed for the {megabytes} MB video:\n{done.stderr}")
    units = json.loads(done.stdout)["units"]
    if units != {"videos": 1}:
        raise SystemExit(f"the {megabytes} MB video was not registered with metadata: {done.stdout}")
    peak = json.loads(usage.read_text())["peak_kib"]
    client.get_bucket(name).delete(force=True)
    return {"object_mb": round(size / 1e6, 1), "seconds": round(elapsed, 2), "peak_rss_mib": round(peak / 1024, 1)}


def bench_video(sizes: list[int], as_json: bool) -> dict[str, Any]:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"{' and '.join(missing)} not on PATH: run `bash tests/install-tools.sh`")
    if not Path("/proc/self/status").is_file():
        raise SystemExit("the video measurement reads VmHWM from /proc/self/status: run it on Linux")
    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    try:
        emulator = f"http://127.0.0.1:{server._api._httpd.server_port}"  # no public accessor for the port
        os.environ["STORAGE_EMULATOR_HOST"] = emulator
        client = storage.Client(project="bench", credentials=AnonymousCredentials())
        with tempfile.TemporaryDirectory() as directory:
            rows = [measure_video(emulator, client, Path(directory), mb) for mb in sorted(sizes)]
    finally:
        server.stop()
    growth = rows[-1]["peak_rss_mib"] / max(rows[0]["peak_rss_mib"], 0.01)
    verdict = "PASS" if growth <= MAX_VIDEO_GROWTH else "FAIL"
    if not as_json:
        print(f"{'video MB':>9} {'seconds':>8} {'peak RSS MiB':>13}")
        for row in rows:
            print(f"{row['object_mb']:>9} {row['seconds']:>8} {row['peak_rss_mib']:>13}")
        print(
            f"{verdict}  peak RSS of the generate process grows {growth:.2f}x from a {rows[0]['object_mb']} MB to a "
            f"{rows[-1]['object_mb']} MB video (target <= {MAX_VIDEO_GROWTH}x: independent of the object size)"
        )
    return {"rows": rows, "growth": round(growth, 2), "verdict": verdict}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--video-mb", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--only", choices=["objects", "video"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.only in (None, "objects"):
        results["objects"] = bench_objects(args.counts, args.json)
    if args.only in (None, "video"):
        if results and not args.json:
            print()
        results["video"] = bench_video(args.video_mb, args.json)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if all(r["verdict"] == "PASS" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
