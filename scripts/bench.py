"""StyleNet benchmarks: `make bench`.  Medians over repeats, measured side by side in one run.

Sections:
  training   the paper-sized model (2 genres, batch 4 x 200 steps): time-steps per second, median of
             N steps after warm-up, genres alternating; beside it ../shared/bench/torch_reference.py (the
             same network in plain PyTorch) when torch is installed, and the ratio
  inference  one 1,500-step piece through one GenreNet (Keras model), beside the peer's
  perform    `stylenet perform --timings` of a generated 3-minute piece (1,440 steps, 2,000 notes) as a
             fresh process with the shipped model: wall time including start-up and the time of each
             phase, medians of 5; and the NumPy forward pass alone
  readings   the shipped model's forward pass over a generated 3-minute piece, side by side in one process:
             its readings one at a time with BLAS's own threads (before issue 30) against the readings batched,
             BLAS on one thread and a bidirectional layer's halves on two threads (now); medians of 5
  batch      `stylenet perform` of a folder of 30 generated one-minute pieces, --jobs 1 and 2: files a second
  evaluate   `stylenet evaluate` of a folder of 40 generated pieces of one genre: seconds a piece
  recorded   the beat tracker and the touch network on a generated 10-minute recording
  long       peak memory of `perform` of a generated two-hour piece (57,600 steps), a fresh process
  codec      load/quantise/encode/decode/apply of a generated 5,000-note piece
  dataset    with --dataset RAW_DIR, a full `build-dataset` run
  memory     with --memory DATASET, peak RSS of training the paper config on that dataset's train split
  goals      each goal of the speed issue with what was measured and whether it is met
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylenet.core import (
    codec,
    midifile,  # noqa: E402
    smf,
)


def write_piano(path: Path, notes) -> Path:
    """A piano MIDI file of notes [(pitch, on tick, off tick, velocity)], 480 ticks a quarter at 120 qpm."""
    pitch, on, off, velocity = (np.array(column) for column in zip(*notes))
    score = codec.make_score(pitch, on, off, velocity, steps_per_quarter=480)  # one step a tick
    path.write_bytes(smf.midi_bytes(codec.score_to_midi(score, midifile.BeatGrid.constant(120.0, 480))))
    return path

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
    notes = [(int(rng.integers(midifile.LOWEST_KEY, midifile.HIGHEST_KEY + 1)), int(on), int(on + rng.integers(30, 960)),
              int(rng.integers(20, 120))) for on in np.sort(rng.integers(0, 480 * 1000, n_notes))]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_piano(Path(tmp) / "bench.mid", notes)
        piece = midifile.load_midi(path)
        score = codec.quantise(piece)
        s, v = codec.encode(score)
        return [
            (f"load_midi ({n_notes} notes)", median_seconds(lambda: midifile.load_midi(path), 5)),
            ("quantise", median_seconds(lambda: codec.quantise(piece))),
            (f"encode -> {list(s.shape)}", median_seconds(lambda: codec.encode(score))),
            ("decode", median_seconds(lambda: codec.decode(s, v))),
            ("apply_velocities", median_seconds(lambda: codec.apply_velocities(piece, v))),
        ]


TORCH_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "torch_reference.py"


def bench_training(steps: int) -> dict:
    """Our training step and inference on the shapes torch_reference.py uses."""
    from stylenet.nn.backend import backend_name, import_keras

    import_keras()
    import keras

    from stylenet.velocity.model import build_model
    from stylenet.velocity.steps import Stepper

    genres = ("jazz", "classical")
    keras.utils.set_random_seed(0)
    model = build_model(genres)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3, global_clipnorm=10.0)
    optimizer.build(model.trainable_variables)
    stepper = Stepper(model, optimizer, "mse")
    rng = np.random.default_rng(0)
    b, t = 4, 200
    x = (rng.random((b, t, codec.SCORE_COLUMNS)) < 0.05).astype("float32")
    y = rng.random((b, t, midifile.N_KEYS)).astype("float32")
    w = np.ones((b, t), "float32")
    keep = np.ones((b,), "float32")
    states = {g: model.zero_states(b) for g in genres}

    def step(genre):
        loss, states[genre] = stepper.train(genre, x, y, w, keep, states[genre])
        float(loss)

    started = time.perf_counter()
    for g in genres:
        step(g)
    first = time.perf_counter() - started
    for g in genres:
        step(g)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        step(genres[i % 2])
        times.append(time.perf_counter() - t0)
    piece = (rng.random((1, 1500, codec.SCORE_COLUMNS)) < 0.05).astype("float32")
    stepper.predict("jazz", piece)
    infer = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.asarray(stepper.predict("jazz", piece))
        infer.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"backend": backend_name(), "params_total": model.count_params(), "first_two_steps_s": first,
            "train_step_median_s": median, "train_timesteps_per_s": b * t / median,
            "infer_1500_median_s": statistics.median(infer)}


def bench_torch(steps: int) -> dict | None:
    if not TORCH_REFERENCE.exists():
        return None
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    result = subprocess.run([sys.executable, str(TORCH_REFERENCE), str(steps)], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"torch reference failed: {result.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_perform(repeats: int = 5, runtime: str = "auto") -> dict:
    """`stylenet perform --timings` of a generated 3-minute piece, as a fresh process each time; `runtime`:
    STYLENET_LSTM (auto: ONNX Runtime where installed; numpy: the NumPy loop)."""
    rng = np.random.default_rng(1)
    onsets = np.sort(rng.integers(0, 1440, 2000)) * 120  # 120 qpm: 1,440 sixteenths = 3 minutes
    notes = [(int(rng.integers(36, 96)), int(t), int(t + rng.integers(60, 960)), 80) for t in onsets]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_piano(Path(tmp) / "three_minutes.mid", notes)
        command = [str(Path(sys.executable).with_name("stylenet")), "perform", str(path), "--genre", "jazz",
                   "--force", "--timings", "-o", str(Path(tmp) / "out.mid")]
        if not Path(command[0]).exists():
            command = [sys.executable, "-m", "stylenet"] + command[1:]
        walls, phases = [], {}
        for _ in range(repeats):
            t0 = time.perf_counter()
            done = subprocess.run(command, check=True, capture_output=True, text=True,
                                  env={**os.environ, "STYLENET_LSTM": runtime})
            walls.append(time.perf_counter() - t0)
            line = done.stderr.strip().splitlines()[-1]
            for part in line.removeprefix("timings: ").split(", "):
                name, seconds, _ = part.rsplit(" ", 2)
                phases.setdefault(name, []).append(float(seconds))
    result = {"wall": statistics.median(walls)}
    result.update({name: statistics.median(v) for name, v in phases.items()})
    result["python start-up, exit"] = result["wall"] - sum(v for k, v in result.items() if k != "wall")
    return result


def bench_numpy_inference() -> float:
    """The forward pass `perform` runs (NumPy, shipped model) over a 1,500-step piece, median seconds."""
    from stylenet.velocity.performer import load_performer

    performer = load_performer()
    piece = (np.random.default_rng(0).random((1500, codec.SCORE_COLUMNS)) < 0.05).astype("float32")
    return median_seconds(lambda: performer.velocities(piece, performer.genres[0]), 5)


def _three_minute_notes(seed: int = 1, sixteenths: int = 1440, n: int = 2000):
    rng = np.random.default_rng(seed)
    onsets = np.sort(rng.integers(0, sixteenths, n)) * 120  # 120 qpm
    return [(int(rng.integers(36, 96)), int(t), int(t + rng.integers(60, 960)), int(rng.integers(30, 110)))
            for t in onsets]


def bench_readings(repeats: int = 5) -> dict:
    """The forward pass before and now, side by side in one process (see the module docstring)."""
    import contextlib

    import stylenet.velocity.performer as performer_module
    from stylenet.velocity.performer import load_performer

    performer = load_performer()
    with tempfile.TemporaryDirectory() as tmp:
        piece = midifile.load_midi(write_piano(Path(tmp) / "p.mid", _three_minute_notes()))
    score, _ = codec.encode(codec.quantise(piece))

    from stylenet.nn import onnx_lstm

    @contextlib.contextmanager
    def numpy_loop():
        os.environ["STYLENET_LSTM"] = "numpy"
        try:
            yield
        finally:
            del os.environ["STYLENET_LSTM"]

    def before():
        saved = (performer_module.READING_STEPS, performer_module.one_blas_thread, performer_module.bidirectional)
        performer_module.READING_STEPS = 1
        performer_module.one_blas_thread = contextlib.nullcontext
        performer_module.bidirectional = lambda f, b, h: np.concatenate([f.run(h), b.run(h, reverse=True)], axis=-1)
        try:
            with numpy_loop():
                return performer.velocities(score, "jazz")
        finally:
            (performer_module.READING_STEPS, performer_module.one_blas_thread,
             performer_module.bidirectional) = saved

    def now():
        with numpy_loop():
            return performer.velocities(score, "jazz")

    variants = [("before", before), ("now", now)]
    if onnx_lstm.available():
        variants.append(("onnx", lambda: performer.velocities(score, "jazz")))
    times, outputs = {name: [] for name, _ in variants}, {}
    for _ in range(repeats):
        for name, fn in variants:
            started = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - started)
    result = {"steps": len(score), "readings": len(performer.reading_transpositions())}
    result |= {name: statistics.median(t) for name, t in times.items()}
    result |= {f"diff_{name}": float(np.abs(outputs["before"] - outputs[name]).max()) for name in times}
    return result


def _stylenet(*args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("stylenet")), *args]
    if not Path(command[0]).exists():
        command = [sys.executable, "-m", "stylenet", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True)


def bench_batch(files: int = 30) -> dict[int, float]:
    """Files a second: `stylenet perform` of a folder of `files` one-minute pieces, with --jobs 1 and 2."""
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "in").mkdir()
        for i in range(files):
            write_piano(Path(tmp) / "in" / f"{i:02d}.mid", _three_minute_notes(seed=i, sixteenths=480, n=700))
        for jobs in (1, 2):
            started = time.perf_counter()
            _stylenet("perform", str(Path(tmp) / "in"), "--genre", "jazz", "-o", str(Path(tmp) / f"out{jobs}"), "-q",
                      "--jobs", str(jobs))
            rates[jobs] = files / (time.perf_counter() - started)
    return rates


def bench_evaluate(pieces: int = 40) -> float:
    """Seconds a piece: `stylenet evaluate` of a folder of `pieces` generated one-minute jazz pieces."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "jazz").mkdir()
        for i in range(pieces):
            write_piano(Path(tmp) / "jazz" / f"{i:02d}.mid", _three_minute_notes(seed=100 + i, sixteenths=480, n=700))
        started = time.perf_counter()
        _stylenet("evaluate", tmp, "--genres", "jazz", "-o", str(Path(tmp) / "report"), "-q")
        return (time.perf_counter() - started) / pieces


def bench_recorded(minutes: float = 10.0) -> dict:
    """Seconds of the beat tracker and of the touch network on a generated recording of `minutes`."""
    from stylenet.recorded.touch import note_deviations, shipped_touch
    from stylenet.recorded.tracker import track

    rng = np.random.default_rng(3)
    beats = np.cumsum(rng.uniform(0.45, 0.6, int(minutes * 60 / 0.52)))
    notes = []
    for i, b in enumerate(beats):  # a bass on the beat, a chord after it, each a little early or late
        tick = int(b * 960)  # 120 qpm at 480 ticks a quarter: 960 ticks a second
        notes.append((36 + i % 12, tick, tick + 300, int(rng.integers(50, 90))))
        for k in range(3):
            t = tick + 240 + int(rng.normal(0, 15))
            notes.append((60 + (i * 5 + k * 4) % 24, t, t + 200, int(rng.integers(40, 80))))
    with tempfile.TemporaryDirectory() as tmp:
        piece = midifile.load_midi(write_piano(Path(tmp) / "take.mid", notes))
    started = time.perf_counter()
    track(piece)
    tracked = time.perf_counter() - started
    net = shipped_touch()
    started = time.perf_counter()
    note_deviations(piece, net)
    return {"notes": piece.n_notes, "tracker": tracked, "touch": time.perf_counter() - started}


def bench_long() -> float:
    """Peak memory (MB) of `perform` of a generated two-hour piece, a fresh process."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        quarters = 2 * 60 * 120  # 57,600 grid steps
        path = write_piano(Path(tmp) / "long.mid", [(48 + i % 24, i * 480, i * 480 + 240, 30 + i % 90)
                                                   for i in range(quarters)])
        code = ("from stylenet.cli.main import main; from tests.midi_fuzz import peak_rss_mb\n"
                f"rc = main(['perform', {str(path)!r}, '--genre', 'jazz', '-q'])\nprint('RSS_MB', peak_rss_mb())")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True,
                              env={**os.environ, "PYTHONPATH": str(root)})
        return float(next(x for x in done.stdout.splitlines() if x.startswith("RSS_MB")).split()[1])


def bench_memory(dataset: str, batches: int = 30) -> tuple[int, float]:
    """Peak resident memory of a paper-config training run over the whole train split (all pieces loaded)."""
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "stylenet", "train", "--config", "configs/stylenet.yaml",
                        "--run-dir", str(Path(tmp) / "run"), "-q", "--set", f"data.dataset={dataset}",
                        "--set", "train.epochs=1", "--set", f"train.max_batches_per_epoch={batches}",
                        "--set", "data.validation_fraction=0.0"],
                       check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return batches, peak_kib / 1e6


def bench_dataset(raw_dir: str, jobs: int | None) -> tuple[int, float]:
    from stylenet.data.build import build_dataset

    with tempfile.TemporaryDirectory() as tmp:
        report = build_dataset(raw_dir, Path(tmp) / "ds", jobs=jobs, progress=False)
    return len(report.kept) + len(report.rejected), report.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", metavar="RAW_DIR", help="also time build-dataset over RAW_DIR")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--steps", type=int, default=30, help="timed training steps (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate ours/peer this many times; medians over rounds (default: %(default)s)")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--memory", metavar="DATASET", help="also measure training's peak memory on DATASET")
    args = parser.parse_args()
    goals = []  # (what, measured, goal, met)
    if not args.skip_training:
        ours, peer = [], []
        for _ in range(args.rounds):
            ours.append(_in_subprocess(args.steps))
            torch_result = bench_torch(args.steps)
            if torch_result:
                peer.append(torch_result)
        ratio = _print_training(ours, peer)
        if ratio is not None:
            goals.append(("training throughput, ours / peer", f"{ratio:.2f}x", ">= 1.00x", ratio >= 1.0))

    from stylenet.nn import onnx_lstm

    compiled = onnx_lstm.available()
    perform = bench_perform()
    looped = bench_perform(runtime="numpy") if compiled else None
    print("perform: `stylenet perform --timings` of a generated 3-minute piece (1,440 steps, 2,000 notes), "
          "fresh process, shipped model, median of 5" + (": LSTMs on ONNX Runtime | on the NumPy loop" if compiled
                                                         else " (NumPy loop: onnxruntime is not installed)"))
    for name, seconds in perform.items():
        other = f"  | {looped[name]:7.3f} s" if looped and name in looped else ""
        print(f"  {'end to end (wall)' if name == 'wall' else name:<24}{seconds:7.3f} s{other}")
    print(f"  (NumPy forward pass alone, 1,500 steps: {bench_numpy_inference():.3f} s)\n")
    goals.append(("perform, 3-minute piece, end to end", f"{perform['wall']:.2f} s", "<= 0.5 s", perform["wall"] <= 0.5))
    readings = bench_readings()
    print(f"readings: the shipped model's forward pass, {readings['readings']} readings of a {readings['steps']}-step "
          f"piece, side by side, medians of 5\n  one at a time, BLAS's threads (before)  {readings['before']:7.3f} s\n"
          f"  batched, BiLSTM halves on two threads   {readings['now']:7.3f} s   ({readings['before'] / readings['now']:.2f}x; "
          f"outputs differ by at most {readings['diff_now']:.1e})" + (
              f"\n  the same on ONNX Runtime's LSTM kernel   {readings['onnx']:7.3f} s   "
              f"({readings['before'] / readings['onnx']:.2f}x; at most {readings['diff_onnx']:.1e})"
              if "onnx" in readings else "") + "\n")
    rates = bench_batch()
    print(f"batch: `stylenet perform` of a folder of 30 one-minute pieces: {rates[1]:.2f} files a second, "
          f"{rates[2]:.2f} with --jobs 2\n")
    per_piece = bench_evaluate()
    print(f"evaluate: a folder of 40 one-minute jazz pieces: {per_piece:.2f} s a piece\n")
    goals.append(("evaluate, seconds a piece", f"{per_piece:.2f} s", "<= 1 s", per_piece <= 1))
    recorded = bench_recorded()
    print(f"recorded: a generated 10-minute recording ({recorded['notes']} notes): beat tracker "
          f"{recorded['tracker']:.2f} s, touch network {recorded['touch']:.2f} s\n")
    rss = bench_long()
    print(f"long: perform of a two-hour piece (57,600 steps), peak memory {rss:.0f} MB\n")
    goals.append(("perform, two-hour piece, peak memory", f"{rss:.0f} MB", "< 1024 MB", rss < 1024))

    rows = bench_codec()
    width = max(len(name) for name, _ in rows)
    print(f"{'codec':<{width}}  median")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds * 1000:9.2f} ms")
    print()
    if args.dataset:
        files, seconds = bench_dataset(args.dataset, args.jobs)
        print(f"build-dataset of {files} files (one run, {os.cpu_count()} cores): {seconds:.1f} s\n")
        goals.append((f"build-dataset, {files} files", f"{seconds:.1f} s", "<= 60 s", seconds <= 60))
    if args.memory:
        batches, gigabytes = bench_memory(args.memory)
        print(f"training peak memory, paper config, full train split ({batches} batches): {gigabytes:.2f} GB\n")
        goals.append(("training peak memory", f"{gigabytes:.2f} GB", "< 4 GB", gigabytes < 4))
    print("goals")
    for what, measured, goal, met in goals:
        print(f"  {what:<38}{measured:>10}  goal {goal:<9} {'met' if met else 'NOT MET'}")


def _in_subprocess(steps: int) -> dict:
    """Each measurement in a fresh process, as the peer's, so neither inherits the other's threads."""
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            f"import bench; print('RESULT', json.dumps(bench.bench_training({steps})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"training benchmark failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def _print_training(ours: list[dict], peer: list[dict]) -> float | None:
    """The side-by-side table; returns the training-throughput ratio (ours / peer), or None without a peer."""
    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    print(f"training, paper-sized model ({ours[0]['params_total']:,} parameters, batch 4 x 200 steps), "
          f"{len(ours)} round(s) alternating ours / peer, medians")
    print(f"{'':<34}{'StyleNet (' + ours[0]['backend'] + ')':>22}{'PyTorch peer':>16}{'ours/peer':>11}")
    rows = [("train time-steps per second", "train_timesteps_per_s", "{:.0f}", False),
            ("train step median (s)", "train_step_median_s", "{:.3f}", True),
            ("inference, 1,500-step piece (s)", "infer_1500_median_s", "{:.3f}", True),
            ("first two steps incl. compile (s)", "first_two_steps_s", "{:.2f}", True)]
    for name, key, fmt, lower_is_better in rows:
        a = med(ours, key)
        line = f"{name:<34}{fmt.format(a):>22}"
        if peer:
            b = med(peer, key)
            ratio = (b / a) if lower_is_better else (a / b)
            line += f"{fmt.format(b):>16}{ratio:>10.2f}x"
        print(line)
    if not peer:
        print("(PyTorch peer not run: `pip install torch==2.13.0` into .venv, and ../shared/bench present)\n")
        return None
    per_round = [o["train_timesteps_per_s"] / p["train_timesteps_per_s"] for o, p in zip(ours, peer)]
    print("training ratio per round: " + ", ".join(f"{r:.2f}x" for r in per_round))
    print("ratio > 1 means StyleNet is faster\n")
    return med(ours, "train_timesteps_per_s") / med(peer, "train_timesteps_per_s")


if __name__ == "__main__":
    main()
