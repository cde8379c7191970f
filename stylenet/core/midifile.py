"""Reading MIDI files, checked: a file's piano notes, its beat grid and meter map.

    load_midi(path)            -> MidiPiece   the file, its piano notes (General MIDI programs 0-7, keys A0-C8),
                                              its beat grid (BeatGrid: ticks <-> seconds <-> grid steps) and meters
    find_midi(paths)           -> [Path]      files as given, folders searched for MIDI files

A file that cannot be read -- empty, truncated, oversized, not MIDI at all -- raises MidiReadError with one
line naming the file and the reason; anything else that escapes is a bug (the fuzzer, tests/midi_fuzz.py,
feeds thousands of broken files through here).  Writing files back is smf.py's.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stylenet.core.errors import FileError

if TYPE_CHECKING:
    from stylenet.core.codec import Score


LOWEST_KEY = 21  # A0, the lowest key of an 88-key piano
N_KEYS = 88
HIGHEST_KEY = LOWEST_KEY + N_KEYS - 1  # C8


DEFAULT_STEPS_PER_QUARTER = 4  # 1/16 notes
PIANO_PROGRAMS = tuple(range(8))  # General MIDI 1-8: acoustic grand ... clavinet
DRUM_CHANNEL = 9  # MIDI channel 10, counted from zero
MIDI_SUFFIXES = {".mid", ".midi", ".smf", ".kar"}


# Size bounds, so one file cannot exhaust memory.  pretty_midi keeps a float64 per tick up to the last event
# (its own limit is 1e7 ticks, 80 MB); `perform` needs about 4 KB per grid step, so 2**17 steps (4.5 hours
# at 120 quarter notes a minute) stay well under 1 GB.  Real piano files are far below all three.
MAX_TICKS = 10_000_000
MAX_STEPS = 2 ** 17
MAX_FILE_BYTES = 16 * 2 ** 20


@dataclass(frozen=True)
class Input:
    """A file to read: `path`, and the folder it was found under (`root`; None: named itself)."""

    path: Path
    root: Path | None = None


class MidiReadError(FileError):
    """A MIDI file that cannot be used, with a reason a person can act on."""


@dataclass(frozen=True)
class BeatGrid:
    """Maps seconds to musical time (quarter notes, grid steps) through a file's tempo map.

    `change_times[i]` is when tempo `qpm[i]` (quarter notes per minute) takes effect; `change_quarters[i]`
    is the same moment counted in quarter notes from the start of the file.
    """

    steps_per_quarter: int
    change_times: np.ndarray
    change_quarters: np.ndarray
    qpm: np.ndarray
    ticks_per_quarter: int = 480

    @classmethod
    def constant(cls, qpm: float = 120.0, steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER,
                 ticks_per_quarter: int = 480) -> "BeatGrid":
        return cls(steps_per_quarter, np.zeros(1), np.zeros(1), np.array([float(qpm)]), ticks_per_quarter)

    @classmethod
    def from_midi(cls, pm, steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER) -> "BeatGrid":
        """The tempo map of a `pretty_midi.PrettyMIDI` object."""
        times, qpm = pm.get_tempo_changes()
        times = np.asarray(times, dtype=np.float64)
        qpm = np.asarray(qpm, dtype=np.float64)
        if len(times) == 0 or times[0] > 0:  # MIDI's default tempo holds until the first tempo event
            times = np.concatenate([[0.0], times])
            qpm = np.concatenate([[120.0], qpm])
        quarters = np.concatenate([[0.0], np.cumsum(np.diff(times) * qpm[:-1] / 60.0)])
        return cls(steps_per_quarter, times, quarters, qpm, int(pm.resolution))

    def seconds_to_ticks(self, seconds) -> np.ndarray:
        """Exact MIDI ticks of times in seconds (rounded to the tick they were read from)."""
        seconds = np.asarray(seconds, dtype=np.float64)
        i = np.clip(np.searchsorted(self.change_times, seconds, side="right") - 1, 0, None)
        quarters = self.change_quarters[i] + (seconds - self.change_times[i]) * self.qpm[i] / 60.0
        return np.rint(quarters * self.ticks_per_quarter).astype(np.int64)

    def ticks_to_steps(self, ticks) -> np.ndarray:
        """Nearest grid step of integer ticks; a tick exactly half-way rounds up (later step)."""
        ticks = np.asarray(ticks, dtype=np.int64)
        tpq = self.ticks_per_quarter
        return (2 * ticks * self.steps_per_quarter + tpq) // (2 * tpq)

    def seconds_to_steps(self, seconds) -> np.ndarray:
        return self.ticks_to_steps(self.seconds_to_ticks(seconds))

    def ticks_to_seconds(self, ticks) -> np.ndarray:
        quarters = np.asarray(ticks, dtype=np.float64) / self.ticks_per_quarter
        i = np.clip(np.searchsorted(self.change_quarters, quarters, side="right") - 1, 0, None)
        return self.change_times[i] + (quarters - self.change_quarters[i]) * 60.0 / self.qpm[i]

    def steps_to_seconds(self, steps) -> np.ndarray:
        quarters = np.asarray(steps, dtype=np.float64) / self.steps_per_quarter
        i = np.clip(np.searchsorted(self.change_quarters, quarters, side="right") - 1, 0, None)
        return self.change_times[i] + (quarters - self.change_quarters[i]) * 60.0 / self.qpm[i]


COMPOUND_NUMERATORS = (6, 9, 12, 15, 18, 24)


def meter_steps(numerator: int, denominator: int, steps_per_quarter: int) -> tuple[float, float, float]:
    """(bar, beat, sub-beat) lengths in grid steps of a time signature.

    A beat is the denominator's note, except in compound meters (6/8, 9/8, 12/8, ...) where the felt
    beat is three of them (a dotted note): 6/8 has two beats of three eighths.  A sub-beat divides the beat
    in three in compound meters and in two otherwise.
    """
    unit = 4.0 / denominator * steps_per_quarter  # steps in one denominator note
    bar = numerator * unit
    compound = numerator in COMPOUND_NUMERATORS and denominator >= 8
    beat = 3 * unit if compound else unit
    return bar, beat, beat / 3 if compound else beat / 2


@dataclass
class MidiPiece:
    """One MIDI file as read: the raw events, pretty_midi's view of them, and its piano notes.

    `notes` holds every note of a piano instrument (non-drum, program in `programs`) inside the 88 keys,
    merged into one part; `dropped_out_of_range` counts the piano notes outside A0..C8.

    `grid` is the beat grid the notes are quantised on: the file's own tempo map, unless the piece was
    read on its beats (`beats.conform`), in which case `file_grid` keeps the file's tempo map (to find the
    file's events) and `meters_override` the beats' meter map.
    """

    path: str
    midi: object  # mido.MidiFile, event times in absolute ticks
    pm: object  # pretty_midi.PrettyMIDI
    programs: tuple
    pitch: np.ndarray
    start: np.ndarray  # seconds
    end: np.ndarray
    velocity: np.ndarray
    dropped_out_of_range: int
    grid: BeatGrid = field(repr=False, default=None)
    file_grid: BeatGrid | None = field(repr=False, default=None)
    meters_override: np.ndarray | None = field(repr=False, default=None)
    tracks: tuple | None = None  # the tracks (indices) named as the piano (`load_midi(tracks=...)`); None: by program
    others: tuple = ()  # with `tracks`: the other instruments that play notes, by name

    @property
    def n_notes(self) -> int:
        return int(len(self.pitch))

    @property
    def meters(self) -> list[str]:
        """Time signatures in order of appearance; MIDI's default 4/4 when the file names none."""
        if self.meters_override is not None:
            found = [f"{n}/{d}" for _, n, d in self.meters_override]
        else:
            found = [f"{ts.numerator}/{ts.denominator}" for ts in self.pm.time_signature_changes]
        return list(dict.fromkeys(found)) or ["4/4"]

    @property
    def other_instruments(self) -> list[str]:
        """The instruments of the file that are not its piano and play notes (drums included), by name or
        General MIDI program: what the piano is mixed with."""
        import pretty_midi

        if self.tracks is not None:
            return list(self.others)
        return [inst.name.strip() or ("drums" if inst.is_drum else pretty_midi.program_to_instrument_name(inst.program))
                for inst in self.pm.instruments if inst.notes and (inst.is_drum or inst.program not in self.programs)]

    def piano_events(self, index: int, track) -> list[bool]:
        """For each event of track `index` (absolute ticks): is it the piano's?  By channel program, or, where
        the piano's tracks were named, every non-drum event of those tracks."""
        if self.tracks is not None and index not in self.tracks:
            return [False] * len(track)
        return piano_flags(track, self.programs)

    def meter_map(self) -> np.ndarray:
        """[(step, numerator, denominator)] int64: each time signature and the grid step it starts at.

        Impossible signatures (a zero numerator or a denominator that is not a power of two) are left
        out; of several on one step the last one written wins, as a sequencer would read them.
        """
        if self.meters_override is not None:
            return np.asarray(self.meters_override, np.int64).reshape(-1, 3)
        rows = {}
        for ts in self.pm.time_signature_changes:
            n, d = int(ts.numerator), int(ts.denominator)
            if n >= 1 and d >= 1 and d & (d - 1) == 0:
                rows[int(self.grid.seconds_to_steps(ts.time))] = (n, d)
        return np.array([(step, n, d) for step, (n, d) in sorted(rows.items())], dtype=np.int64).reshape(-1, 3)

    @property
    def n_tempo_changes(self) -> int:
        return int(len(self.pm.get_tempo_changes()[0]))

    @property
    def seconds(self) -> float:
        return float(self.end.max()) if len(self.end) else 0.0


def load_midi(path, programs=PIANO_PROGRAMS, steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER,
              data: bytes | None = None, tracks=None) -> MidiPiece:
    """Read a Standard MIDI File (format 0 or 1, or one wrapped in RIFF RMID) and gather its piano notes:
    those of the General MIDI `programs`, or, with `tracks` (indices from 0 or track names), every non-drum
    note of those tracks whatever its program.

    Raises MidiReadError with a one-line reason for an empty, truncated, oversized or otherwise unreadable
    file.  Anything else that escapes is a bug.
    """
    import warnings

    import mido
    import pretty_midi

    path = str(path)
    size = None if data is None else len(data)
    if data is None:
        try:
            size = Path(path).stat().st_size
            data = b"" if size > MAX_FILE_BYTES else Path(path).read_bytes()  # the header check says why
        except OSError as exc:
            raise MidiReadError(path, f"cannot read file ({exc.strerror or exc})") from None
    data = _check_header(path, _unwrap_riff(path, data), size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            midi = mido.MidiFile(file=io.BytesIO(data))
            if not midi.tracks or not any(len(track) for track in midi.tracks):
                raise MidiReadError(path, "MIDI file has no events")
            _check_events(path, midi)
            chosen = None if tracks is None else _chosen_tracks(path, midi, tracks)
            piano_view = None if chosen is None else pretty_midi.PrettyMIDI(mido_object=_only_tracks(midi, chosen))
            # pretty_midi turns the event times into absolute ticks in place; we keep that view.
            pm = pretty_midi.PrettyMIDI(mido_object=midi)
    except MidiReadError:
        raise
    except mido.midifiles.meta.KeySignatureError as exc:
        raise MidiReadError(path, f"impossible key signature ({exc})") from None
    except (EOFError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise MidiReadError(path, f"unreadable MIDI ({_parse_failure(exc)})") from None
    programs = tuple(programs) if chosen is None else tuple(range(128))
    notes = [n for inst in (piano_view or pm).instruments if not inst.is_drum and inst.program in programs
             for n in inst.notes]
    pitch = np.fromiter((n.pitch for n in notes), dtype=np.int64, count=len(notes))
    start = np.fromiter((n.start for n in notes), dtype=np.float64, count=len(notes))
    end = np.fromiter((n.end for n in notes), dtype=np.float64, count=len(notes))
    velocity = np.fromiter((n.velocity for n in notes), dtype=np.int64, count=len(notes))
    inside = (pitch >= LOWEST_KEY) & (pitch <= HIGHEST_KEY)
    others = () if chosen is None else _others(pm, piano_view)
    return MidiPiece(path, midi, pm, programs, pitch[inside], start[inside], end[inside], velocity[inside],
                     int((~inside).sum()), BeatGrid.from_midi(pm, steps_per_quarter), tracks=chosen, others=others)


def _chosen_tracks(path: str, midi, tracks) -> tuple:
    """The indices of the tracks `tracks` names (an index from 0, or a track name, any case), or a one-line
    MidiReadError saying which tracks the file has."""
    names = [(track.name or "").strip() for track in midi.tracks]
    chosen = []
    for want in tracks:
        text = str(want).strip()
        hits = ([int(text)] if text.isdigit() and int(text) < len(names) else
                [i for i, name in enumerate(names) if name and name.lower() == text.lower()])
        if not hits:
            listed = ", ".join(f"{i} {name!r}" if name else str(i) for i, name in enumerate(names))
            raise MidiReadError(path, f"no track {text!r} (its tracks: {listed})")
        chosen += hits
    return tuple(sorted(set(chosen)))


def _only_tracks(midi, chosen: tuple):
    """A copy of `midi` (delta times) whose other tracks keep only their meta events (tempo, meter), so that
    pretty_midi reads notes from the chosen tracks alone, on the same time line."""
    import mido

    copy = mido.MidiFile(type=midi.type, ticks_per_beat=midi.ticks_per_beat)
    for index, track in enumerate(midi.tracks):
        kept, carried = mido.MidiTrack(), 0
        for msg in track:
            if index in chosen or msg.is_meta:
                kept.append(msg.copy(time=msg.time + carried))
                carried = 0
            else:
                carried += msg.time
        copy.tracks.append(kept)
    return copy


def _others(pm, piano_view) -> tuple:
    """The instruments of the whole file that the piano's tracks do not hold, by name or program."""
    import pretty_midi

    piano = [(i.program, i.is_drum, len(i.notes)) for i in piano_view.instruments if i.notes]
    others = []
    for inst in pm.instruments:
        if not inst.notes:
            continue
        key = (inst.program, inst.is_drum, len(inst.notes))
        if key in piano and not inst.is_drum:
            piano.remove(key)
            continue
        others.append(inst.name.strip() or ("drums" if inst.is_drum else pretty_midi.program_to_instrument_name(inst.program)))
    return tuple(others)


def describe_programs(programs) -> str:
    """General MIDI programs in words, counted from 0 as MIDI files store them: 'programs 0-7 (the pianos)'."""
    programs = sorted(set(programs))
    if tuple(programs) == PIANO_PROGRAMS:
        return "General MIDI programs 0-7, the pianos"
    runs, start = [], None
    for i, p in enumerate(programs):
        start = p if start is None else start
        if i + 1 == len(programs) or programs[i + 1] != p + 1:
            runs.append(f"{start}-{p}" if p > start else f"{p}")
            start = None
    return f"General MIDI programs {','.join(runs)}"


def find_midi(paths) -> list[Path]:
    """Files as given; folders searched recursively (sorted) for MIDI files (`find_inputs`, without the folders)."""
    return [i.path for i in find_inputs(paths)]


def find_inputs(paths) -> list[Input]:
    """Each file as given (its own `Input`), and every MIDI file below each folder (sorted), with the folder
    it was found under, so that outputs can keep its place below it.  Hidden files are left out."""
    found = []
    for text in paths:
        p = Path(text)
        if p.is_dir():
            found += [Input(f, p) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in MIDI_SUFFIXES
                      and not any(part.startswith(".") for part in f.relative_to(p).parts)]
        else:
            found.append(Input(p, None))
    return found


def _parse_failure(exc: Exception) -> str:
    """mido's and pretty_midi's complaint about malformed bytes, in words."""
    if isinstance(exc, EOFError):
        return "the file ends inside a chunk or an event; truncated?"
    if isinstance(exc, (KeyError, IndexError, TypeError)):  # mido indexing into an event too short for its kind
        return f"malformed event ({type(exc).__name__}: {exc})"
    return str(exc).strip() or type(exc).__name__


def _unwrap_riff(path: str, data: bytes) -> bytes:
    """The SMF inside a RIFF RMID file (what Windows' MIDI tools save); other data unchanged."""
    if not (data.startswith(b"RIFF") and data[8:12] == b"RMID"):
        return data
    position = 12
    while position + 8 <= len(data):
        tag, size = data[position:position + 4], struct.unpack("<L", data[position + 4:position + 8])[0]
        if tag == b"data":
            return data[position + 8:position + 8 + size]
        position += 8 + size + (size & 1)  # RIFF chunks are padded to even length
    raise MidiReadError(path, "RIFF MIDI (RMID) file without a 'data' chunk")


def _check_header(path: str, data: bytes, size: int) -> bytes:
    """Reject what the parsers would misread or divide by: the file must open with a sane MThd chunk."""
    if size > MAX_FILE_BYTES:
        raise MidiReadError(path, f"file of {size / 2 ** 20:.0f} MB is larger than the {MAX_FILE_BYTES // 2 ** 20} MB "
                                  "StyleNet reads; piano MIDI files are far smaller")
    if not data:
        raise MidiReadError(path, "empty file (0 bytes)")
    if not data.startswith(b"MThd"):
        raise MidiReadError(path, "not a Standard MIDI File (no MThd header)")
    if len(data) < 14:
        raise MidiReadError(path, f"unreadable MIDI (header cut off after {len(data)} bytes)")
    division = struct.unpack(">H", data[12:14])[0]
    if division & 0x8000:
        raise MidiReadError(path, "SMPTE time division (frames per second) is not supported; "
                                  "re-save the file with ticks per quarter note")
    if division == 0:
        raise MidiReadError(path, "time division of 0 ticks per quarter note (corrupt header)")
    return data


def _check_events(path: str, midi) -> None:
    """Reject, before pretty_midi reads it, a file whose tempo map is impossible or that runs absurdly long."""
    longest = 0
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo" and msg.tempo <= 0:
                raise MidiReadError(path, f"tempo event of {msg.tempo} microseconds per quarter note at tick {tick}")
        longest = max(longest, tick)
    if longest >= MAX_TICKS:
        quarters = longest / midi.ticks_per_beat
        raise MidiReadError(path, f"too long: its last event is at tick {longest:,} ({quarters:,.0f} quarter notes); "
                                  f"StyleNet reads files shorter than {MAX_TICKS:,} ticks")


def check_length(path: str, score: "Score") -> None:
    if score.n_steps > MAX_STEPS:
        quarters = score.n_steps / score.steps_per_quarter
        raise MidiReadError(path, f"too long: the piano part lasts {quarters:,.0f} quarter notes "
                                  f"({score.n_steps:,} grid steps, about {quarters / 7200:.1f} hours at 120 qpm); "
                                  f"StyleNet handles at most {MAX_STEPS:,} steps")


def piano_flags(track, programs) -> list[bool]:
    """For each event of a track (absolute ticks): does it belong to a piano channel?"""
    program = [0] * 16
    flags = []
    for msg in track:
        channel = getattr(msg, "channel", None)
        if channel is None or msg.is_meta:  # a channel_prefix meta event names a channel, maybe an impossible one
            flags.append(False)
            continue
        if msg.type == "program_change":
            program[channel] = msg.program
        flags.append(channel != DRUM_CHANNEL and program[channel] in programs)
    return flags


