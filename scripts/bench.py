"""StyleNet benchmarks: `make bench`.  Medians over repeats, measured side by side in one run.

Sections: codec (encode/decode/apply of a generated 5,000-note piece) and, with --dataset RAW_DIR,
a full `build-dataset` run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylenet import codec  # noqa: E402
from tests.midifix import N, Song, write_song  # noqa: E402


def median_seconds(fn, repeats: int = 15) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_codec(n_notes: int = 5000) -> list[tuple[str, float]]:
    rng = np.random.default_rng(0)
    notes = [N(int(rng.integers(21, 109)), int(on), int(on + rng.integers(30, 960)), int(rng.integers(20, 120)))
             for on in np.sort(rng.integers(0, 480 * 1000, n_notes))]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_song(Path(tmp) / "bench.mid", Song(notes))
        piece = codec.load_midi(path)
        score = codec.quantise(piece)
        s, v = codec.encode(score)
        return [
            (f"load_midi ({n_notes} notes)", median_seconds(lambda: codec.load_midi(path), 5)),
            ("quantise", median_seconds(lambda: codec.quantise(piece))),
            (f"encode -> {list(s.shape)}", median_seconds(lambda: codec.encode(score))),
            ("decode", median_seconds(lambda: codec.decode(s, v))),
            ("apply_velocities", median_seconds(lambda: codec.apply_velocities(piece, v))),
        ]


def bench_dataset(raw_dir: str, jobs: int | None) -> list[tuple[str, float]]:
    from stylenet.dataset import build_dataset

    with tempfile.TemporaryDirectory() as tmp:
        report = build_dataset(raw_dir, Path(tmp) / "ds", jobs=jobs, progress=False)
    return [(f"build-dataset {len(report.kept) + len(report.rejected)} files (one run)", report.seconds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", metavar="RAW_DIR", help="also time build-dataset over RAW_DIR")
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args()
    rows = bench_codec()
    if args.dataset:
        rows += bench_dataset(args.dataset, args.jobs)
    width = max(len(name) for name, _ in rows)
    print(f"{'what':<{width}}  median")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds * 1000:9.2f} ms")


if __name__ == "__main__":
    main()
