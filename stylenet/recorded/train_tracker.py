"""Train the beat tracker's note network on ASAP train works and export it for NumPy inference.

    stylenet train-tracker --asap ASAP_DIR [--out build/tracker/tracker.npz]

Train works are `splits.asap_split(work) == "train"`, less the validation works (`splits.asap_validation`),
which choose the best epoch by beat F-measure after decoding.  Test works are never read here.  The network
(`tracker.NoteActivation`: a dense layer, then bidirectional LSTMs over the notes in order of onset) reads
`notes.note_features` and predicts for each note whether a beat and a downbeat fall on it, and the local
beat length; crops of CROP notes are stretched in time, transposed and scaled in velocity on the fly.
With --sequenced DIR, hand-sequenced files (piano-midi.de) join the training set, their beats read from
their tempo maps; the scores (never the performances) of the validation and test works are read to leave
their pieces out.  Every epoch is checkpointed in --work-dir: rerun the same command to resume.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np

from stylenet.core import beats, midifile, notes
from stylenet.core.errors import StyleNetError
from stylenet.data import read, splits
from stylenet.nn import note_network
from stylenet.nn.epochs import crop_epochs
from stylenet.recorded import tracker

CROP = 1000  # notes per training example (about a minute of music)
ON_BEAT_SECONDS = 0.05  # a note is on a beat when its onset is this close to an annotated one


def _write_cache(cache: Path, data) -> None:
    """Pickle `data` to `cache` through a temporary file: an interrupted write leaves no half cache."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    with open(tmp, "wb") as handle:
        pickle.dump(data, handle)
    os.replace(tmp, cache)


def load_asap(root: Path, cache: Path) -> list[dict]:
    """Every ASAP performance's notes, pedal and annotated beats (cached: reading 786 files takes minutes)."""
    if cache.exists():
        with open(cache, "rb") as handle:
            return pickle.load(handle)
    out = []
    for row in read.asap_performances(root):
        piece = midifile.load_midi(row["midi"])
        annotated = beats.read_annotations(row["annotations"])
        down, up = notes.pedal_times(piece)
        out.append(dict(row, pitch=piece.pitch, start=piece.start, end=piece.end, velocity=piece.velocity,
                        pedal_down=down, pedal_up=up, beats=annotated.times, downbeat=annotated.downbeat,
                        meters=annotated.meters))
    _write_cache(cache, out)
    return out


def held_out_patterns(asap_root: Path) -> list[set]:
    """The pitch fingerprints (`data.build.pitch_patterns`) of the score of every ASAP work the tracker must
    not learn from: its validation and test works."""
    from stylenet.data.build import piece_patterns

    scores = {}
    for row in read.asap_performances(asap_root):
        if splits.asap_split(row["work"]) == "test" or splits.asap_validation(row["work"]):
            scores.setdefault(row["folder"], asap_root / row["folder"] / "midi_score.mid")
    out, missing = [], []
    for path in scores.values():
        try:
            out.append(piece_patterns(midifile.load_midi(path)))
        except midifile.MidiReadError:
            missing.append(str(path))
    if missing:  # their other editions cannot be recognised, so cannot be left out
        print(f"warning: {len(missing)} held-out ASAP score(s) unreadable, e.g. {missing[0]}", flush=True)
    return out


def _on_any(times: np.ndarray, marks: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """Which of `times` (sorted) lie within `tolerance` seconds of one of `marks`."""
    if not len(marks):
        return np.zeros(len(times), bool)
    i = np.clip(np.searchsorted(marks, times), 1, len(marks) - 1)
    return np.minimum(np.abs(times - marks[i - 1]), np.abs(times - marks[i])) <= tolerance


def load_sequenced(raw_dir: Path, splits_csv: Path, asap_root: Path, cache: Path) -> list[dict]:
    """Hand-sequenced piano files whose tempo maps follow an expressive reading (piano-midi.de): notes,
    pedal, and the beats and downbeats of the file's own tempo and meter maps, by pretty_midi's
    convention, which is ASAP's (a beat is the meter's denominator note, dotted in 6/8, 9/8, 12/8).
    Left out: the raw test split's pieces, and any piece that is an ASAP validation or test work under
    another name (`data.build.same_work_share` of their scores' fingerprints).  Cached like `load_asap`."""
    from stylenet.data.build import SAME_WORK_SHARE, piece_patterns, same_work_share
    from stylenet.data.splits import read_splits

    # what the kept pieces depend on: a cache built from other folders, splits or rules is built again
    key = {"raw": str(raw_dir.resolve()), "asap": str(asap_root.resolve()), "same_work_share": SAME_WORK_SHARE,
           "splits": [str(splits_csv.resolve()), splits_csv.stat().st_mtime_ns if splits_csv.exists() else None]}
    if cache.exists():
        try:
            with open(cache, "rb") as handle:
                saved = pickle.load(handle)
            if isinstance(saved, dict) and saved.get("key") == key:
                return saved["pieces"]
        except (OSError, pickle.UnpicklingError, EOFError):
            pass  # damaged: built again

    test = {str((splits_csv.parent / p).resolve()) for p, row in read_splits(splits_csv).items()
            if row["split"].strip() != "train"}
    held_out = held_out_patterns(asap_root)
    out, skipped = [], {"test split": 0, "an ASAP held-out work": 0, "unreadable": 0}
    for path in sorted(raw_dir.rglob("*.mid")):
        if str(path.resolve()) in test:
            skipped["test split"] += 1
            continue
        try:
            piece = midifile.load_midi(path)
            if not piece.n_notes:
                raise midifile.MidiReadError(path, "no piano notes")
            patterns = piece_patterns(piece)
        except midifile.MidiReadError:
            skipped["unreadable"] += 1
            continue
        if any(same_work_share(patterns, other) >= SAME_WORK_SHARE for other in held_out):
            skipped["an ASAP held-out work"] += 1
            continue
        last = float(piece.end.max()) + 0.5
        beat_times = np.asarray(piece.pm.get_beats(), np.float64)
        beat_times = beat_times[beat_times <= last]
        downbeats = np.asarray(piece.pm.get_downbeats(), np.float64)
        if len(beat_times) < 8:
            skipped["unreadable"] += 1
            continue
        down, up = notes.pedal_times(piece)
        out.append({"work": f"raw/{path.relative_to(raw_dir)}", "folder": str(path), "composer": path.parent.name,
                    "midi": str(path), "sequenced": True, "pitch": piece.pitch, "start": piece.start,
                    "end": piece.end, "velocity": piece.velocity, "pedal_down": down, "pedal_up": up,
                    "beats": beat_times, "downbeat": _on_any(beat_times, downbeats)})
    print(f"{len(out)} sequenced pieces from {raw_dir}; left out: "
          + ", ".join(f"{n} {why}" for why, n in skipped.items()), flush=True)
    _write_cache(cache, {"key": key, "pieces": out})
    return out


def split_asap(data: list[dict]) -> tuple[list[dict], list[dict]]:
    """(training performances, one performance of each validation work: a quick, even check)."""
    train = [p for p in data if splits.asap_split(p["work"]) == "train" and not splits.asap_validation(p["work"])]
    seen, valid = set(), []
    for perf in data:
        if splits.asap_split(perf["work"]) == "train" and splits.asap_validation(perf["work"]) \
                and perf["work"] not in seen:
            seen.add(perf["work"])
            valid.append(perf)
    return train, valid


def crop_weights(pieces: list[dict], balance: float = 0.0) -> np.ndarray:
    """How likely each piece is to give a training crop: in proportion to its notes, divided by the share
    of all notes whose piece beats at about the same pace (half-octave bands of the median annotated beat
    length) raised to `balance`.  Dense, fast music has the most notes, so at `balance` 0 slow beats are
    rare (ASAP train: pieces beating slower than 1.3 s are 6 % of the performances, 3 % of the notes) and
    the network learns to hear them at a faster level; at 1 every band weighs the same (measured: validation
    beat F 0.711 against 0.752 at 0; slow works gain a little, fast ones lose more: docs/recorded.md)."""
    counts = np.array([len(p["pitch"]) for p in pieces], np.float64)
    pace = np.array([np.median(np.diff(p["beats"])) for p in pieces], np.float64)
    band = np.floor(2 * np.log2(pace / tracker.MIN_BEAT_SECONDS)).astype(np.int64)
    share = {b: counts[band == b].sum() / counts.sum() for b in np.unique(band)}
    weights = counts / np.array([share[b] for b in band]) ** balance
    return weights / weights.sum()


STRETCH = 0.15  # crops are stretched in time by exp(U(-STRETCH, STRETCH))
SEQUENCED_JITTER = 0.015  # s: a sequenced file's onsets are scattered by N(0, this), as a pianist's are


def note_targets(start, beat_times, downbeat_times):
    """Per note: (on a beat, on a downbeat) as 0/1, the local beat length's bin, and whether the note lies
    inside the annotated stretch (mask)."""
    def near(times):
        if not len(times):
            return np.zeros(len(start), np.float32)
        i = np.clip(np.searchsorted(times, start), 1, len(times) - 1)
        gap = np.minimum(np.abs(start - times[i - 1]), np.abs(start - times[i]))
        return (gap < ON_BEAT_SECONDS).astype(np.float32)

    ibi = np.diff(beat_times)
    local = np.median(np.stack([np.concatenate([ibi[:1], ibi[:-1]]), ibi, np.concatenate([ibi[1:], ibi[-1:]])]), 0)
    at = np.clip(np.searchsorted(beat_times, start) - 1, 0, len(ibi) - 1)
    bins = tracker.tempo_bin(local[at])
    tempo = np.exp(-0.5 * (np.arange(len(tracker.TEMPO_BINS))[None, :] - bins[:, None]) ** 2).astype(np.float32)
    tempo /= tempo.sum(axis=1, keepdims=True)
    mask = ((start > beat_times[0] - 0.3) & (start < beat_times[-1] + 0.3)).astype(np.float32)
    return np.stack([near(beat_times), near(downbeat_times)], 1), tempo, mask


def prepared(perf: dict) -> dict:
    """The performance's notes in the network's order."""
    order = notes.note_order(perf["pitch"], perf["start"])
    return dict(perf, pitch=perf["pitch"][order], start=perf["start"][order], end=perf["end"][order],
                velocity=perf["velocity"][order])


def example(perf: dict, rng: np.random.Generator, augment: bool = True, stretch_range: float = STRETCH,
            crop: int = CROP):
    stretch = float(np.exp(rng.uniform(-stretch_range, stretch_range))) if augment else 1.0
    shift = int(rng.integers(-5, 6)) if augment else 0
    gain = float(rng.uniform(0.8, 1.2)) if augment else 1.0
    n = len(perf["pitch"])
    lo = int(rng.integers(0, max(n - crop, 0) + 1))
    sl = slice(lo, lo + crop)
    pitch = np.clip(perf["pitch"][sl] + shift, 21, 108)
    start, end = perf["start"][sl] * stretch, perf["end"][sl] * stretch
    velocity = np.clip(np.rint(perf["velocity"][sl] * gain), 1, 127)
    if perf.get("sequenced") and augment:
        # A sequenced chord strikes every key at once and every onset sits on its tick; a pianist's do
        # not (tens of milliseconds apart): without the scatter a network could learn the file, not the music.
        offset = rng.normal(0.0, SEQUENCED_JITTER, len(start))
        start = np.maximum(start + offset, 0.0)
        end = np.maximum(end + offset, start + 0.01)
        order = notes.note_order(pitch, start)
        pitch, start, end, velocity = pitch[order], start[order], end[order], velocity[order]
    features = notes.note_features(pitch, start, end, velocity, perf["pedal_down"] * stretch,
                                      perf["pedal_up"] * stretch)
    beat_times = perf["beats"] * stretch
    targets, tempo, mask = note_targets(start, beat_times, beat_times[perf["downbeat"]])
    out = [features, targets, mask, tempo]
    if len(features) < crop:
        pad = crop - len(features)
        out = [np.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1)) for a in out]
    return out


def build_model(keras, units: int, layers: int, dropout: float, mask_padding: bool = False):
    from stylenet.nn.fused_lstm import FusedLSTM

    x = keras.Input((None, notes.N_NOTE_FEATURES))
    h = x
    if mask_padding:
        # A crop of a short performance (15 % of the train performances have under 1,000 notes) is padded
        # with all-zero rows, which no real note has; the mask keeps the LSTMs' state through them, so the
        # backward direction starts at the last real note from a zero state, as at inference, instead of
        # after the padding.  It costs the fused CPU LSTM (masks run Keras's own): 2.4x slower a batch.
        h = keras.layers.Masking(0.0, name="padding")(h)
    h = keras.layers.Dense(units, activation="elu", name="input")(h)
    for i in range(layers):
        h = keras.layers.Dropout(dropout)(h)
        h = keras.layers.Bidirectional(FusedLSTM(units, return_sequences=True), name=f"lstm{i}")(h)
    out = keras.layers.Dense(2, activation="sigmoid", name="output")(h)
    tempo = keras.layers.Dense(len(tracker.TEMPO_BINS), activation="softmax", name="tempo")(h)
    return keras.Model(x, [out, tempo])


def export(model, path: Path, info: dict) -> None:
    note_network.save_note_network(model, path, tracker.NoteActivation.KIND, info)


def network_outputs(net, perf: dict):
    """The note network's (beat/downbeat, beat length) outputs for a `prepared` performance."""
    return net(notes.note_features(perf["pitch"], perf["start"], perf["end"], perf["velocity"],
                                      perf["pedal_down"], perf["pedal_up"]))


def validate(weights: Path, perfs: list[dict]) -> dict:
    """Mean beat and downbeat F-measure of the weights (shipped decoder settings) on the performances, and
    the share of notes whose beat-length estimate is within 26 % of the annotated one (the right level)."""
    import mir_eval

    net = tracker.NoteActivation.load(weights)
    beat_f, down_f, tempo_right = [], [], []
    for perf in perfs:
        note_act, tempo_logp = network_outputs(net, perf)
        found = tracker.decode_notes(perf["start"], perf["end"], note_act, tempo_logp)
        beat_f.append(mir_eval.beat.f_measure(perf["beats"], found.times))
        down_f.append(mir_eval.beat.f_measure(perf["beats"][perf["downbeat"]], found.times[found.downbeat]))
        _, tempo, mask = note_targets(perf["start"], perf["beats"], perf["beats"][perf["downbeat"]])
        right = np.abs(tempo_logp.argmax(1) - tempo.argmax(1)) <= 2  # 2 bins: 26 %
        if mask.any():
            tempo_right.append(float(right[mask > 0].mean()))
    return {"beat_f": float(np.mean(beat_f)), "downbeat_f": float(np.mean(down_f)),
            "tempo_right": float(np.mean(tempo_right))}


def tune(weights: Path, perfs: list[dict], floors=(0.005,), tempo_weights=(0.1, 0.15),
         obs_lambdas=(16, 24), piece_tempos=(0.5, 1.0), beat_frames=(1, 2, 3, None)) -> list[dict]:
    """Beat F of every decoder setting in a small grid on the given performances (the network runs once
    per performance): the activation where no note is struck, how much the decoder trusts the network's
    beat length, how likely an off-beat frame sounds (obs_lambda), how many frames of a beat may sound it
    (None: 1/obs_lambda of the beat), how much the piece's beat length counts."""
    import itertools

    import mir_eval

    net = tracker.NoteActivation.load(weights)
    outputs = [network_outputs(net, perf) for perf in perfs]
    rows = []
    for floor, weight, obs, whole, frames in itertools.product(floors, tempo_weights, obs_lambdas, piece_tempos,
                                                               beat_frames):
        beat_f, level = [], []
        for perf, (note_act, note_tempo) in zip(perfs, outputs):
            try:
                found = tracker.decode_notes(perf["start"], perf["end"], note_act, note_tempo, floor, whole,
                                              tempo_weight=weight, obs_lambda=obs, beat_frames=frames)
            except tracker.BeatsError:  # fewer than two beats: nothing matched
                beat_f.append(0.0)
                level.append(False)
                continue
            beat_f.append(mir_eval.beat.f_measure(perf["beats"], found.times))
            level.append(abs(np.log2(found.n_beats / len(perf["beats"]))) < 0.2)
        rows.append({"floor": floor, "tempo_weight": weight, "obs_lambda": obs, "piece_tempo": whole,
                     "beat_frames": frames,
                     "beat_f": float(np.mean(beat_f)), "level_right": float(np.mean(level))})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def run(args, parser) -> int:
    if args.sequenced and not Path(args.sequenced).is_dir():
        parser.error(f"--sequenced {args.sequenced}: no such folder")
    if args.sequenced and not (args.splits and Path(args.splits).is_file()):
        parser.error(f"--splits {args.splits}: no such file (--sequenced leaves the raw test pieces out by it)")
    if args.tune:
        data = load_asap(Path(args.asap), Path(args.cache))
        valid = [prepared(p) for p in data
                 if splits.asap_split(p["work"]) == "train" and splits.asap_validation(p["work"])]
        tune(Path(args.tune), valid)
        return 0

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from stylenet.nn.backend import import_keras

    keras = import_keras()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(args.seed)

    train, valid = split_asap(load_asap(Path(args.asap), Path(args.cache)))
    train = [prepared(p) for p in train]
    valid = [prepared(p) for p in valid]
    print(f"{len(train)} training performances; {len(valid)} validation works", flush=True)
    if args.sequenced:
        try:
            sequenced = load_sequenced(Path(args.sequenced), Path(args.splits), Path(args.asap),
                                       Path(args.cache).with_name("sequenced.pkl"))
        except StyleNetError as exc:  # a splits file without its columns: one line, not a traceback
            raise StyleNetError(str(exc), exit_code=2) from None
        train += [prepared(p) for p in sequenced]
        print(f"+ {len(sequenced)} sequenced pieces from {args.sequenced}", flush=True)

    rng = np.random.default_rng(args.seed)
    weights = crop_weights(train, args.balance)
    model = build_model(keras, args.units, args.layers, args.dropout, args.mask_padding)
    model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=1.0),
                  loss=["binary_crossentropy", "categorical_crossentropy"], loss_weights=[1.0, args.tempo_loss])
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in ("epochs", "crops", "crop", "batch", "units", "layers", "lr", "dropout",
                                              "stretch", "tempo_loss", "seed")}
    if args.mask_padding:  # only then: runs from before the option resume as they were
        settings["mask_padding"] = True
    if args.balance:
        settings["balance"] = args.balance
    if args.sequenced:
        settings["sequenced"] = str(args.sequenced)
    trained_on = "ASAP train works (CC BY-NC-SA 4.0)" + (
        f"; hand-sequenced files of {args.sequenced}" if args.sequenced else "")

    def draw(epoch):
        chosen = rng.choice(len(train), args.crops, p=weights)
        batch = [example(train[i], rng, stretch_range=args.stretch, crop=args.crop) for i in chosen]
        x, y, m, z = (np.stack([b[k] for b in batch]) for k in range(4))
        return x, [y, z], [m, m]

    def info(epoch):
        return {"epoch": epoch, "trained_on": trained_on, "seed": args.seed, "crops_per_epoch": args.crops,
                "crop": args.crop, "epochs": args.epochs, "units": args.units, "layers": args.layers,
                "balance": args.balance}

    def check(epoch):
        candidate = work / "tracker_candidate.npz"
        export(model, candidate, info(epoch))
        scored = validate(candidate, valid)
        return scored["beat_f"], scored

    def keep(epoch, row):
        export(model, Path(args.out), {**info(epoch), "validation": row})

    crop_epochs(model, work, settings, rng, args.epochs, args.lr, args.batch, args.validate_every, draw, check, keep)
    return 0


