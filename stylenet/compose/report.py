"""`stylenet compose report SET... --model RUN`: generated music measured against human music, objectively.

Per piece, then averaged over each set:

* **notes per bar** — how busy the music is.
* **polyphony** — how many pitches sound at once, averaged over the steps where any sounds (MusPy's
  `polyphony`).  A melody alone is 1; a melody over three-note chords about 4.
* **pitch-class entropy** — how evenly the notes spread over the 12 pitch classes, in bits (MusPy's
  `pitch_class_entropy`): 0 for one note repeated, log2(7) = 2.81 for a C major scale played evenly, 3.58
  for all twelve alike.  Tonal music sits around 2.5-3.2.
* **scale consistency** — the share of notes inside the major or minor scale that fits them best (MusPy's
  `scale_consistency`): 1.0 when every note belongs to one key.
* **empty bars** — the share of bars where nothing sounds, up to the last note (an autoencoder decoding
  below its threshold writes silence).
* **copy check** — the longest run of consecutive bars (each exactly the same 24 x 96 roll, empty bars never
  counting) and the longest run of chord tokens that a piece shares with any one piece the composer learned
  from (the run's data source through its filters).  The report saw its models copying snippets; a human
  piece of the test split shows what chance and common patterns give.

The four music metrics follow the definitions of MusPy (Dong et al., ISMIR 2020), computed here with NumPy
on our own grid rather than by MusPy itself: its last release (0.5.0, 2022) installs from wheels on Python
3.11 but brings music21 (114 MB) and pypianoroll and takes 3 s to import, for four metrics of a few lines
each.  Ours are checked equal to MusPy's on the same notes when it is installed (tests/compose/test_report.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylenet.compose.data import (
    NO_FILTERS,
    STEPS_PER_BAR,
    FilterCounts,
    Filters,
    Tune,
    bar_ids,
    chords,
    piano_roll,
    read_tune,
    read_tunes,
    source_files,
)
from stylenet.core.errors import StyleNetError, skip_failure
from stylenet.core.fileio import atomic_write_text

MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
MINOR_SCALE = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], bool)  # natural minor


METRICS = {"notes_per_bar": "notes per bar", "polyphony": "polyphony (pitches at once)",
           "pitch_class_entropy": "pitch-class entropy (bits)", "scale_consistency": "scale consistency",
           "empty_bar_rate": "empty bars (share)", "shared_bars": "longest run of bars shared with training",
           "shared_tokens": "longest run of tokens shared with training"}


def notes_per_bar(tune: Tune) -> float:
    return tune.n_notes / tune.n_bars if tune.n_bars else math.nan


def polyphony(tune: Tune) -> float:
    sounding = piano_roll(tune).sum(axis=1)
    return float(sounding.sum() / np.count_nonzero(sounding)) if sounding.any() else math.nan


def pitch_class_entropy(tune: Tune) -> float:
    if not tune.n_notes:
        return math.nan
    share = np.bincount(tune.pitch % 12, minlength=12) / tune.n_notes
    share = share[share > 0]
    return float(-(share * np.log2(share)).sum())


def scale_consistency(tune: Tune) -> float:
    if not tune.n_notes:
        return math.nan
    counts = np.bincount(tune.pitch % 12, minlength=12)
    return float(max(counts[np.roll(scale, root)].sum() for scale in (MAJOR_SCALE, MINOR_SCALE)
                     for root in range(12)) / tune.n_notes)


def empty_bar_rate(tune: Tune) -> float:
    if not tune.n_bars:
        return math.nan
    roll = piano_roll(tune, tune.n_bars * STEPS_PER_BAR).reshape(tune.n_bars, -1)
    return float((~roll.any(axis=1)).mean())


class Reference:
    """The pieces a composer learned from, indexed for the copy check: for every bar and every chord token,
    where it occurs in the pieces laid end to end (a gap between pieces, so no run crosses two)."""

    def __init__(self, tunes: list[Tune]):
        self.pieces = len(tunes)
        self.bars = self._index([bar_ids(t) for t in tunes])
        self.tokens = self._index([chords(t) for t in tunes])

    @staticmethod
    def _index(sequences) -> dict:
        where: dict = {}
        position = 0
        for sequence in sequences:
            for item in sequence:
                if item is not None:  # an empty bar matches nothing
                    where.setdefault(item, []).append(position)
                position += 1
            position += 1  # the gap
        return {item: np.array(p, np.int64) for item, p in where.items()}

    @staticmethod
    def longest_run(sequence, where: dict) -> int:
        """The longest run of consecutive items of `sequence` found consecutively in the reference.

        Walks the sequence once, keeping for each place the item matches how long the match ending there is
        (the classic longest-common-substring table, stored only where it is not zero)."""
        best = 0
        places, lengths = np.zeros(0, np.int64), np.zeros(0, np.int64)
        for item in sequence:
            here = where.get(item) if item is not None else None
            if here is None:
                places, lengths = np.zeros(0, np.int64), np.zeros(0, np.int64)
                continue
            if len(places):
                j = np.minimum(np.searchsorted(places, here - 1), len(places) - 1)
                lengths = np.where(places[j] == here - 1, lengths[j] + 1, 1)
            else:
                lengths = np.ones(len(here), np.int64)
            places = here
            best = max(best, int(lengths.max()))
        return best

    def shared(self, tune: Tune) -> tuple[int, int]:
        """(longest run of bars, longest run of chord tokens) the piece shares with one reference piece."""
        return self.longest_run(bar_ids(tune), self.bars), self.longest_run(chords(tune), self.tokens)


def measure(tune: Tune, reference: Reference) -> dict[str, float]:
    bars, tokens = reference.shared(tune)
    return {"notes_per_bar": notes_per_bar(tune), "polyphony": polyphony(tune),
            "pitch_class_entropy": pitch_class_entropy(tune), "scale_consistency": scale_consistency(tune),
            "empty_bar_rate": empty_bar_rate(tune), "shared_bars": float(bars), "shared_tokens": float(tokens)}


def excerpt(tune: Tune, bars: int) -> Tune:
    """The piece's first `bars` bars (notes struck in them, cut at the last bar line)."""
    end = bars * STEPS_PER_BAR
    keep = tune.onset < end
    return Tune(tune.name, tune.genre, tune.pitch[keep], tune.onset[keep], np.minimum(tune.offset[keep], end),
                tune.qpm, tune.key, tune.shift, tune.group, tune.trimmed_bars)


@dataclass(frozen=True)
class ReportOptions:
    sets: tuple[str, ...]  # NAME=DIR or DIR (named after the folder)
    model: str | None  # a compose run (None: the shipped composer): its data source and filters give the
    # training reference and the human set
    human_split: str | None = "test"  # the human set: this split of the run's data source; None = no human set
    bars: int = 16  # human pieces are cut to their first this many bars, the length of what was generated
    out: str | None = None  # default: build/compose-report
    progress: bool = True


@dataclass
class ComposeReport:
    out: Path
    markdown: str
    sets: dict = field(default_factory=dict)  # name -> metric -> [value per piece]
    skipped: list = field(default_factory=list)
    reference_pieces: int = 0


def parse_sets(specs) -> list[tuple[str, Path]]:
    out = []
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep:
            name, folder = Path(spec).name or spec, spec
        if not Path(folder).is_dir():
            raise StyleNetError(f"{folder}: not a folder of MIDI files (set {name!r})", exit_code=2)
        out.append((name, Path(folder)))
    names = [n for n, _ in out]
    if len(set(names)) < len(names):
        raise StyleNetError(f"a set is named twice: {' '.join(specs)}; name them NAME=DIR", exit_code=2)
    return out


def report(options: ReportOptions) -> ComposeReport:
    from tqdm import tqdm

    from stylenet.compose.train import SHIPPED_COMPOSER, load_run_config
    from stylenet.core.midifile import find_midi

    sets = parse_sets(options.sets)
    config = load_run_config(options.model or SHIPPED_COMPOSER)
    filters = Filters.of(config.data)
    data = config.data
    try:
        files = source_files(data.source, data.split, data.genres)
    except StyleNetError as exc:
        raise StyleNetError(f"{exc}; the report compares with the pieces the composer learned from "
                            "(`make dataset` builds build/dataset)", exit_code=2) from None
    reference_tunes = read_tunes(files, filters, FilterCounts(data.source), options.progress)
    if not reference_tunes:
        raise StyleNetError(f"{data.source}: no piece passes the run's filters; nothing to compare with", exit_code=2)
    reference = Reference(reference_tunes)
    measured: dict[str, list[dict]] = {}
    skipped: list[str] = []
    if options.human_split:
        counts = FilterCounts(data.source)
        human = read_tunes(source_files(data.source, options.human_split, data.genres), filters, counts,
                           options.progress)
        measured[f"human ({options.human_split})"] = [measure(excerpt(t, options.bars), reference) for t in human]
    for name, folder in sets:
        files = find_midi([str(folder)])
        if not files:
            raise StyleNetError(f"{folder}: no MIDI files (set {name!r})", exit_code=2)
        rows = []
        for path in tqdm(files, desc=name, unit="piece", disable=not options.progress):
            with skip_failure(path, skipped):
                tune = read_tune(path, NO_FILTERS)
                if tune.n_notes == 0:
                    raise StyleNetError(f"{path}: no piano notes")
                rows.append(measure(tune, reference))
        measured[name] = rows
    values = {name: {key: [row[key] for row in rows] for key in METRICS} for name, rows in measured.items()}
    markdown = markdown_table(values, len(reference_tunes), data.source)
    out = Path(options.out or "build/compose-report")
    from stylenet.compose.plots import compose_report_figure

    atomic_write_text(out / "report.md", markdown)
    atomic_write_text(out / "report.json", json.dumps({"reference": {"source": str(data.source),
                                                                     "pieces": len(reference_tunes)},
                                                       "sets": values, "skipped": skipped}, indent=1) + "\n")
    compose_report_figure(values, METRICS, out / "report.png")
    return ComposeReport(out, markdown, values, skipped, len(reference_tunes))


def markdown_table(values: dict, reference_pieces: int, source) -> str:
    def mean(xs):
        xs = [x for x in xs if np.isfinite(x)]
        return f"{np.mean(xs):.2f}" if xs else "–"

    def runs(xs):
        return f"{np.median(xs):.0f} / {np.max(xs):.0f}" if xs else "–"

    head = ["set", "pieces", "notes / bar", "polyphony", "pitch-class entropy", "scale consistency", "empty bars",
            "shared bars (median / max)", "shared tokens (median / max)"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, v in values.items():
        lines.append(f"| {name} | {len(v['polyphony'])} | {mean(v['notes_per_bar'])} | {mean(v['polyphony'])} | "
                     f"{mean(v['pitch_class_entropy'])} | {mean(v['scale_consistency'])} | "
                     f"{mean(v['empty_bar_rate'])} | {runs(v['shared_bars'])} | {runs(v['shared_tokens'])} |")
    return (f"Means over pieces; the copy check against the {reference_pieces} pieces of {source} that pass the "
            "run's filters.\n\n" + "\n".join(lines) + "\n")
