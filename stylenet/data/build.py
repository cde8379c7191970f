"""`stylenet build-dataset RAW_DIR`: turn a folder of human-played piano MIDI into training matrices.

Layout read:   RAW_DIR/<genre>/**/<file>.mid   (the genre is the first folder level; any depth below)
Layout written (OUT, default `build/dataset`):

    manifest.jsonl     one JSON object per kept piece (source, genre, split, piece, steps, notes, ...)
    rejected.csv       every file that was not kept, with the reason
    build.json         the options the dataset was built with and the per-genre summary
    pieces/<genre>/<name>.npz   score [T, 176] uint8 + velocity [T, 88] float16 (velocity / 127)
                                + meters [(step, numerator, denominator)] (the meter map)
    midi/<genre>/<name>.mid     the piece's piano part as one format-0 track, unquantised

Recorded performances (no tempo map) are read on their beats instead of the file's nominal grid
(`beats.conform`): with `--beats`, every file uses the annotation beside it (`<name>_annotations.txt`,
ASAP's layout); `--asap DIR` adds the ASAP dataset's performances as one genre, split by work.

Filters, with the paper's choices as defaults: piano programs only (GM 1-8), at least 20 distinct
velocities (a file with fewer was entered with flat or stepped dynamics and teaches nothing about touch),
and optionally one meter (`--time-signature 4/4` reproduces the paper; by default every meter is kept and
recorded in the manifest).

Re-running skips every file whose bytes (SHA-256) and build options are unchanged.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stylenet.core import midifile, smf
from stylenet.core.beats import BeatsError, beats_beside
from stylenet.core.codec import onset_cells
from stylenet.core.errors import InternalError, StyleNetError, one_file
from stylenet.core.fileio import atomic_path, atomic_write_text
from stylenet.core.midifile import DEFAULT_STEPS_PER_QUARTER, HIGHEST_KEY, LOWEST_KEY, MIDI_SUFFIXES, PIANO_PROGRAMS
from stylenet.data.splits import asap_work, assign_splits, read_splits, work_split

DATASET_FORMAT = 2  # 2: pieces carry their meter map


@dataclass(frozen=True)
class BuildOptions:
    """Everything that changes what a piece's arrays contain; a change forces a rebuild."""

    steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER
    programs: tuple[int, ...] = PIANO_PROGRAMS
    min_distinct_velocities: int = 20
    time_signature: str | None = None
    beats: bool = False  # read every RAW_DIR file on the beat annotation beside it
    asap: str | None = None  # an ASAP folder whose performances join the dataset ...
    asap_genre: str = "concert"  # ... as this genre
    asap_seed: int = 0  # the seed of its split by work

    def fingerprint(self) -> dict:
        return {"format": DATASET_FORMAT, **asdict(self), "programs": list(self.programs)}


@dataclass
class SourceFile:
    path: Path  # absolute
    rel: str  # relative to RAW_DIR, forward slashes
    genre: str | None
    sha256: str = ""
    split: str = "train"
    piece: str = ""
    beats: Path | None = None  # read the file on these beats (`beats.read_annotations`)


@dataclass
class BuildReport:
    out_dir: Path
    kept: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    reused: int = 0
    seconds: float = 0.0
    same_work: dict = field(default_factory=dict)  # ASAP work -> the RAW_DIR piece with the same score

    def summary_rows(self) -> list[dict]:
        genres = sorted({e["genre"] or "-" for e in self.kept + self.rejected})
        rows = []
        for genre in genres:
            kept = [e for e in self.kept if e["genre"] == genre]
            rejected = Counter(e["category"] for e in self.rejected if (e["genre"] or "-") == genre)
            rows.append({"genre": genre, "kept": len(kept), "rejected": sum(rejected.values()),
                         "hours": sum(e["seconds"] for e in kept) / 3600.0, "reasons": dict(rejected)})
        return rows

    def summary_table(self) -> str:
        rows = self.summary_rows()
        categories = sorted({c for r in rows for c in r["reasons"]})
        head = ["genre", "kept", "hours", "rejected"] + categories
        body = [[r["genre"], str(r["kept"]), f"{r['hours']:.2f}", str(r["rejected"])]
                + [str(r["reasons"].get(c, 0)) for c in categories] for r in rows]
        total = ["total", str(sum(r["kept"] for r in rows)), f"{sum(r['hours'] for r in rows):.2f}",
                 str(sum(r["rejected"] for r in rows))] + [str(sum(r["reasons"].get(c, 0) for r in rows))
                                                         for c in categories]
        table = [head] + body + [total]
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                           enumerate(zip(row, widths))) for row in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def find_sources(raw_dir: Path) -> list[SourceFile]:
    """Every MIDI file under raw_dir, recursively, in a stable order; genre = first folder level."""
    sources = []
    for root, dirs, files in os.walk(raw_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if Path(name).suffix.lower() in MIDI_SUFFIXES and not name.startswith("."):
                path = Path(root) / name
                rel = path.relative_to(raw_dir).as_posix()
                parts = rel.split("/")
                sources.append(SourceFile(path.resolve(), rel, parts[0] if len(parts) > 1 else None))
    return sources


def find_asap_sources(asap_dir: Path, genre: str, seed: int = 0) -> list[SourceFile]:
    """The performances an ASAP folder lists in its metadata.csv, each with its beat annotation; the
    piece is the work (its folder), the split `work_split` of it."""
    metadata = asap_dir / "metadata.csv"
    try:
        with open(metadata, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise StyleNetError(f"{metadata}: not an ASAP folder ({exc.strerror})", exit_code=2) from None
    missing = {"folder", "midi_performance", "performance_annotations"} - set(rows[0] if rows else ())
    if missing:
        raise StyleNetError(f"{metadata}: lacks column(s) {', '.join(sorted(missing))}", exit_code=2)
    sources = []
    for row in rows:
        rel = row["midi_performance"].strip()
        sources.append(SourceFile((asap_dir / rel).resolve(), f"asap/{rel}", genre,
                                  split=work_split(asap_work(row["folder"].strip()), seed),
                                  piece=f"asap/{row['folder'].strip()}",
                                  beats=(asap_dir / row["performance_annotations"].strip()).resolve()))
    return sources


SAME_WORK_SHARE = 0.2  # measured on ASAP vs piano-midi.de: one work shares >= 0.39 of its patterns, others <= 0.06


def pitch_patterns(score_matrix, length: int = 6) -> set[tuple]:
    """The runs of `length` consecutive struck keys (in onset order, chords low to high): a score's
    fingerprint, the same for two editions or performances of one work, disjoint for different works."""
    _, key = onset_cells(score_matrix)  # by step, then key
    keys = key.tolist()
    return {tuple(keys[i:i + length]) for i in range(len(keys) - length + 1)}


def piece_patterns(piece) -> set[tuple]:
    """`pitch_patterns` of a read MIDI piece (`midifile.load_midi`), quantised on its own grid."""
    from stylenet.core import codec

    return pitch_patterns(codec.encode(codec.quantise(piece))[0])


def same_work_share(a: set, b: set) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


def follow_raw_splits(kept: list[dict], asap_dir: Path, out_dir: Path) -> dict[str, str]:
    """Put every ASAP work that is also a RAW_DIR piece (another performance of the same score) on that
    piece's side of the split, so that no test piece is learned from under another name.  Returns
    {ASAP work: RAW_DIR piece path}; a work matching pieces on both sides goes to test."""
    import numpy as np


    raw = [e for e in kept if not e["path"].startswith("asap/") and e["split"] in ("train", "test")]
    raw_patterns = [pitch_patterns(np.load(out_dir / e["array"])["score"]) for e in raw]
    scores = {}
    with open(asap_dir / "metadata.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            scores.setdefault(f"asap/{row['folder'].strip()}", asap_dir / row["midi_score"].strip())
    matched, sides = {}, {}
    for work, score_path in scores.items():
        try:
            patterns = piece_patterns(midifile.load_midi(score_path))
        except midifile.MidiReadError:
            continue  # no score to compare: the work keeps its own split
        for entry, other in zip(raw, raw_patterns):
            if same_work_share(patterns, other) >= SAME_WORK_SHARE:
                matched.setdefault(work, entry["path"])
                sides.setdefault(work, set()).add(entry["split"])
    for entry in kept:
        if entry["piece"] in sides:
            entry["split"] = "test" if "test" in sides[entry["piece"]] else "train"
            entry["same_work"] = matched[entry["piece"]]
    return matched




def output_name(rel: str) -> str:
    """A file-system-safe, collision-free name for a source path (spaces and brackets are fine in
    sources, but outputs are easier to handle without them)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(rel).with_suffix("").as_posix().split("/", 1)[-1])
    return f"{stem.strip('_')[:80]}-{hashlib.sha1(rel.encode()).hexdigest()[:8]}"


def _reject(source: SourceFile, category: str, reason: str) -> dict:
    return {"path": source.rel, "genre": source.genre, "sha256": source.sha256, "category": category,
            "reason": reason}


def process_source(source: SourceFile, options: BuildOptions, out_dir: Path) -> dict:
    """Read, filter, encode and write one file.  Returns a manifest entry or a rejection (never raises
    for a bad file, nor for a bug met on one: a batch must survive every kind of broken input)."""

    if source.genre is None:
        return _reject(source, "no genre folder", "file sits directly in RAW_DIR; put it in RAW_DIR/<genre>/")
    try:
        with one_file(source.rel):
            return _encode_source(source, options, out_dir)
    except BeatsError as exc:
        where = "" if exc.path == str(source.path) else f"{Path(exc.path).name}: "
        return _reject(source, "beats", where + exc.reason)
    except midifile.MidiReadError as exc:
        category = ("empty" if "empty" in exc.reason or "no events" in exc.reason else
                    "too long" if exc.reason.startswith("too long") else "unreadable")
        return _reject(source, category, exc.reason)
    except StyleNetError as exc:
        category = "internal error" if isinstance(exc, InternalError) else "unwritable"
        return _reject(source, category, str(exc).removeprefix(f"{source.rel}: "))


def _encode_source(source: SourceFile, options: BuildOptions, out_dir: Path) -> dict:
    import numpy as np

    from stylenet.core import codec

    piece = midifile.load_midi(source.path, options.programs, options.steps_per_quarter)
    if source.beats is not None:
        from stylenet.core import beats

        piece = beats.conform(piece, beats.read_annotations(source.beats))
    if piece.n_notes == 0:
        why = "no piano notes"
        if piece.dropped_out_of_range:
            why += f" inside keys {LOWEST_KEY}-{HIGHEST_KEY} ({piece.dropped_out_of_range} outside)"
        elif any(inst.is_drum for inst in piece.pm.instruments):
            why += " (drums only)"
        return _reject(source, "no piano notes", why)
    distinct = int(len(np.unique(piece.velocity)))
    if distinct < options.min_distinct_velocities:
        return _reject(source, "few velocities",
                       f"only {distinct} distinct velocities (need {options.min_distinct_velocities})")
    meters = piece.meters
    if options.time_signature and any(m != options.time_signature for m in meters):
        return _reject(source, "meter", f"meter {', '.join(meters)} (kept only {options.time_signature})")

    score = codec.quantise(piece)
    score_matrix, velocity_matrix = codec.encode(score)
    name = output_name(source.rel)
    array_rel = f"pieces/{source.genre}/{name}.npz"
    midi_rel = f"midi/{source.genre}/{name}.mid"
    with atomic_path(out_dir / array_rel, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, score=score_matrix, velocity=velocity_matrix.astype(np.float16),
                                meters=piece.meter_map(),
                                steps_per_quarter=np.int64(options.steps_per_quarter))
    with atomic_path(out_dir / midi_rel) as tmp:
        tmp.write_bytes(smf.piano_only_format0(piece))
    return {"path": source.rel, "genre": source.genre, "split": source.split, "piece": source.piece,
            "steps": int(score_matrix.shape[0]), "notes": score.n_notes, "source_notes": piece.n_notes,
            "distinct_velocities": distinct, "dropped_out_of_range": piece.dropped_out_of_range,
            "meters": meters, "tempo_changes": piece.n_tempo_changes, "seconds": round(piece.seconds, 3),
            "sha256": source.sha256, "array": array_rel, "midi": midi_rel,
            "steps_per_quarter": options.steps_per_quarter, "beats": source.beats is not None}


def _process(job):
    return process_source(*job)


RETRIED = {"unwritable", "internal error"}  # rejections that say nothing about the file: try it again next build


def _load_previous(out_dir: Path, options: BuildOptions) -> dict[str, dict]:
    """Results of the last build with the same options, by source path (kept and rejected alike)."""
    try:
        build = json.loads((out_dir / "build.json").read_text())
        if build.get("options") != options.fingerprint():
            return {}
        previous = {}
        with open(out_dir / "manifest.jsonl", encoding="utf-8") as f:
            for line in f:
                entry = json.loads(line)
                if (out_dir / entry["array"]).exists() and (out_dir / entry["midi"]).exists():
                    previous[entry["path"]] = entry
        for entry in build.get("rejected", []):
            if entry["category"] not in RETRIED:
                previous[entry["path"]] = entry
        return previous
    except (OSError, ValueError, KeyError):
        return {}


def build_dataset(raw_dir, out_dir, splits_csv=None, options: BuildOptions = BuildOptions(),
                  jobs: int | None = None, progress: bool = True) -> BuildReport:
    """Build from RAW_DIR (may be None when `options.asap` names the only source)."""
    from tqdm import tqdm

    started = time.perf_counter()
    out_dir = Path(out_dir)
    sources, unlisted = [], 0
    if raw_dir is not None:
        raw_dir = Path(raw_dir)
        if not raw_dir.is_dir():
            raise StyleNetError(f"{raw_dir}: no such directory", exit_code=2)
        sources = find_sources(raw_dir)
        if not sources:
            raise StyleNetError(f"{raw_dir}: no MIDI files (*.mid, *.midi) found", exit_code=2)
        if splits_csv:
            unlisted = assign_splits(sources, read_splits(Path(splits_csv)), Path(splits_csv))
        else:
            for source in sources:
                source.piece = source.rel
        if options.beats:
            for source in sources:
                source.beats = beats_beside(source.path)
    if options.asap:
        asap_dir = Path(options.asap)
        if not asap_dir.is_dir():
            raise StyleNetError(f"{asap_dir}: no such directory", exit_code=2)
        sources += find_asap_sources(asap_dir, options.asap_genre, options.asap_seed)
    if not sources:
        raise StyleNetError("nothing to build: name a RAW_DIR or --asap DIR", exit_code=2)
    for source in sources:
        try:
            source.sha256 = hashlib.sha256(source.path.read_bytes()).hexdigest()
        except OSError:
            source.sha256 = ""

    previous = _load_previous(out_dir, options)
    report = BuildReport(out_dir)
    todo = []
    for source in sources:
        old = previous.get(source.rel)
        if old is not None and source.sha256 and old.get("sha256") == source.sha256:
            if "array" in old:  # the split file may have changed even if the MIDI did not
                old = {**old, "split": source.split, "piece": source.piece}
            (report.kept if "array" in old else report.rejected).append(old)
            report.reused += 1
        else:
            todo.append(source)

    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    bar = tqdm(total=len(todo), desc="build-dataset", unit="file", disable=not progress or not todo)
    work = [(s, options, out_dir) for s in todo]
    if jobs == 1:
        results = map(_process, work)
    else:
        pool = ProcessPoolExecutor(max_workers=jobs)
        results = pool.map(_process, work, chunksize=4)
    try:
        for result in results:
            (report.kept if "array" in result else report.rejected).append(result)
            bar.update()
    finally:
        bar.close()
        if jobs > 1:
            pool.shutdown(cancel_futures=True)

    order = {s.rel: i for i, s in enumerate(sources)}
    report.kept.sort(key=lambda e: order[e["path"]])
    if options.asap:
        report.same_work = follow_raw_splits(report.kept, Path(options.asap), out_dir)
    report.rejected.sort(key=lambda e: order[e["path"]])
    _write_outputs(report, options, raw_dir, splits_csv, unlisted)
    report.seconds = time.perf_counter() - started
    return report


def _write_outputs(report: BuildReport, options: BuildOptions, raw_dir: Path, splits_csv, unlisted: int):
    out_dir = report.out_dir
    atomic_write_text(out_dir / "manifest.jsonl", "".join(json.dumps(e) + "\n" for e in report.kept))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "genre", "category", "reason"])
    for e in report.rejected:
        writer.writerow([e["path"], e["genre"] or "", e["category"], e["reason"]])
    atomic_write_text(out_dir / "rejected.csv", buffer.getvalue())
    build = {"options": options.fingerprint(), "raw_dir": str(raw_dir.resolve()) if raw_dir else None,
             "splits": str(Path(splits_csv).resolve()) if splits_csv else None, "unlisted_in_splits": unlisted,
             "summary": report.summary_rows(), "rejected": report.rejected, "same_work": report.same_work}
    atomic_write_text(out_dir / "build.json", json.dumps(build, indent=1) + "\n")
