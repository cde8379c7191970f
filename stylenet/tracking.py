"""Beat tracking for recorded performances: beats, downbeats and meter from the notes alone.

    track(piece)       -> Beats   beats, downbeats and meter of a `codec.MidiPiece` (feeds `beats.conform`)
    grid_share(piece)  -> float   the share of onsets on the file's own 1/32-and-triplet tick grid:
                                  near 1 for a sequenced file, near chance for a recording
    beat_coherence(piece) -> float  whether onsets gather on the file's quarter notes at all (a file
                                  played to a click does; a recording's do not)
    asap_split(work)   -> "train" | "test"   the project's seeded split of ASAP by work

Method.  A note network (`pretrained/tracker.npz`, trained on ASAP train works by scripts/train_tracker.py)
reads the notes in order of onset -- each note's key, loudness, length, the gaps to the notes and chords
around it, whether it is its chord's bass or top note, the sustain pedal, its pitch class -- through a dense
layer and two bidirectional LSTMs, so every note hears the whole piece before and after it.  It gives per
note the probability that a beat and a downbeat fall on it and a distribution over the local beat length.
It runs here in NumPy (no TensorFlow at inference).  On a 50 frames-a-second grid, a Viterbi decoder over
(beat length, frames since the beat) states -- the bar-pointer model of Krebs, Böck & Widmer (ISMIR 2015)
as madmom's DBN beat tracker uses it, reduced to one beat -- finds the most likely beats: the beat may
change length only on a beat, and a little at a time (rubato and tempo changes are followed beat by beat),
weighed by the network's beat-length estimate for the whole piece (the mean of its notes': one level of
beat for the piece; PIECE_TEMPO mixes in each note's own).  A second Viterbi over the beats, with bars of 2, 3 or 4
beats, places the downbeats; whether the onsets between beats fall on thirds or on halves of the beat
tells a compound meter (6/8, 9/8, 12/8) from a simple one.

Why this and not a library.  librosa's beat tracker (Ellis' dynamic programming, meant for audio) holds
one tempo for the whole piece, and it would bring numba, llvmlite and scikit-learn; classical performances
change tempo every few beats, which the bar-pointer decoder (60 lines of NumPy here) follows.  madmom, the
bar-pointer model's reference implementation, has had no release since 0.16.1 (2018), which does not import
on Python 3.10 or later (CPJKU/madmom#502).  Notes rather than frames (the first tracker, a dilated
CNN over 20 ms frames with a 20 s view, is measured beside it in the README): a piece of ten minutes is a few thousand notes,
so a recurrent network can read all of it, and the level of the beat (the notated quarter, not its half or
double) is a property of the whole piece.  The decoder's settings were chosen on the validation works.

What cannot be told apart.  Beats per bar come from the spacing of downbeats, so the numerator is the
number of *beats* in a bar: 2/4 and 2/2 (and 6/8 without triplet motion) look alike, as do 3/4 and 3/8, and
the denominator written is 4 (8 for compound meters), never read from the music.  The beat *level* is the
largest error: a pianist's beat in a fast 3/4 can be the bar, in an Adagio the eighth note; the notated beat
(what ASAP annotates) is a convention the notes only hint at.  57 % of the test and 55 % of the
validation performances come out with as many beats as annotated (within 15 %); the rest are tracked
at another level (twice or half as many beats, or a mix of levels, most in compound meters).
Hypermeter (two bars felt as one) can turn 6/8 into 12/8 or 2/4 into 4/4.  A bar may change length
(METER_CHANGE, to absorb a missed or an extra beat), so a tracked meter map changes more often than the
score's.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from stylenet.beats import Beats, BeatsError, check_beats
from stylenet.codec import MidiPiece, MidiReadError

FPS = 50  # frames per second of the activation and the decoder (20 ms: well inside mir_eval's 70 ms window)

# --------------------------------------------------------------------------------------------------
# ASAP: which works are for training, which for testing


def asap_work(folder_or_title) -> str:
    """The ASAP work a folder, a file inside it, or a `metadata.csv` title belongs to, as its title
    (`dataset.asap_work`): a work's folder variants (`17-1` and `17-1_no_repeat`, the same music with or
    without a repeat) are one work, 'Beethoven/Piano_Sonatas/17-1_no_repeat/Lee01M.mid' ->
    'Piano_Sonatas_17-1'.  An absolute path is read relative to the ASAP root above it (the folder holding
    metadata.csv)."""
    from stylenet.dataset import asap_work as folder_work  # here, not at the top: the dataset builder may import us

    text = str(folder_or_title).replace("\\", "/").strip("/")
    if "/" not in text:
        return folder_work(text)
    path = Path(str(folder_or_title))
    if path.is_absolute():
        for parent in path.parents:
            if (parent / "metadata.csv").is_file():
                path = path.relative_to(parent)
                break
    parts = list(path.parts)
    if len(parts) > 1 and Path(parts[-1]).suffix.lower() in (".mid", ".midi", ".txt"):
        parts = parts[:-1]
    return folder_work("/".join(parts))


def asap_split(folder_or_title, seed: int = 0, test_share: float = 0.1) -> str:
    """"train" or "test" for an ASAP work: `dataset.work_split` of its title (`asap_work`), a hash of
    (seed, work), so every performance of a work, and every folder variant of it, lands on the same side,
    on any machine, for the tracker and the dataset builder alike.  About `test_share` of the works are
    "test"; another `seed` draws another split."""
    from stylenet.dataset import work_split

    return work_split(asap_work(folder_or_title), int(seed), test_share)


def asap_validation(folder_or_title, seed: int = 0, share: float = 0.15) -> bool:
    """Whether a *train* work is held out to tune on (an independent draw from `asap_split`'s)."""
    return asap_split(folder_or_title, seed=seed + 1000, test_share=share) == "test"


def asap_performances(root) -> list[dict]:
    """One dict per performance in an ASAP folder's metadata.csv, with absolute `midi` and `annotations`
    paths, its `work` (title), `folder` and `composer`."""
    root = Path(root)
    out = []
    with open(root / "metadata.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out.append({"composer": row["composer"], "work": asap_work(row["folder"]), "folder": row["folder"],
                        "midi": str(root / row["midi_performance"]),
                        "annotations": str(root / row["performance_annotations"])})
    return out


# --------------------------------------------------------------------------------------------------
# What the note network reads: one row per note, in order of onset


NOTE_FLOOR = 0.005  # beat activation of a frame where no note is struck
PIECE_TEMPO = 1.0  # how much each frame's beat length follows the whole piece's rather than its last note's
CHORD_SECONDS = 0.035  # onsets closer than this to the first of a group sound as one (a spread chord)
NOTE_SCALARS = ("pitch", "velocity", "duration", "gap_before", "gap_after", "group_gap_before",
                "group_gap_after", "group_size", "lowest", "highest", "pedal")
N_NOTE_FEATURES = len(NOTE_SCALARS) + 12  # the scalars, then the note's pitch class (one-hot, C first)


def pedal_times(piece: MidiPiece) -> tuple[np.ndarray, np.ndarray]:
    """(down, up) times in seconds of the sustain pedal (CC 64) of the piano parts."""
    down, up = [], []
    pm = getattr(piece, "pm", None)
    for inst in getattr(pm, "instruments", ()) or ():
        if inst.is_drum or inst.program not in piece.programs:
            continue
        pressed = False
        for cc in sorted((c for c in inst.control_changes if c.number == 64), key=lambda c: c.time):
            now = cc.value >= 64
            if now != pressed:
                (down if now else up).append(cc.time)
                pressed = now
    return np.sort(np.array(down, np.float64)), np.sort(np.array(up, np.float64))


def has_pedal(piece: MidiPiece) -> bool:
    """Whether the piano parts have any sustain pedal (CC 64) event: a file without one cannot tell a
    pedalled passage from an unpedalled one."""
    pm = getattr(piece, "pm", None)
    return any(c.number == 64 for inst in getattr(pm, "instruments", ()) or ()
               if not inst.is_drum and inst.program in piece.programs for c in inst.control_changes)


def note_order(pitch, start) -> np.ndarray:
    """The order the note network reads notes in: by onset, then from the lowest key up."""
    return np.lexsort((np.asarray(pitch), np.asarray(start)))


def _log_seconds(seconds) -> np.ndarray:
    """log2 of a time span, clipped to 5 ms..8 s and scaled to about -1..0.5."""
    return (np.log2(np.clip(np.asarray(seconds, np.float64), 0.005, 8.0)) / 8.0).astype(np.float32)


def note_groups(start) -> np.ndarray:
    """Group index of each note (onsets sorted): a new group starts more than CHORD_SECONDS after the
    first onset of the current one."""
    start = np.asarray(start, np.float64)
    group = np.zeros(len(start), np.int64)
    first = start[0] if len(start) else 0.0
    g = 0
    for i in range(1, len(start)):
        if start[i] - first > CHORD_SECONDS:
            g += 1
            first = start[i]
        group[i] = g
    return group


def chords(pitch, start) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The chords of notes sorted by onset (`note_groups`): (each note's group, each group's first note's
    index, each group's size, top key and bottom key)."""
    pitch = np.asarray(pitch)
    group = note_groups(start)
    firsts = np.concatenate([[0], np.flatnonzero(np.diff(group)) + 1])
    size = np.bincount(group)
    top = np.full(len(size), pitch.min(), pitch.dtype)
    bottom = np.full(len(size), pitch.max(), pitch.dtype)
    np.maximum.at(top, group, pitch)
    np.minimum.at(bottom, group, pitch)
    return group, firsts, size, top, bottom


def last_before(times, at) -> np.ndarray:
    """The latest of `times` at or just before (1 ms after) each of `at`; -inf where there is none."""
    times = np.sort(np.asarray(times, np.float64))
    i = np.searchsorted(times, np.asarray(at) + 1e-3, side="right") - 1
    return np.where(i >= 0, times[np.maximum(i, 0)] if len(times) else -np.inf, -np.inf)


def note_features(pitch, start, end, velocity, pedal_down=(), pedal_up=()) -> np.ndarray:
    """[N, N_NOTE_FEATURES] float32, one row per note in the given order (sorted by `note_order`).

    pitch       (key - A0) / 87            velocity     velocity / 127
    duration    how long it is held        gap_before / gap_after   to the previous / next note's onset
    group_*     the same for the group of notes struck together (a chord), and log2 of its size
    lowest / highest   the note is the group's bass / top note     pedal   sustain pedal down when struck
    (times as log2 seconds, `_log_seconds`), then its pitch class one-hot.  What marks a beat: long gaps
    after it, bass notes, loud and full chords, a harmony or pedal change.
    """
    pitch = np.asarray(pitch, np.int64)
    start = np.asarray(start, np.float64)
    end = np.asarray(end, np.float64)
    n = len(pitch)
    out = np.zeros((n, N_NOTE_FEATURES), np.float32)
    if n == 0:
        return out
    out[:, 0] = (np.clip(pitch, 21, 108) - 21) / 87.0
    out[:, 1] = np.asarray(velocity, np.float64) / 127.0
    out[:, 2] = _log_seconds(end - start)
    gaps = np.diff(start)
    out[:, 3] = _log_seconds(np.concatenate([[8.0], gaps]))
    out[:, 4] = _log_seconds(np.concatenate([gaps, [8.0]]))
    group, firsts, size, high, low = chords(pitch, start)
    group_gaps = np.diff(start[firsts])  # between each group's first onsets
    out[:, 5] = _log_seconds(np.concatenate([[8.0], group_gaps]))[group]
    out[:, 6] = _log_seconds(np.concatenate([group_gaps, [8.0]]))[group]
    out[:, 7] = np.log2(size[group]) / 3.0
    out[:, 8] = pitch == low[group]
    out[:, 9] = pitch == high[group]
    out[:, 10] = last_before(pedal_down, start) > last_before(pedal_up, start)
    out[np.arange(n), len(NOTE_SCALARS) + pitch % 12] = 1.0
    return out


def notes_to_frames(start, note_activation, note_tempo_logp, n_frames: int, floor: float = None,
                    piece_tempo: float = None, fps: int = FPS):
    """Per-frame (beat, downbeat) activation [n_frames, 2] and beat-length log-probabilities [n_frames,
    len(TEMPO_BINS)] from the note network's per-note outputs (notes sorted by onset).  A frame holds the
    most beat-like note struck in it (its neighbours a little less), `floor` where none is (a beat may fall
    in a rest, at a cost).  The beat length of a frame is the last note's estimate, mixed in the log domain
    with the whole piece's (weight `piece_tempo`): one level of beat for the piece unless the notes insist."""
    floor = NOTE_FLOOR if floor is None else floor
    piece_tempo = PIECE_TEMPO if piece_tempo is None else piece_tempo
    frame = np.clip(np.rint(np.asarray(start) * fps).astype(np.int64), 0, n_frames - 1)
    act = np.full((n_frames, 2), floor, np.float32)
    for offset in (-1, 0, 1):
        np.maximum.at(act, np.clip(frame + offset, 0, n_frames - 1), note_activation * (0.7 if offset else 1.0))
    note_tempo_logp = np.asarray(note_tempo_logp, np.float64)
    whole = np.log(np.exp(note_tempo_logp).mean(axis=0) + 1e-6)
    mixed = (1 - piece_tempo) * note_tempo_logp + piece_tempo * whole[None, :]
    last = np.clip(np.searchsorted(frame, np.arange(n_frames), side="right") - 1, 0, len(frame) - 1)
    return act, mixed[last].astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Decoding: the most likely beat sequence under a tempo that changes gradually


MIN_BEAT_SECONDS = 0.16  # ~375 beats a minute: the fastest felt beat in ASAP is 0.18 s (median of a piece)
MAX_BEAT_SECONDS = 2.6  # ~23 beats a minute: beyond the slowest pieces' median beat (2.0 s at the 99th %)
N_TEMPI = 48  # log-spaced beat lengths: 6 % apart
TEMPO_LAMBDA = 7.0  # how strongly a beat resists changing its length (exp(-lambda * |ratio - 1|))
OBS_LAMBDA = 16  # a frame off the beat is 1/(OBS_LAMBDA - 1) as likely to sound as the beat's own
BEAT_FRAMES = 2  # frames at the start of every beat that may sound it, whatever its length: a window that
# grew with the beat (1/16 of it) let a slow reading collect the activation spread around its beats and
# so halved plain pieces (validation beat F 0.747 -> 0.752 with the fixed window)
TEMPO_BINS = np.geomspace(MIN_BEAT_SECONDS, MAX_BEAT_SECONDS, 25)  # beat lengths (s) the network estimates
TEMPO_WEIGHT = 0.1  # how much the decoder trusts the network's beat-length estimate, per frame


def tempo_bin(seconds) -> np.ndarray:
    """Index of the nearest TEMPO_BINS entry (in log time) to each beat length."""
    edges = np.sqrt(TEMPO_BINS[1:] * TEMPO_BINS[:-1])
    return np.searchsorted(edges, np.asarray(seconds, np.float64))


def _tempo_model(fps=FPS, min_s=MIN_BEAT_SECONDS, max_s=MAX_BEAT_SECONDS, n_tempi=N_TEMPI,
                 tempo_lambda=TEMPO_LAMBDA):
    intervals = np.unique(np.rint(np.geomspace(min_s * fps, max_s * fps, n_tempi)).astype(np.int64))
    ratio = intervals[None, :] / intervals[:, None]  # [from, to]
    log_a = -tempo_lambda * np.abs(ratio - 1.0)
    log_a -= np.log(np.exp(log_a).sum(axis=1, keepdims=True))  # each row a distribution
    return intervals, log_a


def viterbi_beats(activation, tempo_logp=None, tempo_weight=TEMPO_WEIGHT, obs_lambda=OBS_LAMBDA,
                  fps=FPS, correct=True, beat_frames=BEAT_FRAMES, **tempo) -> np.ndarray:
    """Frames of the most likely beats given a beat activation [T] in (0, 1) (madmom's bar-pointer model,
    Krebs, Böck & Widmer 2015, for one beat: a state is (beat length in frames, frames since the beat);
    the length may change only on a beat).  `tempo_logp` [T, len(TEMPO_BINS)], the network's estimate of
    the beat length at each frame, weighs each state by `tempo_weight` times its length's log-probability.
    The first `beat_frames` frames of a beat may sound it (None: 1/`obs_lambda` of its length, madmom's
    choice).  With `correct`, each beat moves to the activation's peak among the frames that may sound it.
    Returns int64 frame indices, increasing."""
    act = np.clip(np.asarray(activation, np.float64), 1e-6, 1 - 1e-6)
    n = len(act)
    intervals, log_a = _tempo_model(fps=fps, **tempo)
    first = np.concatenate([[0], np.cumsum(intervals)[:-1]])
    last = first + intervals - 1
    n_states = int(intervals.sum())
    position = np.arange(n_states) - np.repeat(first, intervals)
    width = np.maximum(1, intervals // obs_lambda) if beat_frames is None else np.full(len(intervals), beat_frames)
    beat_states = np.flatnonzero(position < np.repeat(width, intervals))
    log_beat = np.log(act)
    log_other = np.log((1 - act) / (obs_lambda - 1))
    gain = log_beat - log_other
    columns = np.arange(len(intervals))
    if tempo_logp is not None:
        state_bin = np.repeat(tempo_bin(intervals / fps), intervals)
        tempo_term = tempo_weight * np.asarray(tempo_logp, np.float64)
    delta = np.full(n_states, -np.log(n_states)) + log_other[0]
    delta[beat_states] += gain[0]
    if tempo_logp is not None:
        delta += tempo_term[0, state_bin]
    back = np.zeros((n, len(intervals)), np.int16)
    for t in range(1, n):
        candidates = delta[last][:, None] + log_a
        best = np.argmax(candidates, axis=0)
        back[t] = best
        new = np.empty(n_states)
        new[1:] = delta[:-1]
        new[first] = candidates[best, columns]
        new += log_other[t]
        new[beat_states] += gain[t]
        if tempo_logp is not None:
            new += tempo_term[t, state_bin]
        delta = new
    state = int(np.argmax(delta))
    tempo_index = int(np.searchsorted(first, state, side="right") - 1)
    t = n - 1 - (state - int(first[tempo_index]))
    beats, windows = [], []
    while t >= 0:
        beats.append(t)
        windows.append(int(width[tempo_index]))
        if t == 0:
            break
        tempo_index = int(back[t, tempo_index])
        t -= int(intervals[tempo_index])
    beats = np.array(beats[::-1], np.int64)
    if correct:  # the beat is where the activation peaks among the frames that may sound it
        for i, (frame, window) in enumerate(zip(beats, windows[::-1])):
            beats[i] = frame + int(np.argmax(act[frame:frame + window]))
    return beats


# --------------------------------------------------------------------------------------------------
# The note network, run here in NumPy


SHIPPED_TRACKER = Path(__file__).resolve().parent / "pretrained" / "tracker.npz"


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


class NoteNetwork:
    """A network over a piece's notes in `note_order`, run here in NumPy: a dense layer ("input", ELU), then
    bidirectional LSTMs ("lstm0", "lstm1", ...) over the whole piece, so every note hears the piece before
    and after it; subclasses read their own output layers off `trunk`.  Stored as an .npz of the Keras
    layers' weights with a `kind` and a JSON `info` header (scripts/train_tracker.py, train_touch.py)."""

    KIND = ""  # the file's `kind`
    NAME = "note network"  # in error messages
    HINT = ""  # what to do about a file of another kind
    ERROR = BeatsError

    def __init__(self, arrays: dict):
        from stylenet.inference import LSTMWeights

        self.info = str(arrays["info"]) if "info" in arrays else "{}"
        self.dense = {k.split("/")[0]: (arrays[k], arrays[k.replace("kernel", "bias")])
                      for k in arrays if k.endswith("/kernel") and k.count("/") == 1}
        layers = sorted({k.split("/")[0] for k in arrays if k.startswith("lstm")}, key=lambda n: int(n[4:]))
        self.lstms = [tuple(LSTMWeights(*(arrays[f"{name}/{d}/{w}"].astype(np.float32)
                                          for w in ("kernel", "recurrent", "bias")))
                            for d in ("forward", "backward")) for name in layers]

    @classmethod
    def load(cls, path):
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:  # EOFError: an empty file
            raise cls.ERROR(path, f"cannot read the {cls.NAME}'s weights ({exc or type(exc).__name__})") from None
        if str(arrays.get("kind", "")) != cls.KIND:
            article = "an" if cls.NAME[:1] in "aeiou" else "a"
            raise cls.ERROR(path, f"not {article} {cls.NAME} (its kind is {str(arrays.get('kind', 'none'))!r}){cls.HINT}")
        try:
            return cls(arrays)
        except KeyError as exc:
            raise cls.ERROR(path, f"the {cls.NAME}'s weights lack {exc}") from None
        except ValueError as exc:  # a subclass's own checks of what it was given
            raise cls.ERROR(path, f"damaged {cls.NAME} file: {exc}") from None

    def trunk(self, features: np.ndarray) -> np.ndarray:
        """features [N, F] -> the last LSTM's output [N, 2 units]."""
        kernel, bias = self.dense["input"]
        h = _elu(np.asarray(features, np.float32) @ kernel + bias)
        for forward, backward in self.lstms:
            h = np.concatenate([forward.run(h), backward.run(h, reverse=True)], axis=1)
        return h


def save_note_network(model, path, kind: str, info: dict) -> None:
    """A trained Keras note network (dense "input", Bidirectional "lstm{i}", dense heads) as the .npz a
    `NoteNetwork` of that `kind` reads, float32, written atomically."""
    import json

    arrays = {"kind": np.array(kind)}
    for layer in model.layers:
        weights = layer.get_weights()
        if layer.name.startswith("lstm"):
            for direction, offset in (("forward", 0), ("backward", 3)):
                for name, w in zip(("kernel", "recurrent", "bias"), weights[offset:offset + 3]):
                    arrays[f"{layer.name}/{direction}/{name}"] = w.astype(np.float32)
        elif len(weights) == 2:
            arrays[f"{layer.name}/kernel"], arrays[f"{layer.name}/bias"] = (w.astype(np.float32) for w in weights)
    arrays["info"] = np.array(json.dumps(info))
    write_note_arrays(path, arrays)


def write_note_arrays(path, arrays: dict) -> None:
    """A note network's arrays (as `save_note_network` lays them out) to `path`, compressed, atomically."""
    from stylenet.fileio import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)


class NoteActivation(NoteNetwork):
    """The beat tracker's note network: note features [N, F] in `note_order` -> ([N, 2] (beat, downbeat)
    probability that a beat falls on each note's onset, [N, len(TEMPO_BINS)] log-probabilities of the local
    beat length).  Reading the whole piece is what tells the notated beat from its half or double."""

    KIND = "notes"
    NAME = "beat tracker"
    HINT = "; train one with scripts/train_tracker.py"

    @classmethod
    def load(cls, path=None) -> "NoteActivation":
        return super().load(path or SHIPPED_TRACKER)

    def __call__(self, features: np.ndarray):
        h = self.trunk(features)
        kernel, bias = self.dense["output"]
        beat = 1.0 / (1.0 + np.exp(-np.clip(h @ kernel + bias, -30, 30)))
        kernel, bias = self.dense["tempo"]
        tempo = h @ kernel + bias
        tempo -= tempo.max(axis=1, keepdims=True)
        tempo -= np.log(np.exp(tempo).sum(axis=1, keepdims=True))
        return beat.astype(np.float32), tempo.astype(np.float32)


def decode_notes(start, end, note_activation, note_tempo_logp, floor: float = None, piece_tempo: float = None,
                 **decode_options) -> Beats:
    """Beats from the note network's outputs for notes sorted by onset (`note_order`), on frames covering
    every note and a second after (`notes_to_frames`, then `decode`); BeatsError where too few come out."""
    if not len(start):
        raise BeatsError("tracking", "no notes to track")
    n_frames = int(np.ceil(max(float(np.max(end)), float(np.max(start))) * FPS)) + FPS
    act, tempo = notes_to_frames(start, note_activation, note_tempo_logp, n_frames, floor, piece_tempo)
    return decode(act, tempo, **decode_options)


def track_notes(pitch, start, end, velocity, pedal_down=(), pedal_up=(), net: "NoteActivation | None" = None,
                floor: float = None, piece_tempo: float = None, **decode_options) -> Beats:
    """Beats, downbeats and meter (simple) of notes in any order, through the note network and the
    decoder; raises BeatsError where too few beats come out."""
    net = net or shipped_activation()
    order = note_order(pitch, start)
    start, end = np.asarray(start, np.float64)[order], np.asarray(end, np.float64)[order]
    features = note_features(np.asarray(pitch)[order], start, end, np.asarray(velocity)[order], pedal_down, pedal_up)
    return decode_notes(start, end, *net(features), floor, piece_tempo, **decode_options)


_SHIPPED = None


def shipped_activation() -> NoteActivation:
    global _SHIPPED
    if _SHIPPED is None:
        _SHIPPED = NoteActivation.load()
    return _SHIPPED


# --------------------------------------------------------------------------------------------------
# Downbeats and meter, on the decoded beats


BAR_LENGTHS = (2, 3, 4)  # beats per bar the decoder chooses from
METER_CHANGE = 0.1  # probability that a bar starts a new meter (high: it absorbs a missed or extra beat)


def viterbi_downbeats(downbeat_activation, bar_lengths=BAR_LENGTHS, change=METER_CHANGE):
    """(downbeat flag [B], beats per bar [B]) of beats with the given downbeat activation [B] in (0, 1):
    the most likely sequence of bars, each of `bar_lengths` beats, the length changing rarely."""
    act = np.clip(np.asarray(downbeat_activation, np.float64), 1e-4, 1 - 1e-4)
    states = [(m, k) for m in bar_lengths for k in range(m)]
    n_states = len(states)
    log_a = np.full((n_states, n_states), -np.inf)
    for i, (m, k) in enumerate(states):
        for j, (m2, k2) in enumerate(states):
            if k < m - 1 and m2 == m and k2 == k + 1:
                log_a[i, j] = 0.0
            elif k == m - 1 and k2 == 0:
                log_a[i, j] = np.log(1 - change) if m2 == m else np.log(change / (len(bar_lengths) - 1))
    is_down = np.array([k == 0 for _, k in states])
    obs = np.where(is_down[None, :], np.log(act)[:, None], np.log(1 - act)[:, None])
    delta = obs[0] - np.log(n_states)
    back = np.zeros((len(act), n_states), np.int64)
    for b in range(1, len(act)):
        candidates = delta[:, None] + log_a
        back[b] = np.argmax(candidates, axis=0)
        delta = candidates[back[b], np.arange(n_states)] + obs[b]
    path = np.zeros(len(act), np.int64)
    path[-1] = int(np.argmax(delta))
    for b in range(len(act) - 1, 0, -1):
        path[b - 1] = back[b, path[b]]
    return is_down[path], np.array([states[s][0] for s in path], np.int64)


def decode(activation: np.ndarray, tempo_logp: np.ndarray | None = None, fps: int = FPS, **options) -> Beats:
    """Beats, downbeats and meter from a [T, 2] (beat, downbeat) activation and the network's beat-length
    estimate."""
    frames = viterbi_beats(activation[:, 0], tempo_logp, fps=fps, **options)
    if len(frames) < 2:
        raise BeatsError("tracking", f"found {len(frames)} beat(s); too few notes to track")
    near = np.clip(frames[:, None] + np.arange(-2, 3)[None, :], 0, len(activation) - 1)
    down_act = activation[near, 1].max(axis=1)
    downbeat, per_bar = viterbi_downbeats(down_act)
    meters, current = [], None
    for b in np.flatnonzero(downbeat):
        if per_bar[b] != current:
            current = int(per_bar[b])
            meters.append((0 if not meters else int(b), current, 4))
    return Beats(frames / fps, downbeat, np.array(meters, np.int64).reshape(-1, 3))


# --------------------------------------------------------------------------------------------------
# Simple or compound: how the notes divide the beat


def beat_division(beat_times, onsets) -> int:
    """3 where the onsets between beats fall mostly on thirds of the beat (a compound meter: 6/8, 9/8,
    12/8), else 2.  Read over the whole piece."""
    beat_times = np.asarray(beat_times, np.float64)
    onsets = np.unique(np.asarray(onsets, np.float64))
    if len(beat_times) < 2 or not len(onsets):
        return 2
    i = np.searchsorted(beat_times, onsets, side="right") - 1
    inside = (i >= 0) & (i < len(beat_times) - 1)
    i, onsets = i[inside], onsets[inside]
    phase = (onsets - beat_times[i]) / (beat_times[i + 1] - beat_times[i])
    thirds = np.sum(np.minimum(np.abs(phase - 1 / 3), np.abs(phase - 2 / 3)) < 0.06)
    halves = np.sum(np.minimum.reduce([np.abs(phase - 0.5), np.abs(phase - 0.25), np.abs(phase - 0.75)]) < 0.04)
    return 3 if thirds > DIVISION_BIAS * halves else 2


DIVISION_BIAS = 1.5  # thirds must outnumber halves and quarters by this (92 % right on ASAP train, true beats)


# --------------------------------------------------------------------------------------------------
# Does a file follow its own grid?


GRID_TOLERANCE = 1 / 192  # of a quarter note: 2.5 ticks at 480 a quarter, 2.6 ms at 120 quarters a minute
GRID_POINTS = np.unique(np.concatenate([np.arange(8) / 8, np.arange(6) / 6]))  # 1/32 notes and triplets
GRID_CHANCE = float(len(GRID_POINTS) * 2 * GRID_TOLERANCE)  # the share random ticks get at one offset (1/8)
# At least this share on the grid: sequenced.  Measured (README): recordings <= 0.27, sequenced scores >= 0.45.
GRID_SHARE_THRESHOLD = 0.35


def grid_share(piece: MidiPiece) -> float:
    """The share of distinct note onsets that sit on the file's own grid of 1/32 notes and triplets
    (within GRID_TOLERANCE of a quarter note, or half a tick), read through the file's tempo map.  The
    grid may be shifted as a whole (a file whose every note is late by a 64th is still sequenced): the
    best of a few offsets, read off the onsets, counts.  A file entered or quantised in a sequencer scores
    near 1; a recording whose ticks do not follow the beat near chance (GRID_CHANCE, a little more for
    the offset chosen).  `perform` can track the beats of a file under GRID_SHARE_THRESHOLD."""
    if piece.n_notes == 0:
        raise MidiReadError(piece.path, "no piano notes: cannot tell whether the file follows its grid")
    grid = piece.file_grid or piece.grid
    quarters = np.unique(grid.seconds_to_ticks(piece.start)) / grid.ticks_per_quarter
    tolerance = max(GRID_TOLERANCE, 0.5 / grid.ticks_per_quarter) + 1e-9
    points = np.concatenate([GRID_POINTS, [1.0]])

    def share(offset: float) -> float:
        phase = (quarters - offset) % 1.0
        return float(np.mean(np.abs(phase[:, None] - points[None, :]).min(axis=1) <= tolerance))

    offsets = [0.0]
    for period in (1 / 8, 1 / 6):  # the most common position within a 1/32 note, and within a triplet
        bins = np.rint((quarters % period) / tolerance).astype(np.int64)
        offsets.append(float(np.bincount(bins).argmax() * tolerance))
    return max(share(offset) for offset in offsets)


COHERENCE_THRESHOLD = 0.1  # a recording's onsets ignore its quarter notes: ASAP performances <= 0.08


def looks_recorded(piece: MidiPiece) -> bool:
    """A recording: onsets neither on the file's own ticks (`grid_share`) nor gathered on its quarter notes
    (`beat_coherence`).  `perform --grid auto` notes such a file; `--touch auto` reads its timing."""
    return grid_share(piece) < GRID_SHARE_THRESHOLD and beat_coherence(piece) < COHERENCE_THRESHOLD


def beat_coherence(piece: MidiPiece) -> float:
    """How strongly a file's distinct onsets gather at one place of its own quarter note: the length of
    the mean of exp(2 pi i q) over their positions q, in quarter notes through the file's tempo map.  Near
    0 for a recording whose ticks ignore the beat; well above for a file played in to a click, whose onsets
    follow the beat without sitting on the tick grid (grid_share cannot tell that one from a recording).
    A sequenced file can score anything (even sixteenths cancel out): read it after grid_share."""
    if piece.n_notes == 0:
        raise MidiReadError(piece.path, "no piano notes: cannot tell whether the file follows its beat")
    grid = piece.file_grid or piece.grid
    quarters = np.unique(grid.seconds_to_ticks(piece.start)) / grid.ticks_per_quarter
    return float(np.abs(np.mean(np.exp(2j * np.pi * quarters))))


# --------------------------------------------------------------------------------------------------
# Tracking a piece


MIN_ONSETS = 4  # distinct onsets a piece needs before it has beats to find


def track(piece: MidiPiece, activation: "NoteActivation | None" = None) -> Beats:
    """Beats, downbeats and meter of a performance, from its notes alone (see the module docstring).

    Raises MidiReadError with a one-line reason for a piece with too few notes to have a beat."""
    onsets = np.unique(np.round(piece.start, 3)) if piece.n_notes else np.zeros(0)
    if len(onsets) < MIN_ONSETS:
        raise MidiReadError(piece.path, f"cannot track beats: {len(onsets)} distinct note onset(s), "
                                        f"need at least {MIN_ONSETS}")
    try:
        found = track_notes(piece.pitch, piece.start, piece.end, piece.velocity, *pedal_times(piece), net=activation)
        division = beat_division(found.times, piece.start)
        meters = found.meters.copy()
        if division == 3:
            meters[:, 1] *= 3
            meters[:, 2] = 8
        found = Beats(found.times, found.downbeat, meters)
        check_beats(found)
    except BeatsError as exc:
        raise MidiReadError(piece.path, f"cannot track beats: {exc.reason}") from None
    return found
