"""Beats: where a performance's beats fall in time, and a beat grid that follows them.

A *recorded* performance (a digital piano, a Disklavier) has no click: its MIDI ticks run at a nominal
tempo that has nothing to do with the music, so quantising it on its own grid reads nonsense.  Given the
time of every beat (from an annotation, or a beat tracker), we can build the grid the pianist actually
played on: one tempo per beat, so that every beat lands on a beat tick, and the meter map from the bars.
`conform` re-reads a piece on that grid; `conformed_midi` writes the re-timed file (same sounding times,
ticks that follow the beat), which any sequencer then shows in bars.

A beat is the meter's felt beat: the denominator's note in simple meters (3/4: a quarter, 3/8: an eighth),
the dotted note in compound ones (6/8: two dotted quarters a bar) — ASAP's convention and `midifile.meter_steps`'.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylenet.core.errors import FileError, StyleNetError
from stylenet.core.midifile import DEFAULT_STEPS_PER_QUARTER, BeatGrid, MidiPiece, meter_steps
from stylenet.core.smf import smf_bytes

ANNOTATION_SUFFIX = "_annotations.txt"  # a performance's beats beside it, ASAP's name: <stem>_annotations.txt
BESIDE = "beside"  # `--beats beside`: each input's own annotation
MAX_TEMPO_MICROSECONDS = 2 ** 24 - 1  # a MIDI set_tempo holds 3 bytes: at most 16.8 s per quarter note
TICK_ERROR_SECONDS = 0.001  # conformed note times stay within this of the recorded ones


class BeatsError(FileError):
    """A beat annotation that cannot be read or used, with its file and a one-line reason."""


@dataclass(frozen=True)
class Beats:
    """The beats of one performance.

    times     float64 [B] seconds, strictly increasing: when each beat falls
    downbeat  bool [B]: True where a bar starts
    meters    int64 [(beat_index, numerator, denominator)]: each time signature and the beat it starts on
              (sorted; MIDI's default 4/4 before the first one)
    """

    times: np.ndarray
    downbeat: np.ndarray
    meters: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "times", np.asarray(self.times, np.float64).reshape(-1))
        object.__setattr__(self, "downbeat", np.asarray(self.downbeat, bool).reshape(-1))
        object.__setattr__(self, "meters", np.asarray(self.meters, np.int64).reshape(-1, 3))

    @property
    def n_beats(self) -> int:
        return int(len(self.times))

    def meter_of_beats(self) -> np.ndarray:
        """int64 [B, 2]: the (numerator, denominator) in force at each beat."""
        out = np.tile(np.array([4, 4], np.int64), (self.n_beats, 1))
        for index, n, d in self.meters:
            out[max(int(index), 0):] = (n, d)
        return out

    def beat_quarters(self) -> np.ndarray:
        """float64 [B]: the length of each beat in quarter notes (1 in 4/4, 1.5 in 6/8, 0.5 in 3/8)."""
        return np.array([meter_steps(int(n), int(d), 1)[1] for n, d in self.meter_of_beats()], np.float64)


def read_annotations(path) -> Beats:
    """Beats from an ASAP-style annotation file: one line per beat, tab-separated,
    `time  time  label` with label `b` (beat) or `db` (downbeat), optionally `,<meter>` where a new
    time signature starts and `,<key>`, e.g. `db,6/8,-2`.  The first time column is used.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise BeatsError(path, f"cannot read beat annotations ({exc.strerror or exc})") from None
    times, downbeat, meters = [], [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        try:
            time = float(fields[0])
        except (ValueError, IndexError):
            raise BeatsError(path, f"line {number}: expected a time in seconds, got {line.strip()[:40]!r}") from None
        label = (fields[2] if len(fields) > 2 else fields[-1] if len(fields) > 1 else "b").strip().split(",")
        if label[0] not in ("b", "db", "bR"):
            raise BeatsError(path, f"line {number}: label {label[0]!r} is neither 'b' nor 'db'")
        if len(label) > 1 and label[1]:
            try:
                n, d = (int(x) for x in label[1].split("/"))
            except ValueError:
                raise BeatsError(path, f"line {number}: unreadable time signature {label[1]!r}") from None
            if n < 1 or d < 1 or d & (d - 1):
                raise BeatsError(path, f"line {number}: impossible time signature {label[1]!r}")
            meters.append((len(times), n, d))
        times.append(time)
        downbeat.append(label[0] == "db")
    beats = Beats(np.array(times), np.array(downbeat, bool), np.array(meters, np.int64).reshape(-1, 3))
    check_beats(beats, path)
    return beats


def beats_beside(midi_path) -> Path:
    """Where a MIDI file's beat annotation lives: `<stem>_annotations.txt` in the same folder."""
    midi_path = Path(midi_path)
    return midi_path.with_name(midi_path.stem + ANNOTATION_SUFFIX)


def beats_for(source, beats: str) -> Path:
    """The annotation to read for one input of `--beats FILE|beside`: the file given, or the one beside it."""
    if beats != BESIDE:
        return Path(beats)
    found = beats_beside(source)
    if not found.exists():
        raise StyleNetError(f"{source}: no beat annotation beside it (looked for {found.name})")
    return found


def check_beats(beats: Beats, path="beats") -> None:
    """Refuse beats a grid cannot follow, in one line."""
    if beats.n_beats < 2:
        raise BeatsError(path, f"needs at least 2 beats, found {beats.n_beats}")
    if not np.all(np.isfinite(beats.times)) or beats.times[0] < 0:
        raise BeatsError(path, "beat times must be finite and not negative")
    gaps = np.diff(beats.times)
    if np.any(gaps <= 0):
        at = int(np.argmax(gaps <= 0)) + 1
        raise BeatsError(path, f"beat {at + 1} ({beats.times[at]:.3f} s) does not come after the one before")


@dataclass(frozen=True)
class BeatMap:
    """The tempo map and meter map that put each beat on a beat tick.

    `tempo_times[i]` (seconds) starts tempo `microseconds[i]` per quarter at tick `tempo_ticks[i]`; the
    first segment, from time 0, is a lead-in chosen so that the first downbeat starts a bar of the first
    meter.  `beat_ticks[b]` is beat b's tick.  `meter_ticks` is [(tick, numerator, denominator)].
    """

    ticks_per_quarter: int
    tempo_ticks: np.ndarray
    tempo_times: np.ndarray
    microseconds: np.ndarray
    beat_ticks: np.ndarray
    meter_ticks: np.ndarray

    def grid(self, steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER) -> BeatGrid:
        qpm = 60e6 / self.microseconds.astype(np.float64)
        return BeatGrid(steps_per_quarter, self.tempo_times, self.tempo_ticks / self.ticks_per_quarter, qpm,
                        self.ticks_per_quarter)

    def meter_map(self, steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER) -> np.ndarray:
        """[(step, numerator, denominator)] as `MidiPiece.meter_map` gives it."""
        rows = self.meter_ticks.copy()
        rows[:, 0] = (2 * rows[:, 0] * steps_per_quarter + self.ticks_per_quarter) // (2 * self.ticks_per_quarter)
        return rows


def _ticks_per_quarter(beats: Beats, quarters: np.ndarray) -> int:
    """Fine enough that half a tick of the slowest beat stays under TICK_ERROR_SECONDS (960 * 2^k, which
    every beat length of a power-of-two meter divides), and within the 15 bits a MIDI header allows."""
    slowest = float(np.max(np.diff(beats.times) / quarters[:-1]))  # seconds per quarter
    tpq = 960
    while slowest / tpq / 2 > TICK_ERROR_SECONDS and tpq * 2 <= 30720:
        tpq *= 2
    return tpq


def beat_map(beats: Beats) -> BeatMap:
    """Lay the beats on ticks: each beat as long as its meter says, bars starting on downbeats.

    The first downbeat starts a bar counted from tick 0 (a lead-in segment before the first beat absorbs
    the pickup); later downbeats that do not fall where the running meter puts a bar line (an annotated
    bar of the wrong length) restart the bar count there, with a time-signature event.  Tempi are rounded
    to whole microseconds with the rounding error carried to the next beat, so beat times never drift.
    """
    check_beats(beats)
    quarters = beats.beat_quarters()
    tpq = _ticks_per_quarter(beats, quarters)
    beat_len = np.rint(quarters * tpq).astype(np.int64)
    meter_of = beats.meter_of_beats()

    # Where the first downbeat falls, counted in ticks from the first beat, and the lead-in before it.
    downbeats = np.flatnonzero(beats.downbeat)
    first_db = int(downbeats[0]) if len(downbeats) else 0
    pickup = int(beat_len[:first_db].sum())
    n, d = meter_of[first_db]
    bar = int(round(meter_steps(int(n), int(d), 1)[0] * tpq))
    natural_lead = beats.times[0] / (beats.times[1] - beats.times[0]) * beat_len[0]  # lead-in at the first tempo
    if beats.times[0] < TICK_ERROR_SECONDS:
        first_tick = 0  # nothing before the first beat; a pickup then restarts the bar count (below)
    else:
        first_tick = max(bar * math.ceil((pickup + natural_lead) / bar) - pickup, 1)
        while beats.times[0] * 1e6 / (first_tick / tpq) > MAX_TEMPO_MICROSECONDS:
            first_tick += bar  # a very long silence before the first beat: more bars of lead-in
    beat_ticks = first_tick + np.concatenate([[0], np.cumsum(beat_len[:-1])])

    # One tempo per segment: lead-in, then each beat.  The last beat keeps the tempo of the one before.
    seg_ticks = np.concatenate([[0], beat_ticks]) if first_tick else beat_ticks.copy()
    seg_times = np.concatenate([[0.0], beats.times]) if first_tick else beats.times.copy()
    if seg_times[0] > 0:  # first beat after 0 but under a millisecond: it is the start
        seg_times = seg_times.copy()
        seg_times[0] = 0.0
    microseconds, written_times = [], [0.0]
    elapsed_us = 0
    for i in range(len(seg_ticks) - 1):
        span_q = (seg_ticks[i + 1] - seg_ticks[i]) / tpq
        target_us = seg_times[i + 1] * 1e6
        us = int(round((target_us - elapsed_us) / span_q))
        if not 1 <= us <= MAX_TEMPO_MICROSECONDS:
            raise BeatsError("beats", f"beat {i + 1} at {seg_times[i + 1]:.3f} s needs a tempo MIDI cannot "
                                      f"write ({us / 1e6:.3g} s per quarter note)")
        microseconds.append(us)
        elapsed_us += us * span_q
        written_times.append(elapsed_us / 1e6)
    microseconds.append(microseconds[-1])

    # The meter map: the first meter from tick 0, then every meter change and every misplaced downbeat.
    rows = [(0, int(n), int(d))]
    anchor, (cur_n, cur_d) = 0, (int(n), int(d))
    for b in downbeats:
        tick = int(beat_ticks[b])
        bn, bd = (int(x) for x in meter_of[b])
        bar = int(round(meter_steps(bn, bd, 1)[0] * tpq))
        if (bn, bd) != (cur_n, cur_d) or (tick - anchor) % bar:
            rows.append((tick, bn, bd))
            anchor, cur_n, cur_d = tick, bn, bd
    meter_rows = {}
    for tick, rn, rd in rows:  # several on one tick: the last wins
        meter_rows[tick] = (rn, rd)
    meter_ticks = np.array([(t, rn, rd) for t, (rn, rd) in sorted(meter_rows.items())], np.int64).reshape(-1, 3)
    return BeatMap(tpq, seg_ticks.astype(np.int64), np.array(written_times[:len(seg_ticks)]),
                   np.array(microseconds, np.int64), beat_ticks.astype(np.int64), meter_ticks)


def conform(piece: MidiPiece, beats: Beats) -> MidiPiece:
    """The same piece, read on the grid its beats draw: quantising it now puts a note on the 1/16 of
    the bar the pianist played it in, and its meter map is the annotated one.  Notes, their times and
    the file's own events are unchanged (`codec.apply_velocities` still writes the original file)."""
    try:
        mapped = beat_map(beats)
    except BeatsError as exc:
        raise BeatsError(piece.path, exc.reason) from None
    steps = piece.grid.steps_per_quarter
    return dataclasses.replace(piece, grid=mapped.grid(steps), meters_override=mapped.meter_map(steps),
                               file_grid=piece.file_grid or piece.grid)


def conformed_midi(piece: MidiPiece, beats: Beats) -> bytes:
    """The piece's file re-timed onto its beats, as SMF bytes: every event keeps its time in seconds
    (within TICK_ERROR_SECONDS) but sits on ticks of a tempo map with one tempo per beat, so each beat
    lands on its beat tick and bars line up with the annotated downbeats.  The file's own tempo and
    time-signature events are replaced by the beats'; everything else (notes, pedal, other tracks, key
    signatures, text) is kept, event for event."""
    import mido

    mapped = beat_map(beats)
    grid = mapped.grid()
    file_grid = piece.file_grid or piece.grid
    tracks = []
    for index, track in enumerate(piece.midi.tracks):
        ticks = np.fromiter((msg.time for msg in track), dtype=np.int64, count=len(track))
        new_ticks = grid.seconds_to_ticks(file_grid.ticks_to_seconds(ticks)) if len(track) else ticks
        events = [(int(t), msg, None) for t, msg in zip(new_ticks, track)
                  if msg.type not in ("set_tempo", "time_signature")]
        if index == 0:  # the conductor: the beats' tempo and meter maps
            events += [(int(t), mido.MetaMessage("set_tempo", tempo=int(us), time=0), None)
                       for t, us in zip(mapped.tempo_ticks, mapped.microseconds)]
            events += [(int(t), mido.MetaMessage("time_signature", numerator=int(n), denominator=int(d), time=0),
                        None) for t, n, d in mapped.meter_ticks]
            events.sort(key=lambda e: (e[0], e[1].type not in ("set_tempo", "time_signature")))
        else:
            events.sort(key=lambda e: e[0])  # stable: same-tick events keep their file order
        tracks.append(events)
    return smf_bytes(piece.midi.type if len(tracks) > 1 else 0, mapped.ticks_per_quarter, tracks)
