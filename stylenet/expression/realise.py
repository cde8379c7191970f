"""The expression network's performance written into a MIDI file: timing, articulation, pedal.

    Expression                                 how much of each `perform` writes (--timing, --articulation,
                                               --pedal, --timing-as)
    plan(piece, score, predicted, expression)  Plan: every piano note's new start and end, the tempo map
                                               (tempo mode) and the pedal, in seconds and ticks
    write(piece, plan, velocities)             the file as SMF bytes: piano notes moved, pedal written,
                                               every other event kept

Timing is written in one of two ways, both from the same prediction:

    notes   (default) the notes move in time; the file's tempo map stays.  For a fixed-tempo session: the
            piano sounds played against the session's click.  Where the file has other instruments, the
            rubato (tempo curve) is left out -- a band keeps its beat -- and only each note's place
            against its beat and its length change.
    tempo   the notes keep their ticks (plus their small offsets against the beat) and the rubato is
            written as a tempo map, one tempo a beat, so a DAW's grid and bar lines still line up with the
            music, and other tracks follow the same tempo.

The tempo curve keeps the piece's overall length (the player's choice of tempo, as written); the rubato
is the network's per-note tempo averaged over each beat of the score's metre.  Pedal: each chord (the
notes of one score onset) is pedalled where its notes' probability is over one half; the pedal is pressed
just after the chord sounds (syncopated pedalling, so the previous harmony is not caught), and changed --
lifted as the new chord sounds, pressed again just after -- where the lift probability is over one half.

Nothing is lost: every piano note of the input comes out once with its key and channel, in its track; of
two notes on one key the earlier stays first and ends before the later starts; other tracks, channels and
events are kept event for event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylenet.core.midifile import HIGHEST_KEY, LOWEST_KEY, BeatGrid, MidiPiece
from stylenet.core.notes import has_pedal
from stylenet.core.smf import smf_bytes
from stylenet.expression.metrics import beat_curve
from stylenet.expression.notes import DURATION_LIMIT, ScoreNotes, extrapolated_interp

PEDALS = ("auto", "keep", "add", "off")
TIMING_AS = ("notes", "tempo")
MAX_ONSET_SHIFT = 0.12  # seconds: a note moves at most this far from its beat's time ...
MAX_ONSET_BEAT_SHARE = 0.25  # ... and at most this share of its beat
MIN_SECONDS = 0.02  # the shortest note written
PEDAL_DELAY = 0.06  # seconds after a chord's first onset that the pedal goes down
SAME_KEY_GAP = 0.002  # seconds between a note's end and the next note of its key
MAX_TEMPO = 0xFFFFFF  # microseconds a quarter: the most a MIDI set_tempo event holds


@dataclass(frozen=True)
class Expression:
    """How much of the expression network's performance to write: each amount 0..1 (0 = leave it as written).
    `pedal`: auto (keep a file's own pedal, add one where it has none), keep, add (replace), off (remove)."""

    timing: float = 1.0
    articulation: float = 1.0
    pedal: str = "auto"
    timing_as: str = "notes"
    variation: float = 0.0  # how far from the expected performance a pianist strays (network.variation; off:
    # on validation it cost more correlation than it fooled the realism detector, docs/expression.md)
    seed: int = 0  # of the variation: the same file and seed give the same performance


@dataclass
class Plan:
    start: np.ndarray  # seconds, the new start of each score note (score order), in the output's time
    end: np.ndarray
    start_tick: np.ndarray  # int64, the same as ticks of the output file
    end_tick: np.ndarray
    tempo: list | None  # [(tick, microseconds per quarter)] replacing the file's tempo map (tempo mode)
    pedal: list | None  # [(tick, value)] sustain pedal events replacing the piano's own, or None (kept)
    drop_pedal: bool  # remove the piano channels' own sustain pedal events
    rubato: bool  # whether the tempo curve was applied
    grid: BeatGrid  # the output's tempo map
    warp: tuple | None  # notes mode: (chord quarters, their new seconds, beat quarters, their new seconds)
    steady: bool = False  # the tempo curve was flat (a genre played to a click): no rubato to speak of


def has_other_instruments(piece: MidiPiece) -> bool:
    return any(inst.notes for inst in piece.pm.instruments if inst.is_drum or inst.program not in piece.programs)


def beat_times(score: ScoreNotes, tempo: np.ndarray, amount: float) -> tuple[np.ndarray, np.ndarray]:
    """(beat quarters, their new seconds): the score's beats re-timed by the per-note tempo (log2) averaged
    per beat, times `amount`, the piece's length kept."""
    beats_q, _ = score.beats()
    written = np.diff(score.seconds(beats_q))
    curve = amount * beat_curve(score, tempo, beats_q) if amount > 0 else np.zeros(len(written))
    played = written * np.exp2(np.clip(curve, -1.5, 1.5))
    last = int(np.searchsorted(beats_q, score.onset[-1], side="right")) if score.n_notes else len(played)
    span = slice(0, max(min(last, len(played)), 1))
    played *= written[span].sum() / max(played[span].sum(), 1e-9)
    first = float(score.seconds(beats_q[:1])[0])
    return beats_q, np.concatenate([[first], first + np.cumsum(played)])


def _keep_key_order(pitch, start, end, gap) -> tuple[np.ndarray, np.ndarray]:
    """Notes in score order: on each key the later note starts after the earlier one, which ends `gap`
    before it (neither swaps nor overlaps); every note keeps some length."""
    start, end = start.copy(), np.maximum(end, start + gap)
    for key in np.unique(pitch):
        idx = np.flatnonzero(pitch == key)
        for a, b in zip(idx[:-1], idx[1:]):
            start[b] = max(start[b], start[a] + 2 * gap)
            end[b] = max(end[b], start[b] + gap)
            end[a] = min(end[a], start[b] - gap)
    return start, end


def plan(piece: MidiPiece, score: ScoreNotes, predicted: np.ndarray, expression: Expression) -> Plan:
    """Where each note of `score` (= `notes.score_notes(piece)`) goes, and the pedal (see the module)."""
    grid = piece.file_grid or piece.grid
    tpq = grid.ticks_per_quarter
    tempo_mode = expression.timing_as == "tempo" and expression.timing > 0  # no timing: the tempo map stays
    rubato = expression.timing > 0 and (tempo_mode or not has_other_instruments(piece))
    beats_q, beats_s = beat_times(score, predicted[:, 1], expression.timing if rubato else 0.0)
    onset_s = extrapolated_interp(score.onset, beats_q, beats_s)
    beat_len = np.diff(beats_s)
    i = np.clip(np.searchsorted(beats_q, score.onset, side="right") - 1, 0, len(beat_len) - 1)
    limit = np.minimum(MAX_ONSET_SHIFT, MAX_ONSET_BEAT_SHARE * beat_len[i])
    shift = np.clip(expression.timing * predicted[:, 2], -limit, limit)
    written = np.maximum(extrapolated_interp(score.offset, beats_q, beats_s) - onset_s, 0.0)
    held = np.maximum(written * np.exp2(expression.articulation * np.clip(predicted[:, 3], *DURATION_LIMIT)), MIN_SECONDS)
    start = onset_s + shift
    end = start + np.where(expression.articulation > 0, held, np.maximum(written, MIN_SECONDS))
    start, end = _keep_key_order(score.pitch, start, end, SAME_KEY_GAP)
    start = np.maximum(start, 0.0)
    if tempo_mode:
        spq = np.diff(beats_s) / np.diff(beats_q)
        out_grid = BeatGrid(grid.steps_per_quarter, beats_s[:-1] - beats_s[0] + float(score.seconds(beats_q[:1])[0]),
                            beats_q[:-1], 60.0 / spq, tpq)
        if beats_q[0] > 0:  # the stretch before the first beat keeps the file's first tempo
            out_grid = BeatGrid(grid.steps_per_quarter, np.concatenate([[0.0], out_grid.change_times]),
                                np.concatenate([[0.0], out_grid.change_quarters]),
                                np.concatenate([[60.0 / score.tempo[0, 1]], out_grid.qpm]), tpq)
        tempo = [(int(round(q * tpq)), int(np.clip(round(60e6 / qpm), 1, MAX_TEMPO)))
                 for q, qpm in zip(out_grid.change_quarters, out_grid.qpm)]
    else:
        out_grid, tempo = grid, None
    start_tick = out_grid.seconds_to_ticks(start)
    end_tick = np.maximum(out_grid.seconds_to_ticks(end), start_tick + 1)
    start_tick, end_tick = _keep_key_order(score.pitch, start_tick, end_tick, 1)
    mode = expression.pedal
    if mode == "auto":
        mode = "keep" if has_pedal(piece) else "add"
    pedal = _pedal_events(score, predicted, start, end, out_grid) if mode == "add" else None
    warp = None
    if not tempo_mode and score.n_notes:  # a kept pedal follows its chords: each chord's first new onset
        chord_q, chord = score.chords()
        first = np.full(len(chord_q), np.inf)
        np.minimum.at(first, chord, start)
        warp = (chord_q, np.maximum.accumulate(first), beats_q, beats_s)
    steady = bool(score.n_notes) and float(np.ptp(predicted[:, 1])) < 1e-9
    return Plan(start, end, start_tick.astype(np.int64), end_tick.astype(np.int64), tempo, pedal,
                mode in ("add", "off"), rubato, out_grid, warp, steady)


def _pedal_events(score: ScoreNotes, predicted: np.ndarray, start: np.ndarray, end: np.ndarray, grid: BeatGrid) -> list:
    """[(tick, value)] of a sustain pedal for the chords of `score` (see the module docstring)."""
    onsets, chord = score.chords()
    n = len(onsets)
    first = np.full(n, np.inf)
    np.minimum.at(first, chord, start)
    down_p = np.bincount(chord, predicted[:, 4], n) / np.bincount(chord, minlength=n)
    lift_p = np.bincount(chord, predicted[:, 5], n) / np.bincount(chord, minlength=n)
    events, down = [], False
    for g in range(n):
        after = first[g + 1] if g + 1 < n else first[g] + 1.0
        press = first[g] + min(PEDAL_DELAY, 0.5 * (after - first[g]))
        if down_p[g] > 0.5:
            if not down:
                events.append((press, 127))
                down = True
            elif lift_p[g] > 0.5:
                events.append((first[g], 0))
                events.append((press, 127))
        elif down:
            events.append((first[g], 0))
            down = False
    if down:
        events.append((float(np.max(end)), 0))
    if not events:
        return []
    ticks = grid.seconds_to_ticks(np.array([t for t, _ in events]))
    out, last = [], -1
    for tick, (_, value) in zip(ticks.tolist(), events):
        tick = max(tick, last + (1 if value == 127 and out and out[-1][1] == 0 else 0))
        out.append((tick, value))
        last = tick
    return out


def piano_note_events(piece: MidiPiece) -> tuple[list[tuple[int, int, int, int, int, int]], set]:
    """(notes, kept): every piano note of the file as pretty_midi reads it (and so as `midifile.load_midi`
    does), as its events -- (track, note-on index, index of the note-off that ends it, channel, key, on
    tick) -- and the (track, event index) of the events that make no note (a note-on ended at its own tick,
    with the note-off that ends it; a note-on never ended), which stay where they are.  As pretty_midi: a
    note-off ends every open note of its channel and key begun at an earlier tick; one begun at its own
    tick stays open if it ended an earlier one, else is dropped.  The file's ticks are absolute (as
    `midifile.load_midi` leaves them)."""
    notes, kept = [], set()
    for t, track in enumerate(piece.midi.tracks):
        open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (channel, key) -> [(tick, index)]
        for i, (msg, piano) in enumerate(zip(track, piece.piano_events(t, track))):
            if not piano or msg.type not in ("note_on", "note_off") or not LOWEST_KEY <= msg.note <= HIGHEST_KEY:
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault(key, []).append((msg.time, i))
            elif key in open_notes:
                close = [(tick, on) for tick, on in open_notes[key] if tick != msg.time]
                stay = [(tick, on) for tick, on in open_notes[key] if tick == msg.time]
                notes += [(t, on, i, msg.channel, msg.note, tick) for tick, on in close]
                if close and stay:
                    open_notes[key] = stay
                else:
                    del open_notes[key]
                    if not close:  # notes begun and ended at this tick: none
                        kept |= {(t, on) for _, on in stay} | {(t, i)}
        kept |= {(t, on) for pending in open_notes.values() for _, on in pending}
    return notes, kept


def write(piece: MidiPiece, plan: Plan, score: ScoreNotes, velocities: list[dict] | None = None) -> bytes:
    """The file as SMF bytes with its piano notes at `plan`'s ticks (`velocities`: per track {note-on event
    index: new velocity}, as `codec.new_velocities` gives), the plan's tempo map and pedal; everything else
    kept.  Piano note events that make no note -- a note-off that ends nothing, a note begun and ended at
    one tick, a note never ended (`piano_note_events`) -- are left out: among moved notes they would cut one
    short or begin a new one.""" 
    import mido

    grid = piece.file_grid or piece.grid
    score_of_piece = np.empty(score.n_notes, np.int64)
    score_of_piece[score.order] = np.arange(score.n_notes)
    by_onset: dict[tuple[int, int], list[int]] = {}
    for i, (key, tick) in enumerate(zip(piece.pitch.tolist(), grid.seconds_to_ticks(piece.start).tolist())):
        by_onset.setdefault((key, tick), []).append(int(score_of_piece[i]))
    moved: dict[tuple[int, int], int] = {}  # (track, event index) -> new tick
    unended: dict[int, list] = {}  # track -> [(tick, channel, key)] of note-offs to add
    events_of_notes, _ = piano_note_events(piece)
    for track, on, off, channel, key, tick in events_of_notes:
        candidates = by_onset.get((key, tick))
        if not candidates:  # not a note of the score (cannot happen for a file read by load_midi): as it was
            moved[(track, on)], moved[(track, off)] = tick, piece.midi.tracks[track][off].time
            continue
        s = candidates.pop(0)
        moved[(track, on)] = int(plan.start_tick[s])
        if (track, off) in moved:  # one note-off ended several notes: each gets its own end
            unended.setdefault(track, []).append((int(plan.end_tick[s]), channel, key))
        else:
            moved[(track, off)] = int(plan.end_tick[s])
    pedal_channels: dict[int, set] = {}
    for track, _, _, channel, _, _ in events_of_notes:
        pedal_channels.setdefault(track, set()).add(channel)
    tracks = []
    for t, track in enumerate(piece.midi.tracks):
        flags = piece.piano_events(t, track)
        new_velocity = velocities[t] if velocities else {}
        events = []
        for i, (msg, piano) in enumerate(zip(track, flags)):
            tick = msg.time
            if msg.type == "set_tempo" and plan.tempo is not None:
                continue
            if piano and msg.type == "control_change" and msg.control == 64:
                if plan.drop_pedal:
                    continue
                tick = plan_tick(plan, grid, tick)
            note = piano and msg.type in ("note_on", "note_off") and LOWEST_KEY <= msg.note <= HIGHEST_KEY
            is_off = note and (msg.type == "note_off" or msg.velocity == 0)
            if note and (t, i) not in moved:
                continue  # a note-off that ends nothing, or events that make no note: once the notes around
                # them move, they would cut a note short or begin a new one
            if (t, i) in moved:  # at one tick, a moved note ends before another starts
                events.append((moved[(t, i)], 0 if is_off else 2, i, msg, new_velocity.get(i)))
            else:  # kept where it was, in its own order (a zero-length note stays one)
                events.append((tick, 1, i, msg, new_velocity.get(i)))
        events += [(tick, 0, -1, mido.Message("note_off", channel=channel, note=key, velocity=0), None)
                   for tick, channel, key in unended.get(t, ())]
        if t == 0 and plan.tempo is not None:
            events += [(tick, 1, -1, mido.MetaMessage("set_tempo", tempo=value), None) for tick, value in plan.tempo]
        if plan.pedal:  # sustain is per channel: every channel that plays piano notes in this track hears it
            for channel in sorted(pedal_channels.get(t, ())):
                events += [(tick, 1, 10 ** 9, mido.Message("control_change", channel=channel, control=64, value=value),
                            None) for tick, value in plan.pedal]
        events.sort(key=lambda e: e[:3])
        tracks.append([(tick, msg, velocity) for tick, _, _, msg, velocity in events])
    return smf_bytes(piece.midi.type, piece.midi.ticks_per_beat, tracks)


def describe(plan: Plan, expression: Expression) -> str:
    """What `plan` wrote, in words (perform's line)."""
    parts = []
    if expression.timing > 0 and plan.rubato and plan.steady:
        parts.append("timing against a steady beat" + (" (as a tempo map)" if plan.tempo is not None else ""))
    elif expression.timing > 0:
        parts.append("rubato as a tempo map" if plan.tempo is not None else "rubato" if plan.rubato else
                     "timing against the beat (its band keeps the tempo)")
    if expression.articulation > 0:
        parts.append("articulation")
    parts.append("pedal added" if plan.pedal is not None else "pedal removed" if plan.drop_pedal else "its own pedal kept")
    return ", ".join(parts)


def plan_tick(plan: Plan, grid: BeatGrid, tick: int) -> int:
    """Where an event of the file at `tick` (a pedal kept) goes when the notes move (notes mode)."""
    if plan.warp is None:
        return tick
    chord_q, chord_s, beats_q, beats_s = plan.warp
    q = np.array([tick / grid.ticks_per_quarter])
    if len(chord_q) > 1 and chord_q[0] <= q[0] <= chord_q[-1]:
        seconds = np.interp(q, chord_q, chord_s)  # between two chords: where they went
    else:  # before the first or after the last: with the beats
        seconds = extrapolated_interp(q, beats_q, beats_s) + (chord_s[0 if q[0] < chord_q[0] else -1]
                                                  - extrapolated_interp(chord_q[[0 if q[0] < chord_q[0] else -1]], beats_q, beats_s))
    return int(grid.seconds_to_ticks(np.maximum(seconds, 0.0))[0])
