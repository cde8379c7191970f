"""ExpressionNet: a score's notes in, a pianist's five choices for each note out.

The network reads `notes.score_features` (one row per score note, in the score's order, with the genre as
a one-hot) through a dense layer and bidirectional LSTMs over the whole piece -- the shape of the beat
tracker and the touch (`nn.note_network.NoteNetwork`), because a phrase's shape is heard from both ends -- and
writes, per note, the TARGETS of notes.py: velocity, tempo, onset, duration (in their units) and the
probability of pedal and of a pedal change.  Trained by `stylenet train-expression` (train.py); stored as
an .npz of the Keras layers' weights with a JSON header naming its genres.
"""

from __future__ import annotations

import json

import numpy as np

from stylenet.core.errors import FileError
from stylenet.core.fileio import PRETRAINED
from stylenet.expression.notes import (
    FEATURES,
    LEGACY_FEATURES,
    REGRESSED,
    SCALES,
    TARGETS,
    ScoreNotes,
    _running,
    n_features,
    score_features,
)
from stylenet.nn.note_network import NoteNetwork

KIND = "expression"
OFFSETS = np.array([64.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # network output 0 = velocity 64
SHIPPED_EXPRESSION = PRETRAINED / "expression.npz"


class ExpressionError(FileError):
    """An expression network file that cannot be used, with its path and a one-line reason."""


class ExpressionNet(NoteNetwork):
    KIND = KIND
    NAME = "expression network"
    HINT = "; train one with `stylenet train-expression`"
    ERROR = ExpressionError

    def __init__(self, arrays: dict):
        super().__init__(arrays)
        info = json.loads(self.info)
        self.genres = list(info.get("genres", ()))
        if not self.genres:
            raise ValueError("its header names no genres")
        self.header = info
        # the score features it reads, by name (a network from before they were named reads the first 23)
        self.features = tuple(info.get("features", LEGACY_FEATURES))
        unknown = sorted(set(self.features) - set(FEATURES))
        if unknown:
            raise ValueError(f"it reads score features this version does not know: {', '.join(unknown)}")
        if self.dense["input"][0].shape[0] != n_features(self.genres, self.features):
            raise ValueError(f"its input layer reads {self.dense['input'][0].shape[0]} values a note, its header "
                             f"names {n_features(self.genres, self.features)}")
        kernel, _ = self.dense["output"]
        if kernel.shape[1] != len(TARGETS):
            raise ValueError(f"it writes {kernel.shape[1]} values a note, this version reads {len(TARGETS)}")
        self.members = []  # an ensemble's other networks (`join`): same features in, same targets out
        while f"{member_prefix(len(self.members) + 1)}input/kernel" in arrays:
            prefix = member_prefix(len(self.members) + 1)
            member = NoteNetwork({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            for layer in ("input", "output"):
                if member.dense[layer][0].shape != self.dense[layer][0].shape:
                    raise ValueError(f"its member {len(self.members) + 1}'s {layer} layer is "
                                     f"{member.dense[layer][0].shape}, the first's {self.dense[layer][0].shape}")
            self.members.append(member)

    @classmethod
    def load(cls, path=None) -> "ExpressionNet":
        return super().load(path or SHIPPED_EXPRESSION)

    def velocity_weight(self, genre: str, performer) -> float:
        """The share of this network's velocity in what `perform` writes with StyleNet model `performer`
        (train.calibrate); 0 where it was calibrated against other StyleNet weights, or not at all."""
        velocity = self.header.get("velocity", {})
        if genre not in velocity.get("genres", {}) or velocity.get("fingerprint") != performer.fingerprint():
            return 0.0
        return float(velocity["genres"][genre]["weight"])

    def loosening(self, genre: str, performer) -> float:
        """How much of the written velocity's local tie to pitch `perform` takes out (`loosen`; chosen on
        validation by train.calibrate for the blend with `performer`); 0 where not calibrated for it."""
        velocity = self.header.get("velocity", {})
        if velocity.get("fingerprint") != performer.fingerprint():
            return 0.0
        return float(velocity.get("genres", {}).get(genre, {}).get("loosen", 0.0))

    def pedal_threshold(self, genre: str) -> float:
        """The probability above which a chord is pedalled in `genre` (chosen on validation; 0.5 if not)."""
        return float(self.header.get("pedal_threshold", {}).get(genre, 0.5))

    def spread(self, genre: str, performer) -> np.ndarray:
        """[VARIED] gains for velocity, tempo, onset and duration (train.calibrate): how much wider the
        pianists' spread is than the written performance's, chosen on validation; 1 where not calibrated
        (and for velocity where calibrated against other StyleNet weights).  See `widen`."""
        gains = np.ones(VARIED)
        timing = self.header.get("spread", {}).get(genre, {})
        for k, name in enumerate(TARGETS[1:VARIED], start=1):
            gains[k] = float(timing.get(name, 1.0))
        velocity = self.header.get("velocity", {})
        if velocity.get("fingerprint") == performer.fingerprint():
            gains[0] = float(velocity.get("genres", {}).get(genre, {}).get("spread", 1.0))
        return gains

    def chord_spread(self, genre: str) -> float | None:
        """The gain of the onsets' departures inside a chord (train.calibrate; None: as the onsets')."""
        gain = self.header.get("spread", {}).get(genre, {}).get("chord_onset")
        return None if gain is None else float(gain)

    def residuals(self, genre: str) -> dict:
        """{target: (sigma, rho)} of this network's errors on training performances of `genre` ({} if
        not measured): what `variation` draws."""
        return {k: tuple(v) for k, v in self.header.get("residuals", {}).get(genre, {}).items()}

    def raw(self, features: np.ndarray) -> np.ndarray:
        """[N, len(TARGETS)]: the output layer as trained (scaled; pedal and lift as logits); an ensemble's
        is the mean of its networks' (each errs a little differently: the mean is nearer every pianist)."""
        outputs = [network.trunk(features) @ network.dense["output"][0] + network.dense["output"][1]
                   for network in (self, *self.members)]
        return outputs[0] if len(outputs) == 1 else np.mean(outputs, axis=0)

    def __call__(self, score: ScoreNotes, genre: str) -> np.ndarray:
        """[N, len(TARGETS)] float64 for the notes of `score` as `genre` plays them: velocity (MIDI units),
        tempo (log2), onset (s), duration (log2), then the pedal (rescaled so that one half is the genre's
        threshold, `pedal_threshold`) and lift probabilities."""
        if genre not in self.genres:
            raise ExpressionError("expression", f"has no genre {genre!r} (it has: {', '.join(self.genres)})")
        if score.n_notes == 0:
            return np.zeros((0, len(TARGETS)))
        out = to_units(self.raw(score_features(score, genre, self.genres, self.features)))
        # the pedal as a probability centred on the genre's threshold: above one half = pedalled
        threshold = self.pedal_threshold(genre)
        p = out[:, 4]
        out[:, 4] = np.where(p > threshold, 0.5 + 0.5 * (p - threshold) / max(1 - threshold, 1e-9),
                             0.5 * p / max(threshold, 1e-9))
        return out


def member_prefix(k: int) -> str:
    """Where an ensemble's k-th other network's arrays lie in its file (`join`)."""
    return f"member{k}/"


def join(paths, out) -> dict:
    """Expression networks trained apart (other seeds, other settings) as one ensemble at `out`: the first's
    arrays and header, the others' arrays under `member_prefix`; its output is their mean.  They must read the
    same features for the same genres.  The header's calibration is the first's until `train.calibrate`
    runs on the ensemble.  Returns the header."""
    from stylenet.nn.note_network import write_note_arrays

    nets = [ExpressionNet.load(p) for p in paths]
    first = nets[0]
    for path, net in zip(paths[1:], nets[1:]):
        if net.members or first.members:
            raise ExpressionError(path, "an ensemble cannot join another: join their members")
        if net.genres != first.genres or net.features != first.features:
            raise ExpressionError(path, f"cannot join {paths[0]}: its genres or features differ")
    with np.load(paths[0], allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for k, path in enumerate(paths[1:], start=1):
        with np.load(path, allow_pickle=False) as npz:
            arrays.update({member_prefix(k) + name: npz[name] for name in npz.files if name not in ("kind", "info")})
    header = dict(first.header)
    header["members"] = [{"path": str(p), "epoch": n.header.get("epoch"), "settings": n.header.get("settings")}
                         for p, n in zip(paths, nets)]
    header.pop("validation", None)  # the first's alone
    arrays["info"] = np.array(json.dumps(header))
    write_note_arrays(out, arrays)
    return header


VARIED = 4  # velocity, tempo, onset, duration: the targets a performance varies around the expected one


def variation(score: ScoreNotes, residuals: dict, rng, amount: float = 1.0) -> np.ndarray:
    """[N, VARIED]: a pianist's departures from the expected performance, to add to the network's output.

    The network writes the mean of what pianists do, and a mean has tells (too smooth, too tied to pitch,
    every chord alike).  What pianists do beyond it is drawn here as a first-order autoregressive process
    per target, with the spread (sigma) and note-to-note correlation (rho) that the network's errors have
    on training performances (`residuals`, from train.calibrate): in score order for velocity, onset and
    duration; per beat of the score for tempo, so a beat's notes move together.  `amount` scales sigma."""
    out = np.zeros((score.n_notes, VARIED))
    if score.n_notes == 0 or amount <= 0:
        return out

    def ar1(n, sigma, rho):
        z = rng.standard_normal(n)
        x = np.empty(n)
        x[0] = z[0]
        scale = np.sqrt(max(1.0 - rho * rho, 0.0))
        for i in range(1, n):
            x[i] = rho * x[i - 1] + scale * z[i]
        return amount * sigma * x

    for k, name in enumerate(TARGETS[:VARIED]):
        sigma, rho = residuals.get(name, (0.0, 0.0))
        if sigma <= 0:
            continue
        if name == "tempo":
            beats, _ = score.beats()
            i = np.clip(np.searchsorted(beats, score.onset, side="right") - 1, 0, None)
            out[:, k] = ar1(int(i.max()) + 1, sigma, rho)[i]
        else:
            out[:, k] = ar1(score.n_notes, sigma, rho)
    return out


PITCH_WINDOW = 24  # notes each side of a note: a 48-note stretch, a phrase or two, as the realism detector hears


def loosen(velocity: np.ndarray, pitch: np.ndarray, onset: np.ndarray, amount: float) -> np.ndarray:
    """`velocity` with `amount` (0..1) of its local tie to pitch taken out.

    A pianist voices the top of the texture, so loudness rises with pitch -- but loosely: within a phrase,
    the r of a pianist's velocity with pitch is about 0.3 (ASAP validation, concert), while the mean of many
    pianists, which is what a network learns, follows pitch twice as closely, and a listener (and the
    realism detector) hears the difference.  Around each note (PITCH_WINDOW notes each side, in score
    order), the velocity's slope on pitch is fitted, and `amount` of that slope times the note's height
    above the stretch's mean pitch is taken off: the melody is still on top, by less."""
    v = np.asarray(velocity, np.float64)
    if amount <= 0 or len(v) < 3:
        return v.copy()
    order = np.lexsort((pitch, onset))
    vs, ps = v[order], np.asarray(pitch, np.float64)[order]
    vs, ps = vs - vs.mean(), ps - ps.mean()  # centred: the running sums below cancel less
    n = len(vs)
    i = np.arange(n)
    stretch = np.maximum(i - PITCH_WINDOW, 0), np.minimum(i + PITCH_WINDOW + 1, n)

    def local(x):  # the mean of x over each note's stretch
        return _running(x, *stretch, "mean")

    mean_p, mean_v = local(ps), local(vs)
    spread = np.maximum(local(ps * ps) - mean_p * mean_p, 1.0)  # a stretch on one or two keys has no slope to speak of
    slope = (local(vs * ps) - mean_v * mean_p) / spread
    out = np.empty(n)
    out[order] = vs - amount * slope * (ps - mean_p)
    return out + v.mean()


def written_velocity(stylenet: np.ndarray, network: np.ndarray, weight: float, loosening: float, pitch: np.ndarray,
                     onset: np.ndarray) -> np.ndarray:
    """The velocity `perform` writes, before it is widened: `weight` (`ExpressionNet.velocity_weight`) of the
    network's, the rest StyleNet's, with `loosening` of its tie to pitch taken out (`loosen`)."""
    return loosen((1 - weight) * np.asarray(stylenet, np.float64) + weight * np.asarray(network, np.float64),
                  pitch, onset, loosening)


def widen(values: np.ndarray, gains, chords: np.ndarray | None = None, chord_onset: float | None = None) -> np.ndarray:
    """[N, >= VARIED] with each of the first VARIED columns' departures from its mean over the piece times
    its gain.  An expected performance is narrower than any pianist's (a mean of many is smoother than each
    of them: the network's tempo curve swings half as far as a pianist's, its onsets a third): widened to
    the pianists' spread, its shape -- and so its correlation with every pianist -- is unchanged, and a
    detector no longer hears the narrowness (docs/expression.md, "Realism").

    With `chords` (each note's chord, `ScoreNotes.chords`) and `chord_onset`, the onsets'
    departures inside a chord (its spread, a melody note's lead) take their own gain: pianists spread a
    chord wider than the mean of them does, a sequenced file not at all."""
    out = np.array(values, dtype=np.float64, copy=True)
    if len(out):
        for k, gain in enumerate(np.asarray(gains, np.float64)[:VARIED]):
            mean = np.nanmean(out[:, k]) if np.isfinite(out[:, k]).any() else 0.0
            out[:, k] = mean + gain * (out[:, k] - mean)
        if chords is not None and chord_onset is not None and np.isfinite(values[:, 2]).all():
            onset = np.asarray(values[:, 2], np.float64)
            sizes = np.bincount(chords)
            chord = (np.bincount(chords, onset) / sizes)[chords]
            mean, gain = float(onset.mean()), float(np.asarray(gains, np.float64)[2])
            out[:, 2] = mean + gain * (chord - mean) + chord_onset * (onset - chord)
    return out


def to_units(raw: np.ndarray) -> np.ndarray:
    out = np.asarray(raw, np.float64) * SCALES + OFFSETS
    out[:, REGRESSED:] = 1.0 / (1.0 + np.exp(-np.clip(raw[:, REGRESSED:], -30, 30)))
    return out
