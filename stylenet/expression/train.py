"""`stylenet train-expression`: the expression network, from `build-expression`'s aligned pairs.

Every epoch draws --crops crops of --crop score notes: a genre first (each equally often: ASAP's long
concert performances would otherwise drown the jazz), then a performance of it (by its number of notes).
The loss is the masked squared error of the four regressed targets (in SCALES units) plus the masked
cross-entropy of pedal and lift, each target weighted by LOSS_WEIGHTS.  Adam with a cosine schedule and
gradient clipping.  Every --validate-every epochs the network is scored on the validation pieces
(`metrics.compare`: per-piece r of velocity, tempo, onset and duration, averaged over the genres that have
the target) and the best kept in --out.  Every epoch is checkpointed in --work-dir: rerun the command to
resume.  The test split is never read here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from stylenet.core.errors import StyleNetError
from stylenet.expression.network import written_velocity
from stylenet.expression.notes import FEATURES, REGRESSED, SCALES, TARGETS, n_features, score_features, targets

CROP = 512
LOSS_WEIGHTS = np.array([1.0, 2.0, 0.5, 0.5, 0.3, 0.2])  # tempo counts twice: a curve from noisy beats
SELECTION = ("velocity_r", "tempo_r", "onset_r", "duration_r")  # averaged into the validation score


def prepare(rows, genres: list[str], consensus: bool = False) -> list[dict]:
    """Per performance: its features (genre one-hot included) and scaled targets with their masks; with
    `consensus`, the velocity and tempo targets of a work played more than once are its pianists' mean."""
    from stylenet.expression.network import OFFSETS

    out = []
    for row in rows:
        if row.genre not in genres or row.score.n_notes < 8:
            continue
        values, masks = targets(row.score, row.performed)
        scaled = (values - OFFSETS) / SCALES
        out.append({"genre": row.genre, "work": row.work, "x": score_features(row.score, row.genre, genres),
                    "y": np.concatenate([scaled, masks], axis=1).astype(np.float32)})
    if consensus:
        typical(out)
    return out


CONSENSUS = (TARGETS.index("velocity"), TARGETS.index("tempo"))


def typical(items: list[dict]) -> None:
    """Give every performance of a work played more than once its pianists' mean velocity and tempo on
    each note (over those who played it), in place.  What a model of the typical pianist can learn from a
    score is that mean; each pianist's own departures from it are, to the score, noise.  Onsets, lengths
    and pedal stay each pianist's own: averaged, a chord spread one way by one pianist and another way by
    the next would be learned as struck at once."""
    by_work: dict[tuple, list[dict]] = {}
    for item in items:
        by_work.setdefault((item["genre"], item["work"]), []).append(item)
    k = len(TARGETS)
    for members in by_work.values():
        if len(members) < 2 or len({len(m["y"]) for m in members}) != 1:
            continue
        y = np.stack([m["y"] for m in members])
        for t in CONSENSUS:
            mask = y[:, :, k + t]
            count = mask.sum(axis=0)
            mean = (y[:, :, t] * mask).sum(axis=0) / np.maximum(count, 1.0)
            for m in members:
                m["y"][:, t] = np.where(count > 0, mean, 0.0)
                m["y"][:, k + t] = count > 0


KEY = FEATURES.index("key")


def example(item: dict, rng, crop: int, transpose: int = 0):
    """A crop of `crop` notes of one performance (zero-padded, masked), moved up or down by up to `transpose`
    semitones: a piece is played the same a tone higher, so a network should not learn it by its keys."""
    n = len(item["x"])
    lo = int(rng.integers(0, max(n - crop, 0) + 1))
    x, y = item["x"][lo:lo + crop], item["y"][lo:lo + crop]
    if transpose:
        x = x.copy()
        x[:, KEY] = np.clip(x[:, KEY] + rng.integers(-transpose, transpose + 1) / 87.0, 0.0, 1.0)
    if len(x) < crop:
        x, y = np.pad(x, ((0, crop - len(x)), (0, 0))), np.pad(y, ((0, crop - len(y)), (0, 0)))
    return x, y


def build_model(keras, n_in: int, units: int, layers: int, dropout: float):
    from stylenet.nn.fused_lstm import FusedLSTM

    x = keras.Input((None, n_in))
    h = keras.layers.Dense(units, activation="elu", name="input")(x)
    for i in range(layers):
        h = keras.layers.Dropout(dropout)(h)
        h = keras.layers.Bidirectional(FusedLSTM(units, return_sequences=True), name=f"lstm{i}")(h)
    return keras.Model(x, keras.layers.Dense(len(TARGETS), name="output")(h))


def make_loss(keras):
    ops = keras.ops
    weights = LOSS_WEIGHTS.astype("float32")
    k = len(TARGETS)

    def loss(y_true, y_pred):
        value, mask = y_true[..., :k], y_true[..., k:]
        squared = ops.square(y_pred - value)
        logits = y_pred
        entropy = ops.maximum(logits, 0) - logits * value + ops.log1p(ops.exp(-ops.abs(logits)))
        per = ops.concatenate([squared[..., :REGRESSED], entropy[..., REGRESSED:]], axis=-1)
        total = ops.sum(per * mask, axis=(0, 1)) / ops.maximum(ops.sum(mask, axis=(0, 1)), 1.0)
        return ops.sum(total * weights)

    return loss


def validate(net_path: Path, rows) -> dict:
    """Mean per-piece measures on the validation rows, per genre, and the selection score."""
    from stylenet.expression.metrics import compare, mean_table
    from stylenet.expression.network import ExpressionNet

    net = ExpressionNet.load(net_path)
    cache, per_genre = {}, {}
    for row in rows:
        if row.genre not in net.genres:
            continue
        key = (row.genre, row.work)
        if key not in cache:  # the performances of one work share their score
            cache[key] = net(row.score, row.genre)
        per_genre.setdefault(row.genre, []).append(compare(row.score, row.performed, cache[key]))
    tables = {g: mean_table(r) for g, r in per_genre.items()}
    picks = [tables[g][m] for g in tables for m in SELECTION if np.isfinite(tables[g][m]) and tables[g][m] != 0.0]
    return {"score": float(np.mean(picks)) if picks else float("-inf"), "genres": tables}


PEDAL_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)  # tried per genre on validation
BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the expression network's share of the written velocity, tried per genre
LOOSENINGS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)  # how much of its tie to pitch is taken out (network.loosen), tried
LOOSEN_TOLERANCE = 0.005  # of velocity r: the most loosening whose r is this near the best (seed noise is ~0.01)


def calibrate(net_path: Path, rows, performer, train_rows=None) -> dict:
    """Per genre, the share w of the expression network's velocity in what `perform` writes
    ((1 - w) * StyleNet's shaped velocity + w * the network's), chosen on `rows` (validation) by the mean
    per-piece r; stored in the network's header with the StyleNet weights' fingerprint (another StyleNet
    model: the network's timing, articulation and pedal only)."""
    from stylenet.expression.evaluate import stylenet_velocities
    from stylenet.expression.network import ExpressionNet
    from stylenet.nn.note_network import write_note_arrays

    net = ExpressionNet.load(net_path)
    net.header.pop("pedal_threshold", None)  # the raw probabilities: the threshold is chosen anew here
    cache, by_genre = {}, {}  # by_genre: the rows calibrated on, in the order their genres first come
    for row in rows:
        if row.genre not in net.genres or row.genre not in performer.genres:
            continue
        key = (row.genre, row.work)
        if key not in cache:
            cache[key] = (net(row.score, row.genre), stylenet_velocities(performer, row.score, row.genre))
        by_genre.setdefault(row.genre, []).append(row)
    thresholds = {}
    for genre in net.genres:  # the pedal: the probability above which a chord is pedalled
        agreement = {t: [] for t in PEDAL_THRESHOLDS}
        for row in by_genre.get(genre, []):
            truth, mask = targets(row.score, row.performed)
            ok = mask[:, 4] > 0
            if ok.any():
                for t in PEDAL_THRESHOLDS:
                    agreement[t].append(float(np.mean((cache[(genre, row.work)][0][ok, 4] > t) == (truth[ok, 4] > 0.5))))
        if agreement[0.5]:
            best = max(PEDAL_THRESHOLDS, key=lambda t: (np.mean(agreement[t]), t == 0.5))
            thresholds[genre] = best
            print(f"{genre}: pedal above {best} (validation agreement {np.mean(agreement[best]):.3f}; at 0.5 "
                  f"{np.mean(agreement[0.5]):.3f})", flush=True)
    weights = {}
    for genre, members in by_genre.items():
        means = {w: _velocity_r(members, cache, w, 0.0) for w in BLENDS}
        best = max(BLENDS, key=lambda w: means[w])
        weights[genre] = {"weight": best, "r_piece": means[best], "tried": {str(w): round(r, 4) for w, r in means.items()}}
        print(f"{genre}: velocity {100 * best:.0f} % from the expression network (validation per-piece r "
              f"{means[best]:.3f}; StyleNet alone {means[0.0]:.3f}, the network alone {means[1.0]:.3f})", flush=True)
        r_of = {a: _velocity_r(members, cache, best, a) for a in LOOSENINGS}
        # r barely moves as the tie to pitch loosens, while a listener hears it less and less: the most
        # loosening whose r is within LOOSEN_TOLERANCE of the best tried
        chosen = max(a for a in LOOSENINGS if r_of[a] >= max(r_of.values()) - LOOSEN_TOLERANCE)
        weights[genre].update(loosen=chosen, loosen_tried={str(a): round(r, 4) for a, r in r_of.items()})
        print(f"{genre}: {100 * chosen:.0f} % of its tie to pitch taken out (validation per-piece r {r_of[chosen]:.3f}; "
              f"best tried {max(r_of.values()):.3f})", flush=True)
    spread = spread_gains(rows, cache, weights)
    for genre, gains in spread.items():
        if genre in weights:
            weights[genre]["spread"] = gains.pop("velocity")
        print(f"{genre}: the pianists' spread is {', '.join(f'{v:.2f}x' for v in gains.values())} the written "
              f"{', '.join(gains)} (velocity {weights.get(genre, {}).get('spread', 1.0):.2f}x)", flush=True)
    with np.load(net_path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    info = json.loads(str(arrays["info"]))
    info["velocity"] = {"fingerprint": performer.fingerprint(), "genres": weights}
    info["pedal_threshold"] = thresholds
    info["spread"] = spread
    if train_rows is not None:
        info["residuals"] = residual_statistics(net, train_rows)
    arrays["info"] = np.array(json.dumps(info))
    write_note_arrays(net_path, arrays)
    return weights


def _velocity_r(rows, cache: dict, weight: float, loosening: float) -> float:
    """The mean per-piece velocity r over `rows` of the written velocity: `weight` of the network's, the
    rest StyleNet's, `loosening` of its tie to pitch taken out (`written_velocity`)."""
    from stylenet.expression.metrics import compare

    found = []
    for row in rows:
        ours, theirs = cache[(row.genre, row.work)]
        written = ours.copy()
        written[:, 0] = written_velocity(theirs[:, 0], ours[:, 0], weight, loosening, row.score.pitch, row.score.onset)
        found.append(compare(row.score, row.performed, written)["velocity_r"])
    return float(np.nanmean(found))


MAX_SPREAD = 4.0


def spread_gains(rows, cache: dict, weights: dict) -> dict:
    """{genre: {velocity, tempo, onset, duration, chord_onset: gain}}: per target, the median over `rows`
    (validation performances) of the pianist's spread over the written performance's (the chosen velocity
    blend), on the notes the pianist played -- what `network.widen` multiplies the written departures by;
    chord_onset: the same of the onsets' median departure inside a chord.  A genre played to a click has no
    tempo spread: its tempo gain is 0 (the written tempo held steady); a sequenced one strikes its chords at
    once: 0."""
    ratios: dict[str, dict[str, list]] = {}
    for row in rows:
        key = (row.genre, row.work)
        if key not in cache or row.genre not in weights:
            continue
        ours, theirs = cache[key]
        written = ours.copy()
        chosen = weights[row.genre]
        written[:, 0] = written_velocity(theirs[:, 0], ours[:, 0], chosen["weight"], chosen.get("loosen", 0.0),
                                         row.score.pitch, row.score.onset)
        truth, mask = targets(row.score, row.performed)
        for k, name in enumerate(TARGETS[:REGRESSED]):
            ok = mask[:, k] > 0
            if ok.sum() > 20 and np.std(written[ok, k]) > 1e-6:
                ratios.setdefault(row.genre, {}).setdefault(name, []).append(
                    float(np.std(truth[ok, k]) / np.std(written[ok, k])))
        # inside chords the median departure: a sequenced file's chords are struck at once but for an
        # arpeggio now and then, and a spread that matches the arpeggios would spread every chord
        pianist, inside = _inside_chords(row.score.chords()[1], truth[:, 2], written[:, 2], mask[:, 2] > 0)
        if len(pianist) > 20 and np.median(np.abs(inside)) > 1e-6:
            ratios.setdefault(row.genre, {}).setdefault("chord_onset", []).append(
                float(np.median(np.abs(pianist)) / np.median(np.abs(inside))))
    return {genre: {name: round(float(np.clip(np.median(by[name]), 0.0, MAX_SPREAD)), 3) if by.get(name) else 1.0
                    for name in (*TARGETS[:REGRESSED], "chord_onset")} for genre, by in ratios.items()}


def _inside_chords(chords: np.ndarray, pianist: np.ndarray, ours: np.ndarray, ok: np.ndarray):
    """(the pianist's, ours): each onset less its chord's mean, on the notes the pianist played of chords
    of which he played two or more -- a chord's spread and a melody note's lead."""
    sizes = np.bincount(chords[ok], minlength=int(chords.max()) + 1 if len(chords) else 0)
    inside = ok & (sizes[chords] > 1)

    def departures(onset):
        means = np.bincount(chords[ok], onset[ok], minlength=len(sizes)) / np.maximum(sizes, 1)
        return (onset - means[chords])[inside]

    return departures(np.asarray(pianist, np.float64)), departures(np.asarray(ours, np.float64))


def residual_statistics(net, rows, per_genre: int = 40, seed: int = 0) -> dict:
    """{genre: {target: (sigma, rho)}} of the network's errors on (a seeded sample of) `rows`: the spread
    and the lag-one correlation of truth - prediction, per note in score order (tempo: per beat)."""
    from stylenet.expression.metrics import beat_curve
    from stylenet.expression.notes import beat_tempo

    rng = np.random.default_rng(seed)
    out = {}
    for genre in net.genres:
        members = [r for r in rows if r.genre == genre]
        picked = [members[i] for i in rng.permutation(len(members))[:per_genre]]
        pairs = {name: [] for name in TARGETS[:REGRESSED]}
        for row in picked:
            predicted = net(row.score, genre)
            truth, mask = targets(row.score, row.performed)
            for k, name in enumerate(TARGETS[:REGRESSED]):
                if name == "tempo":
                    bq = row.performed.beat_quarters
                    if len(bq) < 4:
                        continue
                    error = beat_tempo(row.score, bq, row.performed.beat_seconds) - beat_curve(row.score, predicted[:, 1], bq)
                    error = error[np.abs(error) < 1.0]
                else:
                    error = (truth[:, k] - predicted[:, k])[mask[:, k] > 0]
                if len(error) > 2:
                    pairs[name].append(error - error.mean())
        stats = {}
        for name, errors in pairs.items():
            if not errors:
                continue
            joined = np.concatenate(errors)
            lagged = np.concatenate([np.stack([e[:-1], e[1:]]) for e in errors], axis=1)
            rho = float(np.corrcoef(lagged)[0, 1]) if np.std(joined) > 1e-9 else 0.0
            stats[name] = (round(float(np.std(joined)), 5), round(float(np.clip(rho, 0.0, 0.99)), 4))
        out[genre] = stats
    return out


def main(args) -> int:
    from stylenet.velocity.performer import load_performer

    if getattr(args, "ensemble", None):
        from stylenet.expression.network import join

        if len(args.ensemble) < 2:
            raise StyleNetError("--ensemble joins two networks or more", exit_code=2)
        if any(Path(p).resolve() == Path(args.out).resolve() for p in args.ensemble):
            raise StyleNetError(f"--out {args.out} is one of the --ensemble networks: write the ensemble elsewhere",
                                exit_code=2)
        join(args.ensemble, args.out)
    elif getattr(args, "calibrate_only", False):
        if not Path(args.out).is_file():
            raise StyleNetError(f"--out {args.out}: no expression network to calibrate", exit_code=2)
    else:
        _train(args)
    if Path(args.out).is_file():
        from stylenet.expression.data import load_rows

        calibrate(Path(args.out), load_rows(args.data, "validation"), load_performer(args.stylenet),
                  load_rows(args.data, "train"))
    return 0


def _train(args) -> None:
    from stylenet.expression.data import load_rows
    from stylenet.expression.network import KIND
    from stylenet.nn.epochs import crop_epochs
    from stylenet.nn.note_network import save_note_network

    data = Path(args.data)
    train_rows, valid_rows = load_rows(data, "train"), load_rows(data, "validation")
    genres = args.genres or sorted({r.genre for r in train_rows})
    train = prepare(train_rows, genres, args.consensus)
    if not train:
        raise StyleNetError(f"{data}: no training performances of {', '.join(genres)}", exit_code=2)
    by_genre = {g: [i for i, t in enumerate(train) if t["genre"] == g] for g in genres}
    by_genre = {g: v for g, v in by_genre.items() if v}
    print(f"{len(train)} training performances ({', '.join(f'{g} {len(v)}' for g, v in by_genre.items())}), "
          f"{len(valid_rows)} validation", flush=True)

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from stylenet.nn.backend import import_keras

    keras = import_keras()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already started in this process (a test, a notebook): keep its threads
            pass
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build_model(keras, n_features(genres), args.units, args.layers, args.dropout)
    model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=1.0), loss=make_loss(keras))
    settings = {k: getattr(args, k) for k in ("epochs", "crops", "crop", "batch", "units", "layers", "lr", "dropout",
                                              "seed", "validate_every", "transpose", "balance")}
    if args.consensus:  # named only when asked for: a run checkpointed before the option resumes as it was
        settings["consensus"] = True
    settings["genres"] = genres
    settings["data"] = hashlib.sha256(json.dumps(sorted(t["work"] + t["genre"] for t in train)).encode()).hexdigest()[:16]
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    # within a genre: a performance by its length, or (--balance work) a work by its length and then one of
    # its performances, so that a work played twenty times is not learned twenty times as well as the others
    groups = {g: _groups([train[i] for i in v], args.balance) for g, v in by_genre.items()}
    names = list(by_genre)

    def draw(epoch):  # each genre as often
        picks = []
        for g in rng.choice(len(names), args.crops):
            members, (sets, weights) = by_genre[names[g]], groups[names[g]]
            chosen = sets[rng.choice(len(sets), p=weights)]
            picks.append(members[chosen[0] if len(chosen) == 1 else chosen[rng.integers(len(chosen))]])
        batch = [example(train[i], rng, args.crop, args.transpose) for i in picks]
        return np.stack([b[0] for b in batch]), np.stack([b[1] for b in batch]), None

    def info(epoch):
        return {"epoch": epoch, "genres": genres, "targets": list(TARGETS), "features": list(FEATURES),
                "settings": settings,
                "trained_on": "ASAP recorded performances aligned to their scores (CC BY-NC-SA 4.0); "
                              "piano-midi.de, Doug McKenzie's jazz and POP909 against their own grid"}

    def check(epoch):
        candidate = work / "candidate.npz"
        save_note_network(model, candidate, KIND, info(epoch))
        scored = validate(candidate, valid_rows)
        return scored["score"], {"validation": scored}

    def keep(epoch, row):
        save_note_network(model, Path(args.out), KIND, {**info(epoch), "validation": row["validation"]})

    crop_epochs(model, work, settings, rng, args.epochs, args.lr, args.batch, args.validate_every, draw, check, keep)


def _groups(items: list[dict], balance: str) -> tuple[list[list[int]], np.ndarray]:
    """(index sets to draw from, their probabilities): each performance alone, weighted by its length; or
    with `balance` "work", each work's performances together, weighted by the work's mean length."""
    if balance == "work":
        by_work: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            by_work.setdefault(item["work"], []).append(i)
        sets = list(by_work.values())
        weights = np.array([np.mean([len(items[i]["x"]) for i in s]) for s in sets], np.float64)
    else:
        sets = [[i] for i in range(len(items))]
        weights = np.array([len(item["x"]) for item in items], np.float64)
    return sets, weights / weights.sum()
