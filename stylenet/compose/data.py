"""Pieces for the composers (`stylenet compose`): reading them, the second report's filters, and the two ways
the composers see music, a piano roll of bars and a sequence of chord tokens.

**The grid.** The report's autoencoder reads 24 time steps a bar.  Our built datasets hold a 1/16-note grid
(16 steps to a 4/4 bar), and 24 steps cannot be resampled from 16 without moving notes (a 16th note lies 1.5
steps of 24 apart).  So the composers read each piece's MIDI again — a built dataset's `midi/` piano part
(one track, the file's own tempo and meter events, unquantised) or any MIDI file — onto a grid of
`STEPS_PER_QUARTER` = 6 steps a quarter note: 24 steps are one bar of four quarter notes, which holds
sixteenths (rounded to the nearer of two steps) and eighth and sixteenth triplets exactly.  A bar here is
always four quarter notes from the start of the piece, whatever its time signature (the report's bars).

**Pitches.** 96 of them, `LOWEST_PITCH` (MIDI 16) to 111: the piano's 88 keys (21-108) with a little room
on each side for transposition.

**Filters** (the report's data preparation; each one an option of `ComposeDataConfig`):

* *tempo*: keep pieces whose prevailing tempo (the tempo in force for the most time; `prevailing_tempo`)
  lies in 110-130 quarter notes a minute, so that a bar lasts about as long in every piece;
* *leading silence*: drop the empty bars before the first note (whole bars, so bar lines stay where they
  were and a pickup keeps its place in the bar);
* *one key*: transpose every piece to C major or A minor (the same seven pitch classes), by the smallest
  shift (-6..+5 semitones).  The key is estimated by Krumhansl-Schmuckler (`find_key`): the piece's
  pitch-class profile, weighted by duration, correlated with the Krumhansl-Kessler profile of each of the
  24 keys.  Not the file's key-signature events: most POP909 files have none (107 of its 734 train pieces do) and a
  key signature does not tell major from its relative minor, while a profile reads what is played.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylenet.core import codec, midifile, smf
from stylenet.core.errors import StyleNetError

STEPS_PER_QUARTER = 6
QUARTERS_PER_BAR = 4
STEPS_PER_BAR = STEPS_PER_QUARTER * QUARTERS_PER_BAR  # 24, the report's time steps per bar
LOWEST_PITCH = 16
N_PITCHES = 96  # MIDI 16..111
FLAT_VELOCITY = 64  # what a composer writes: every note alike, for `perform` to shape
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


# Krumhansl & Kessler (1982): how well each pitch class fits a major or minor key whose tonic is pitch class 0,
# as rated by listeners.  A piece's own profile correlates best with the profile of its key.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
TARGET_TONIC = {"major": 0, "minor": 9}  # C major and A minor: one collection of pitch classes, no sharps


@dataclass(frozen=True)
class Tune:
    """One piece's piano notes on the composers' grid (6 steps a quarter), after the filters.

    `pitch`, `onset` and `offset` are parallel arrays (offset exclusive), sorted by onset then pitch.
    `key` is the key the piece was found in before any transposition, `shift` the semitones it was moved.
    """

    name: str
    genre: str | None
    pitch: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    qpm: float  # the prevailing tempo of the file, quarter notes a minute
    key: str = ""
    shift: int = 0
    group: str = ""  # the piece it belongs to (versions of one tune are held out together)
    trimmed_bars: int = 0  # empty bars removed before the first note

    @property
    def n_notes(self) -> int:
        return int(len(self.pitch))

    @property
    def n_steps(self) -> int:
        return int(self.offset.max()) if len(self.offset) else 0

    @property
    def n_bars(self) -> int:
        return -(-self.n_steps // STEPS_PER_BAR)


@dataclass(frozen=True)
class Filters:
    tempo_range: tuple[float, float] | None = (110.0, 130.0)
    trim_leading_silence: bool = True
    transpose: bool = True

    @classmethod
    def of(cls, data_config) -> "Filters":
        tempo = tuple(data_config.tempo_range) if data_config.tempo_range else None
        return cls(tempo, data_config.trim_leading_silence, data_config.transpose)


NO_FILTERS = Filters(None, False, False)  # a piece as written (generated music, round trips)


def prevailing_tempo(piece: midifile.MidiPiece) -> float:
    """The tempo (quarter notes a minute) in force for the longest total time up to the last note.

    Not the first tempo event (many files open with a placeholder), nor an average (a piece with a slow
    introduction and a fast body averages to a tempo it never plays)."""
    grid = piece.grid
    end = max(piece.seconds, float(grid.change_times[-1]))
    spans = np.diff(np.concatenate([grid.change_times, [end]]))
    if spans.sum() <= 0:
        return float(grid.qpm[0])
    by_tempo: dict[float, float] = {}
    for qpm, span in zip(np.round(grid.qpm, 3), spans):
        by_tempo[float(qpm)] = by_tempo.get(float(qpm), 0.0) + float(span)
    return max(by_tempo.items(), key=lambda item: (item[1], -item[0]))[0]


def find_key(pitch, duration) -> tuple[int, str, float]:
    """(tonic pitch class, 'major' or 'minor', correlation) of the notes, by Krumhansl-Schmuckler: the
    duration-weighted pitch-class profile correlated with each key's Krumhansl-Kessler profile."""
    profile = np.bincount(np.asarray(pitch) % 12, weights=np.asarray(duration, np.float64), minlength=12)
    if not profile.any() or profile.std() == 0:
        return 0, "major", 0.0
    best = (0, "major", -2.0)
    for mode, template in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(profile, np.roll(template, tonic))[0, 1])
            if r > best[2]:
                best = (tonic, mode, r)
    return best


def key_name(tonic: int, mode: str) -> str:
    return f"{PITCH_CLASSES[tonic]} {mode}"


def transposition(tonic: int, mode: str) -> int:
    """Semitones (-6..+5) that move a key to C major or A minor: the smallest move, so the register stays."""
    return (TARGET_TONIC[mode] - tonic + 6) % 12 - 6


def read_tune(path, filters: Filters = NO_FILTERS, name: str | None = None, genre: str | None = None,
              group: str = "") -> Tune:
    """A MIDI file's piano notes on the composers' grid, with the silence and key filters applied (the tempo
    filter is the caller's: it drops pieces rather than changing them).  MidiReadError for a bad file."""
    piece = midifile.load_midi(path, steps_per_quarter=STEPS_PER_QUARTER)
    score = codec.quantise(piece)
    order = np.lexsort((score.pitch, score.onset))
    pitch, onset, offset = score.pitch[order], score.onset[order], score.offset[order]
    lead = 0
    if filters.trim_leading_silence and len(onset):
        lead = int(onset.min()) // STEPS_PER_BAR * STEPS_PER_BAR
        onset, offset = onset - lead, offset - lead
    key, shift = "", 0
    if len(pitch):
        tonic, mode, _ = find_key(pitch, offset - onset)
        key = key_name(tonic, mode)
        if filters.transpose:
            shift = transposition(tonic, mode)
            pitch = pitch + shift
    return Tune(name or Path(path).stem, genre, pitch, onset, offset, prevailing_tempo(piece), key, shift,
                group or name or str(path), lead // STEPS_PER_BAR)


@dataclass
class FilterCounts:
    """How many pieces each filter kept and dropped (the report's data preparation, measured)."""

    source: str
    read: int = 0
    unreadable: int = 0
    no_notes: int = 0
    tempo: int = 0  # dropped: prevailing tempo outside the range
    short: int = 0  # dropped: too short for one training example
    kept: int = 0
    trimmed: int = 0  # kept pieces whose leading silence was removed
    transposed: int = 0  # kept pieces moved to another key
    keys: Counter = field(default_factory=Counter)  # kept pieces by the key they were found in
    tempo_range: tuple | None = None
    short_reason: str = ""
    longest_bars: int = 0  # of the pieces the tempo filter kept
    longest_chords: int = 0

    def lines(self) -> list[str]:
        tempo = (f"prevailing tempo outside {self.tempo_range[0]:g}-{self.tempo_range[1]:g} qpm"
                 if self.tempo_range else "tempo (no tempo filter)")
        rows = [(f"pieces read from {self.source}", self.read), ("dropped: unreadable", self.unreadable),
                ("dropped: no piano notes", self.no_notes), (f"dropped: {tempo}", self.tempo),
                (f"dropped: {self.short_reason or 'too short'}", self.short), ("kept", self.kept),
                ("  of them with leading silence removed", self.trimmed),
                ("  of them transposed to C major / A minor", self.transposed)]
        width = max(len(label) for label, _ in rows)
        lines = [f"{label:<{width}}  {count:6d}" for label, count in rows]
        if self.keys:
            lines.append("keys found (Krumhansl-Schmuckler): " + ", ".join(
                f"{key} {n}" for key, n in self.keys.most_common(6)) + (", ..." if len(self.keys) > 6 else ""))
        return lines

    def to_dict(self) -> dict:
        return {"source": self.source, "read": self.read, "unreadable": self.unreadable, "no_notes": self.no_notes,
                "tempo": self.tempo, "short": self.short, "kept": self.kept, "trimmed": self.trimmed,
                "transposed": self.transposed, "keys": dict(self.keys.most_common()),
                "tempo_range": list(self.tempo_range) if self.tempo_range else None, "short_reason": self.short_reason}


@dataclass
class Corpus:
    train: list[Tune]
    validation: list[Tune]
    counts: FilterCounts


def source_files(source, split: str = "train", genres=()) -> list[tuple[Path, str, str | None, str]]:
    """(MIDI file, name, genre, piece) of a built dataset's split (its `midi/` piano parts) or of every MIDI
    file in a folder (split and genres apply to a dataset only)."""
    source = Path(source)
    if (source / "manifest.jsonl").is_file():
        from stylenet.data.read import load_manifest

        entries = [e for e in load_manifest(source) if (split == "all" or e["split"] == split)
                   and (not genres or e["genre"] in genres)]
        return [(source / e["midi"], e["path"], e["genre"], e.get("piece") or e["path"]) for e in entries]
    if source.is_dir():
        return [(f, f.relative_to(source).as_posix(), None, f.relative_to(source).as_posix())
                for f in midifile.find_midi([str(source)])]
    raise StyleNetError(f"{source}: neither a built dataset (no manifest.jsonl) nor a folder of MIDI files",
                        exit_code=2)


def read_tunes(files, filters: Filters, counts: FilterCounts, progress: bool = False,
               min_bars: int = 0, min_chords: int = 0) -> list[Tune]:
    """Every readable file through the filters, counting what each drops.  A piece must reach `min_bars` bars
    and `min_chords` chord tokens to be kept (one training example of the composer that reads it)."""
    from tqdm import tqdm

    kept = []
    for path, name, genre, group in tqdm(files, desc="reading pieces", unit="piece", disable=not progress):
        counts.read += 1
        try:
            tune = read_tune(path, filters, name, genre, group)
        except midifile.MidiReadError:
            counts.unreadable += 1
            continue
        if tune.n_notes == 0:
            counts.no_notes += 1
            continue
        if filters.tempo_range and not filters.tempo_range[0] <= tune.qpm <= filters.tempo_range[1]:
            counts.tempo += 1
            continue
        n_chords = len(chords(tune)) if min_chords else 0  # only the token LSTM reads chords
        counts.longest_bars = max(counts.longest_bars, tune.n_bars)
        counts.longest_chords = max(counts.longest_chords, n_chords)
        if tune.n_bars < min_bars or n_chords < min_chords:
            counts.short += 1
            continue
        counts.kept += 1
        counts.trimmed += int(tune.trimmed_bars > 0)
        counts.transposed += int(tune.shift != 0)
        counts.keys[tune.key] += 1
        kept.append(tune)
    return kept


def load_corpus(data_config, seed: int = 0, progress: bool = True, min_bars: int = 0, min_chords: int = 0) -> Corpus:
    """The filtered pieces of a compose config's data section, with a seeded validation hold-out by piece.
    Pieces shorter than `min_bars` bars or `min_chords` chord tokens are dropped; if that leaves none, the
    error names the composer's field that asks for more."""
    from stylenet.core.config import ConfigError
    from stylenet.data.splits import held_out

    try:
        files = source_files(data_config.source, data_config.split, data_config.genres)
    except StyleNetError as exc:
        raise ConfigError(f"data.source: {exc}") from None
    if not files:
        raise ConfigError(f"data.source: {data_config.source} has no MIDI files"
                          + (f" in split {data_config.split!r}" if data_config.split else "")
                          + (f" of genres {', '.join(data_config.genres)}" if data_config.genres else ""))
    filters = Filters.of(data_config)
    short_reason = (f"shorter than {min_bars} bars" if min_bars else
                    f"fewer than {min_chords} chord tokens" if min_chords else "")
    counts = FilterCounts(str(data_config.source), tempo_range=filters.tempo_range, short_reason=short_reason)
    tunes = read_tunes(files, filters, counts, progress, min_bars, min_chords)
    if data_config.max_pieces:
        tunes = tunes[:data_config.max_pieces]
    if not tunes and counts.short:
        if min_bars:
            raise ConfigError(f"autoencoder.bars: {min_bars} bars is longer than every piece left after the "
                              f"filters (longest: {counts.longest_bars} bars); lower autoencoder.bars")
        raise ConfigError(f"token_lstm.context: {min_chords - 1} tokens and one to predict are more than any "
                          f"piece left after the filters has (longest: {counts.longest_chords} tokens); "
                          "lower token_lstm.context")
    if not tunes:
        raise ConfigError(f"data: no piece of {data_config.source} is left after the filters ("
                          + "; ".join(line.strip() for line in counts.lines()[1:5]) + ")")
    held = held_out(list({t.group for t in tunes}), data_config.validation_fraction, seed)
    return Corpus([t for t in tunes if t.group not in held], [t for t in tunes if t.group in held], counts)


def piano_roll(tune: Tune, n_steps: int | None = None) -> np.ndarray:
    """[T, 96] bool: which pitches sound at each step (the report's binary roll: sounding, not struck).
    Notes outside MIDI 16..111 are left out."""
    t = tune.n_steps if n_steps is None else int(n_steps)
    roll = np.zeros((t + 1, N_PITCHES), np.int32)
    column = tune.pitch - LOWEST_PITCH
    inside = (column >= 0) & (column < N_PITCHES) & (tune.onset < t)
    np.add.at(roll, (tune.onset[inside], column[inside]), 1)
    np.add.at(roll, (np.minimum(tune.offset[inside], t), column[inside]), -1)
    return np.cumsum(roll, axis=0)[:t] > 0


def bar_chunks(tune: Tune, bars: int, hop_bars: int) -> np.ndarray:
    """[n, bars, 24, 96] uint8: the piece's passages of `bars` bars, one starting every `hop_bars` bars (the
    last one ends on the piece's last bar, so the ending is learned too)."""
    if tune.n_bars < bars:
        return np.zeros((0, bars, STEPS_PER_BAR, N_PITCHES), np.uint8)
    roll = piano_roll(tune, tune.n_bars * STEPS_PER_BAR).reshape(tune.n_bars, STEPS_PER_BAR, N_PITCHES)
    starts = sorted(set(range(0, tune.n_bars - bars + 1, hop_bars)) | {tune.n_bars - bars})
    return np.stack([roll[s:s + bars] for s in starts]).astype(np.uint8)


def roll_notes(roll: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pitch, onset, offset) of a [T, 96] sounding roll: each run of sounding steps of a pitch is one note
    (so a repeated note with no gap is heard as one held note: the roll cannot tell them apart)."""
    padded = np.pad(np.asarray(roll, bool), ((1, 1), (0, 0)))
    change = np.diff(padded.astype(np.int8), axis=0)
    start_step, start_col = np.nonzero(change.T == 1)[::-1]
    end_step, end_col = np.nonzero(change.T == -1)[::-1]
    # np.nonzero on the transpose walks pitch by pitch, so starts and ends pair up in order
    order = np.lexsort((start_col, start_step))
    return (start_col[order] + LOWEST_PITCH, start_step[order], end_step[order])


def bar_ids(tune: Tune) -> list[bytes | None]:
    """Each bar of a piece as its exact piano roll (bytes), None for an empty bar: what the copy check
    compares."""
    if tune.n_notes == 0:
        return []
    roll = np.packbits(piano_roll(tune, tune.n_bars * STEPS_PER_BAR).reshape(tune.n_bars, -1), axis=1)
    return [row.tobytes() if row.any() else None for row in roll]


def chords(tune: Tune) -> list[tuple[int, ...]]:
    """The piece as the token LSTM reads it: at each step where keys are struck, the set of pitches struck
    together, low to high.  A single note is a chord of one.  Held notes and the time between strikes are
    not part of a token (the report's representation: a melody and its rhythm become a string of chords)."""
    if tune.n_notes == 0:
        return []
    steps, first = np.unique(tune.onset, return_index=True)
    return [tuple(int(p) for p in group) for group in np.split(tune.pitch, first[1:])]


def token_text(chord: tuple[int, ...]) -> str:
    """'60.64.67' for C major's triad around middle C, '60' for middle C alone (MIDI pitches)."""
    return ".".join(str(p) for p in chord)


def text_chord(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


class Vocabulary:
    """Notes and chords mapped to integers.

    Every single key of the piano (88 tokens) is in it, and every chord heard at least `min_count` times in
    training.  A rarer chord, met in training or in an opening, is read as its outer voices (bass and top
    note, the pitches a listener follows), or, if that pair is rare too, as its top note alone (usually the
    melody).  Tokens are numbered in order of their pitches, so chords on the same bass sit together (which
    is all a network reading the token number as one scalar can use)."""

    def __init__(self, tokens: list[tuple[int, ...]]):
        self.tokens = sorted(set(tokens))
        self.index = {chord: i for i, chord in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, sequences, min_count: int) -> "Vocabulary":
        counts = Counter(chord for sequence in sequences for chord in sequence)
        singles = [(p,) for p in range(midifile.LOWEST_KEY, midifile.HIGHEST_KEY + 1)]
        return cls(singles + [chord for chord, n in counts.items() if n >= min_count])

    def known(self, chord: tuple[int, ...]) -> tuple[int, ...]:
        """The chord itself if in the vocabulary, else its outer voices, else its top note (clipped to the keys)."""
        for candidate in (chord, (chord[0], chord[-1]),
                          (min(max(chord[-1], midifile.LOWEST_KEY), midifile.HIGHEST_KEY),)):
            if candidate in self.index:
                return candidate
        raise AssertionError("every key of the piano is in the vocabulary")

    def encode(self, sequence) -> np.ndarray:
        return np.array([self.index[self.known(chord)] for chord in sequence], np.int32)

    def decode(self, ids) -> list[tuple[int, ...]]:
        return [self.tokens[int(i)] for i in ids]

    def to_json(self) -> str:
        return json.dumps({"tokens": [token_text(c) for c in self.tokens]}) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        return cls([text_chord(t) for t in json.loads(text)["tokens"]])


def chord_notes(sequence, token_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pitch, onset, offset) of chord tokens written one every `token_steps` steps, each held until the next
    (the report wrote its tokens at a fixed offset, an eighth note apart)."""
    pitch, onset = [], []
    for i, chord in enumerate(sequence):
        pitch += list(chord)
        onset += [i * token_steps] * len(chord)
    onset = np.array(onset, np.int64)
    return np.array(pitch, np.int64), onset, onset + token_steps


def tune_midi(pitch, onset, offset, qpm: float = 120.0, velocity: int = FLAT_VELOCITY) -> bytes:
    """A one-track piano MIDI file of notes on the composers' grid: every note at one velocity (a score with
    no dynamics, what `stylenet perform` is for), a set tempo and 4/4."""
    import pretty_midi

    score = codec.make_score(pitch, onset, offset, np.full(len(pitch), velocity), STEPS_PER_QUARTER)
    keep = (score.pitch >= midifile.LOWEST_KEY) & (score.pitch <= midifile.HIGHEST_KEY)
    score = codec.Score(score.pitch[keep], score.onset[keep], score.offset[keep], score.velocity[keep],
                        STEPS_PER_QUARTER)
    pm = codec.score_to_midi(score, midifile.BeatGrid.constant(qpm, STEPS_PER_QUARTER))
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    return smf.midi_bytes(pm)
