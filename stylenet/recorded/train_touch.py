"""Train the touch network (recorded/touch.py) on ASAP's recorded performances, then calibrate how `perform`
adds it to a StyleNet model's prediction.

    stylenet train-touch --asap ASAP_DIR [--model MODEL] [--dataset build/dataset-concert]
        [--out build/touch/touch.npz] [--work-dir build/touch]
    stylenet train-touch --asap ASAP_DIR --calibrate-only [--model M] [--out touch.npz]

Which performances: those of a dataset built with `build-dataset --asap` (its ASAP `train` works), less the
works `--model`'s training run held out for validation (`pieces.asap_entries`): the touch network learns
from exactly the works the velocity model learned from, and is chosen on the works it never saw.  Test works
are never read here.  Each performance is read from its original file (the pianist's timing and pedal);
the target is each note's velocity above the performance's mean.  Crops of --crop notes, Adam with a cosine
schedule; every --validate-every epochs the network is scored on the validation works (mean per-piece r at
the quantised score's notes) and the best kept.  Every epoch is checkpointed: rerun the command to resume.

Calibration (after training, on the same validation works): StyleNet's raw prediction for each genre in
--genres (default: concert) is read once; the weight w of `prediction + w * touch` with the best mean
per-piece r is chosen from WEIGHTS, then the contrast factor of that sum (`shaping.contrast_factor`).  Both
are stored in the touch file's header, with the model they were calibrated against.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np

from stylenet.core import codec, midifile, notes
from stylenet.core.errors import StyleNetError
from stylenet.core.fileio import PRETRAINED
from stylenet.nn import note_network
from stylenet.nn.epochs import crop_epochs
from stylenet.recorded import touch

CROP = 512  # notes per training example (20-40 s of music)
WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)  # of the touch deviation, tried by the calibration


def read_performances(asap: Path, entries: list[dict], steps_per_quarter: int, cache: Path,
                      keep_piece: bool = False) -> list[dict]:
    """Per performance: its notes' touch features and velocities in note order, and with `keep_piece` the
    read file itself (to score at the quantised score's notes, as `perform` writes).  Cached by the files."""
    key = {"files": [e["path"] for e in entries], "asap": str(asap.resolve()), "steps": steps_per_quarter,
           "features": list(touch.FEATURES), "keep_piece": keep_piece}
    if cache.exists():
        with open(cache, "rb") as handle:
            stored = pickle.load(handle)
        if stored["key"] == key:
            return stored["rows"]
    from tqdm import tqdm

    rows = []
    for entry in tqdm(entries, desc=f"reading {cache.stem}", unit="performance"):
        path = asap / entry["path"].removeprefix("asap/")
        piece = midifile.load_midi(path, steps_per_quarter=steps_per_quarter)
        order = notes.note_order(piece.pitch, piece.start)
        features = touch.touch_features(piece.pitch[order], piece.start[order], piece.end[order],
                                        *notes.pedal_times(piece))
        rows.append(dict(path=entry["path"], work=entry["piece"], features=features,
                         velocity=piece.velocity[order].astype(np.float64), piece=piece if keep_piece else None,
                         score=codec.quantise(piece) if keep_piece else None))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    with open(tmp, "wb") as handle:
        pickle.dump({"key": key, "rows": rows}, handle)
    os.replace(tmp, cache)
    return rows


def score_notes(row: dict) -> tuple:
    """(score, human velocities at the score's notes) of a performance read on its own tempo map."""
    return row["score"], row["score"].velocity.astype(np.float64)


def example(row: dict, rng: np.random.Generator, crop: int):
    n = len(row["velocity"])
    lo = int(rng.integers(0, max(n - crop, 0) + 1))
    x = row["features"][lo:lo + crop]
    y = ((row["velocity"][lo:lo + crop] - row["velocity"].mean()) / touch.SCALE).astype(np.float32)[:, None]
    mask = np.ones(len(y), np.float32)
    if len(y) < crop:
        pad = crop - len(y)
        x, y, mask = np.pad(x, ((0, pad), (0, 0))), np.pad(y, ((0, pad), (0, 0))), np.pad(mask, (0, pad))
    return x, y, mask


def build_model(keras, units: int, layers: int, dropout: float):
    from stylenet.nn.fused_lstm import FusedLSTM

    x = keras.Input((None, len(touch.FEATURES)))
    h = keras.layers.Dense(units, activation="elu", name="input")(x)
    for i in range(layers):
        h = keras.layers.Dropout(dropout)(h)
        h = keras.layers.Bidirectional(FusedLSTM(units, return_sequences=True), name=f"lstm{i}")(h)
    return keras.Model(x, keras.layers.Dense(1, name="output")(h))


def export(model, path: Path, info: dict) -> None:
    note_network.save_note_network(model, path, touch.TouchNet.KIND, info)


def deviations(net: touch.TouchNet, rows: list[dict]) -> list[np.ndarray]:
    """The network's deviation at every quantised score note of each performance."""
    return [touch.score_deviations(row["piece"], score_notes(row)[0], net) for row in rows]


def mean_piece_r(predicted: list[np.ndarray], truth: list[np.ndarray]) -> float:
    from scipy.stats import pearsonr

    rs = [pearsonr(p, t)[0] for p, t in zip(predicted, truth) if len(t) > 2 and np.std(p) > 0 and np.std(t) > 0]
    return float(np.mean(rs)) if rs else float("nan")


def validate(weights: Path, rows: list[dict]) -> dict:
    net = touch.TouchNet.load(weights)
    truth = [score_notes(row)[1] for row in rows]
    return {"r_piece": mean_piece_r(deviations(net, rows), truth)}


def calibrate(touch_path: Path, performer, rows: list[dict], genres: list[str]) -> dict:
    """Choose each genre's weight and contrast on the validation performances (see the module docstring)."""
    from stylenet.velocity.shaping import contrast_factor

    net = touch.TouchNet.load(touch_path)
    calibration = {}
    for genre in genres:
        raw, truth, dev = [], [], []
        for row in rows:
            score, human = score_notes(row)
            matrix, _ = codec.encode(score)
            predicted = performer.velocities(matrix, genre, row["piece"].meter_map())
            raw.append(codec.raw_velocities_at(predicted, score.onset, score.pitch - midifile.LOWEST_KEY))
            truth.append(human)
            dev.append(touch.score_deviations(row["piece"], score, net))
        scores = {w: mean_piece_r([p + w * d for p, d in zip(raw, dev)], truth) for w in (0.0,) + WEIGHTS}
        weight = max(WEIGHTS, key=lambda w: scores[w])
        # the sum can spread far wider than a human (w * touch alone about does): let the factor go below 1/4
        contrast = contrast_factor([p + weight * d for p, d in zip(raw, dev)], truth, low=1 / 64)
        calibration[genre] = {"weight": weight, "contrast": contrast, "r_piece": scores[weight],
                              "r_piece_score_only": scores[0.0], "tried": {str(w): round(s, 4) for w, s in scores.items()},
                              "fingerprint": performer.fingerprint()}
        print(f"{genre}: weight {weight} (validation per-piece r {scores[weight]:.3f}; StyleNet alone "
              f"{scores[0.0]:.3f}), contrast {contrast}", flush=True)
    with np.load(touch_path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    info = json.loads(str(arrays["info"]))
    info["calibration"] = calibration
    arrays["info"] = np.array(json.dumps(info))
    note_network.write_note_arrays(touch_path, arrays)
    return calibration


def run(args, parser) -> int:
    for name in ("dataset", "asap"):
        if not Path(getattr(args, name)).is_dir():
            parser.error(f"--{name} {getattr(args, name)}: no such folder")
    if args.model and not Path(args.model).exists():
        parser.error(f"--model {args.model}: no such file or run directory")

    from stylenet.velocity.performer import load_performer
    from stylenet.velocity.pieces import asap_entries

    try:
        performer = load_performer(args.model)
        fit_entries, valid_entries, _ = asap_entries(args.dataset, performer.info["config"])
    except StyleNetError as exc:
        raise StyleNetError(str(exc), exit_code=2) from None
    if not fit_entries or not valid_entries:
        raise StyleNetError(f"{args.dataset} has {len(fit_entries)} ASAP training and {len(valid_entries)} "
                         f"validation performances for {args.model or 'the shipped model'}; it needs both (build-dataset ... --asap DIR)")
    work = Path(args.work_dir)
    steps = performer.steps_per_quarter
    valid = read_performances(Path(args.asap), valid_entries, steps, work / "validation.pkl", keep_piece=True)
    if args.calibrate_only:
        if not Path(args.out).is_file():
            raise StyleNetError(f"--out {args.out}: no touch network to calibrate", exit_code=2)
        calibrate(Path(args.out), performer, valid, args.genres)
        return 0
    train = read_performances(Path(args.asap), fit_entries, steps, work / "train.pkl")
    print(f"{len(train)} training performances, {len(valid)} validation performances "
          f"({len({r['work'] for r in valid})} works)", flush=True)

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from stylenet.nn.backend import import_keras

    keras = import_keras()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    weights = np.array([len(r["velocity"]) for r in train], np.float64)
    weights /= weights.sum()
    model = build_model(keras, args.units, args.layers, args.dropout)
    model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=1.0), loss="mse")
    settings = {k: getattr(args, k) for k in ("epochs", "crops", "crop", "batch", "units", "layers", "lr", "dropout", "seed",
                                              "validate_every")}
    settings["model"] = str(args.model or PRETRAINED / "stylenet.npz")
    settings["works"] = hashlib.sha256(json.dumps([sorted(r["path"] for r in train), sorted(r["path"] for r in valid)])
                                       .encode()).hexdigest()[:16]  # a resumed run learns from the same works

    def draw(epoch):
        batch = [example(train[i], rng, args.crop) for i in rng.choice(len(train), args.crops, p=weights)]
        x, y, mask = (np.stack([b[k] for b in batch]) for k in range(3))
        return x, y, mask

    info = {"trained_on": "ASAP recorded performances, the velocity model's training works (CC BY-NC-SA 4.0)",
            "features": list(touch.FEATURES), "scale": touch.SCALE, "settings": settings,
            "training_performances": len(train)}

    def check(epoch):
        candidate = work / "touch_candidate.npz"
        export(model, candidate, {"epoch": epoch, **info})
        scored = validate(candidate, valid)
        return scored["r_piece"], scored

    def keep(epoch, row):
        export(model, Path(args.out), {"epoch": epoch, **info, "validation": {"r_piece": row["r_piece"],
                                                                              "performances": len(valid)}})

    _, best = crop_epochs(model, work, settings, rng, args.epochs, args.lr, args.batch, args.validate_every, draw,
                          check, keep)
    if not Path(args.out).is_file():
        raise StyleNetError(f"no validation check scored (r_piece {best}); nothing written to {args.out}")
    calibrate(Path(args.out), performer, valid, args.genres)
    return 0


