"""Train the beat tracker's activation network on ASAP train works and export it for NumPy inference.

    python scripts/train_tracker.py [--asap ../shared/data/asap] [--out stylenet/pretrained/tracker.npz]

Train works are `tracking.asap_split(work) == "train"`, less the validation works (`tracking.asap_validation`),
which choose the best epoch by beat F-measure after decoding.  Test works are never read here.  The network
(a dilated convolutional network, `tracking.Activation`) reads `tracking.frame_features` and predicts beat and
downbeat activations per 20 ms frame; crops are stretched in time (x0.86..1.16 by default), transposed and scaled in
velocity on the fly.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylenet import beats as beats_mod  # noqa: E402
from stylenet import codec, tracking  # noqa: E402

CROP = 1500  # frames (30 s) per training example
CHANNELS = 40
KERNEL = 5
DILATIONS = (1, 2, 4, 8, 16, 32, 64, 128)  # receptive field 1 + 4 * 255 frames: 20 s


def load_asap(root: Path, cache: Path) -> list[dict]:
    """Every ASAP performance's notes, pedal and annotated beats (cached: reading 786 files takes minutes)."""
    if cache.exists():
        with open(cache, "rb") as handle:
            return pickle.load(handle)
    out = []
    for row in tracking.asap_performances(root):
        piece = codec.load_midi(row["midi"])
        annotated = beats_mod.read_annotations(row["annotations"])
        down, up = tracking.pedal_times(piece)
        out.append(dict(row, pitch=piece.pitch, start=piece.start, end=piece.end, velocity=piece.velocity,
                        pedal_down=down, pedal_up=up, beats=annotated.times, downbeat=annotated.downbeat,
                        meters=annotated.meters))
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "wb") as handle:
        pickle.dump(out, handle)
    return out


STRETCH = 0.15  # crops are stretched in time by exp(U(-STRETCH, STRETCH))


def example(perf: dict, rng: np.random.Generator, augment: bool = True, stretch_range: float = STRETCH):
    """One crop: features [CROP, F], targets [CROP, 2] (beat, downbeat; 0.5 beside a beat), mask [CROP],
    beat-length targets [CROP, len(TEMPO_BINS)] (a Gaussian over the bins around the local beat length)."""
    stretch = float(np.exp(rng.uniform(-stretch_range, stretch_range))) if augment else 1.0
    shift = int(rng.integers(-5, 6)) if augment else 0
    gain = float(rng.uniform(0.8, 1.2)) if augment else 1.0
    pitch = np.clip(perf["pitch"] + shift, 21, 108)
    velocity = np.clip(np.rint(perf["velocity"] * gain), 1, 127)
    beat_times = perf["beats"] * stretch
    n = int(np.ceil(perf["end"].max() * stretch * tracking.FPS)) + tracking.FPS
    features = tracking.frame_features(pitch, perf["start"] * stretch, perf["end"] * stretch, velocity, n,
                                       perf["pedal_down"] * stretch, perf["pedal_up"] * stretch)
    targets = np.zeros((n + 2, 2), np.float32)
    for column, times in ((0, beat_times), (1, beat_times[perf["downbeat"]])):
        frames = np.clip(np.rint(times * tracking.FPS).astype(np.int64), 0, n - 1)
        for offset, value in ((-1, 0.5), (1, 0.5), (0, 1.0)):
            targets[np.clip(frames + offset, 0, n + 1), column] = np.maximum(
                targets[np.clip(frames + offset, 0, n + 1), column], value)
    targets = targets[:n]
    ibi = np.diff(beat_times)
    local = np.median(np.stack([np.concatenate([ibi[:1], ibi[:-1]]), ibi, np.concatenate([ibi[1:], ibi[-1:]])]), 0)
    frame_beat = np.clip(np.searchsorted(beat_times, (np.arange(n) + 0.5) / tracking.FPS) - 1, 0, len(ibi) - 1)
    bins = tracking.tempo_bin(local[frame_beat])
    tempo = np.exp(-0.5 * (np.arange(len(tracking.TEMPO_BINS))[None, :] - bins[:, None]) ** 2).astype(np.float32)
    tempo /= tempo.sum(axis=1, keepdims=True)
    mask = np.zeros(n, np.float32)
    lo = max(int((beat_times[0] - 0.3) * tracking.FPS), 0)
    hi = min(int((beat_times[-1] + 0.3) * tracking.FPS), n)
    mask[lo:hi] = 1.0
    start = int(rng.integers(max(lo - CROP // 4, 0), max(hi - CROP // 2, lo - CROP // 4 + 1, 1)))
    sl = slice(start, start + CROP)
    out = [features[sl], targets[sl], mask[sl], tempo[sl]]
    if len(out[0]) < CROP:
        pad = CROP - len(out[0])
        out = [np.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1)) for a in out]
    return out


def build_model(keras, n_features: int, dropout: float):
    x = keras.Input((None, n_features))
    h = keras.layers.Conv1D(CHANNELS, 1, name="input")(x)
    for i, d in enumerate(DILATIONS):
        y = keras.layers.Conv1D(CHANNELS, KERNEL, dilation_rate=d, padding="same", activation="elu",
                                name=f"block{i}_conv")(h)
        y = keras.layers.SpatialDropout1D(dropout)(y)
        y = keras.layers.Conv1D(CHANNELS, 1, name=f"block{i}_mix")(y)
        h = keras.layers.Add()([h, y])
    out = keras.layers.Conv1D(2, 1, activation="sigmoid", name="output")(h)
    tempo = keras.layers.Conv1D(len(tracking.TEMPO_BINS), 1, activation="softmax", name="tempo")(h)
    return keras.Model(x, [out, tempo])


def export(model, mean, std, path: Path, info: dict) -> None:
    arrays = {"mean": mean.astype(np.float32), "std": std.astype(np.float32),
              "dilations": np.array(DILATIONS, np.int64)}
    for layer in model.layers:
        if isinstance(layer.get_weights(), list) and len(layer.get_weights()) == 2:
            kernel, bias = layer.get_weights()
            name = layer.name.replace("_conv", "/conv").replace("_mix", "/mix")
            arrays[f"{name}/kernel"], arrays[f"{name}/bias"] = kernel.astype(np.float32), bias.astype(np.float32)
    arrays["info"] = np.array(json.dumps(info))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def validate(weights: Path, perfs: list[dict]) -> dict:
    import mir_eval

    net = tracking.Activation.load(weights)
    beat_f, down_f = [], []
    for perf in perfs:
        n = int(np.ceil(perf["end"].max() * tracking.FPS)) + tracking.FPS
        features = tracking.frame_features(perf["pitch"], perf["start"], perf["end"], perf["velocity"], n,
                                           perf["pedal_down"], perf["pedal_up"])
        found = tracking.decode(*net(features))
        beat_f.append(mir_eval.beat.f_measure(perf["beats"], found.times))
        down_f.append(mir_eval.beat.f_measure(perf["beats"][perf["downbeat"]], found.times[found.downbeat]))
    return {"beat_f": float(np.mean(beat_f)), "downbeat_f": float(np.mean(down_f))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asap", default=str(ROOT.parent / "shared" / "data" / "asap"))
    parser.add_argument("--cache", default=str(ROOT / "build" / "tracker" / "asap.pkl"))
    parser.add_argument("--out", default=str(ROOT / "stylenet" / "pretrained" / "tracker.npz"))
    parser.add_argument("--work-dir", default=str(ROOT / "build" / "tracker"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--crops", type=int, default=384, help="training crops per epoch")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--stretch", type=float, default=STRETCH)
    parser.add_argument("--tempo-loss", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validate-every", type=int, default=5)
    args = parser.parse_args(argv)

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from stylenet.backend import import_keras

    keras = import_keras()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(args.seed)

    data = load_asap(Path(args.asap), Path(args.cache))
    train = [p for p in data if tracking.asap_split(p["work"]) == "train" and not tracking.asap_validation(p["work"])]
    seen, valid = set(), []
    for perf in data:  # one performance per validation work: a quick, even check
        if tracking.asap_split(perf["work"]) == "train" and tracking.asap_validation(perf["work"]) \
                and perf["work"] not in seen:
            seen.add(perf["work"])
            valid.append(perf)
    print(f"{len(train)} training performances of {len({p['work'] for p in train})} works; "
          f"{len(valid)} validation works", flush=True)

    rng = np.random.default_rng(args.seed)
    weights = np.array([p["end"].max() for p in train])
    weights /= weights.sum()
    sample = np.concatenate([example(train[i], rng, False)[0] for i in rng.choice(len(train), 64, p=weights)])
    mean, std = sample.mean(axis=0), sample.std(axis=0) + 1e-3

    model = build_model(keras, tracking.N_FEATURES, args.dropout)
    model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=1.0),
                  loss=["binary_crossentropy", "categorical_crossentropy"], loss_weights=[1.0, args.tempo_loss])
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    best, history = -1.0, []
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        chosen = rng.choice(len(train), args.crops, p=weights)
        batch = [example(train[i], rng, stretch_range=args.stretch) for i in chosen]
        x = (np.stack([b[0] for b in batch]) - mean) / std
        y = np.stack([b[1] for b in batch])
        m = np.stack([b[2] for b in batch])
        z = np.stack([b[3] for b in batch])
        lr = args.lr * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / args.epochs))
        model.optimizer.learning_rate.assign(lr)
        fit = model.fit(x, [y, z], sample_weight=[m, m], batch_size=args.batch, epochs=1, verbose=0)
        loss = float(fit.history["loss"][-1])
        row = {"epoch": epoch, "loss": loss, "lr": lr, "seconds": time.time() - started}
        if epoch % args.validate_every == 0 or epoch == args.epochs:
            candidate = work / "tracker_candidate.npz"
            info = {"epoch": epoch, "trained_on": "ASAP train works (CC BY-NC-SA 4.0)", "seed": args.seed,
                    "crops_per_epoch": args.crops, "epochs": args.epochs}
            export(model, mean, std, candidate, info)
            row.update(validate(candidate, valid))
            if row["beat_f"] > best:
                best = row["beat_f"]
                info.update(validation=row)
                export(model, mean, std, Path(args.out), info)
                row["saved"] = True
        history.append(row)
        print(json.dumps(row), flush=True)
    (work / "history.json").write_text(json.dumps(history, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
