"""Beat tracking for recorded performances: beats, downbeats and meter from the notes alone.

    track(piece)       -> Beats   beats, downbeats and meter of a `midifile.MidiPiece` (feeds `beats.conform`)

(Whether a file is a recording at all: grid.py.  Which ASAP works it learned from: data/splits.py.)

Method.  A note network (`pretrained/tracker.npz`, trained on ASAP train works by `stylenet train-tracker`)
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
CNN over 20 ms frames with a 20 s view, is measured beside it in docs/recorded.md): a piece of ten minutes is a few thousand notes,
so a recurrent network can read all of it, and the level of the beat (the notated quarter, not its half or
double) is a property of the whole piece.  The decoder's settings were chosen on the validation works.

What cannot be told apart.  Beats per bar come from the spacing of downbeats, so the numerator is the
number of *beats* in a bar: 2/4 and 2/2 (and 6/8 without triplet motion) look alike, as do 3/4 and 3/8, and
the denominator written is 4 (8 for compound meters), never read from the music.  The beat *level* is the
largest error: a pianist's beat in a fast 3/4 can be the bar, in an Adagio the eighth note; the notated beat
(what ASAP annotates) is a convention the notes only hint at: how many performances come out with as
many beats as annotated, and the rest at another level (twice or half as many beats, or a mix of levels,
most in compound meters), is measured in docs/recorded.md, the one place for
the tracker's figures.
Hypermeter (two bars felt as one) can turn 6/8 into 12/8 or 2/4 into 4/4.  A bar may change length
(METER_CHANGE, to absorb a missed or an extra beat), so a tracked meter map changes more often than the
score's.
"""

from __future__ import annotations

import numpy as np

from stylenet.core.beats import Beats, BeatsError, check_beats
from stylenet.core.fileio import PRETRAINED
from stylenet.core.midifile import MidiPiece, MidiReadError
from stylenet.core.notes import note_features, note_order, pedal_times
from stylenet.nn.note_network import NoteNetwork

FPS = 50  # frames per second of the activation and the decoder (20 ms: well inside mir_eval's 70 ms window)
NOTE_FLOOR = 0.005  # beat activation of a frame where no note is struck
PIECE_TEMPO = 1.0  # how much each frame's beat length follows the whole piece's rather than its last note's


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


SHIPPED_TRACKER = PRETRAINED / "tracker.npz"


class NoteActivation(NoteNetwork):
    """The beat tracker's note network: note features [N, F] in `note_order` -> ([N, 2] (beat, downbeat)
    probability that a beat falls on each note's onset, [N, len(TEMPO_BINS)] log-probabilities of the local
    beat length).  Reading the whole piece is what tells the notated beat from its half or double."""

    KIND = "notes"
    NAME = "beat tracker"
    HINT = "; train one with `stylenet train-tracker`"

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
