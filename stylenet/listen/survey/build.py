"""`stylenet survey build|serve|score`: listening tests of StyleNet's performances.

Two designs, after the two source documents:

* **ab** (the StyleNet paper): pairs of excerpts of the same score, one played by the human, one by StyleNet
  (the flattened piece performed with the piece's genre); the respondent picks the one a human played.
  Optional baseline pairs pit the human against random velocities or flat velocities.
* **rating** (the second report): single excerpts from any sources (human, stylenet, flat, random, or any
  folder of MIDI files), each rated 1 = surely a human ... 5 = surely a computer.

`build` writes a folder that works offline in a browser: `index.html` and `audio/<token>.wav`, nothing
else.  Nothing in it tells the answer: file names are random tokens given in the order the page plays them,
every file is written afresh in that order with one modification time, the two clips of a pair have the same
length, and the page names no source, piece or genre.  The answer key goes beside the folder
(`DIR.key.json`).  Respondents download their answers as JSON, or send them to `serve`, which stores every
submission as a new row of an SQLite database (never overwritten: the table refuses updates and deletes).
`score` reads the key and the answers (JSON files or the database) and writes Markdown, JSON and, for
ratings, a bar chart.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from stylenet.core import midifile
from stylenet.core.errors import StyleNetError, one_file
from stylenet.core.fileio import atomic_write_text, umask
from stylenet.listen.render import peak_gain, scale_wav
from stylenet.listen.survey.serve import default_db

KEY_FORMAT = "stylenet-survey-key/1"
DESIGNS = ("ab", "rating")
DATASET_SOURCES = ("human", "stylenet", "flat", "random")
PERFORMER_SOURCES = ("stylenet", "flat", "random")  # need the model (or its genre statistics)
PAGE_TEMPLATE = Path(__file__).resolve().parent / "page.html"
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class SurveyPiece:
    """A piece a survey may cut its excerpts from: a dataset's human performance or a file of a folder."""

    name: str  # the piece (the manifest's "piece", or the file's name)
    path: Path  # the MIDI file its clips are cut from
    genre: str | None
    label: str  # where it came from, for the key
    partner: Path | None = None  # --pair: the same piece in the second folder


@dataclass
class BuildOptions:
    dataset: str | None
    out: str
    design: str = "ab"
    items: int = 10
    baselines: tuple = ()
    sources: tuple = ("human", "stylenet")
    split: str = "test"
    genres: tuple | None = None
    seconds: float = 10.0
    seed: int = 0
    model: str | None = None
    soundfont: str | None = None
    fmt: str = "wav"
    key: str | None = None
    title: str = "Listening test"
    force: bool = False
    progress: bool = True
    pair: tuple = ()  # ab: two NAME=DIR folders whose files of one name are paired (the first plays the human)


@dataclass
class BuildReport:
    out: Path
    key: Path
    design: str
    counts: Counter
    wanted: int
    skipped: list = field(default_factory=list)
    seconds: float = 0.0
    audio_bytes: int = 0
    reference: str = "human"  # ab: the source respondents look for (--pair: the first folder)

    @property
    def short(self) -> int:
        return self.wanted - sum(self.counts.values())

    def summary(self) -> str:
        unit = "pairs" if self.design == "ab" else "clips"
        what = ", ".join(f"{n} {self.reference + ' vs ' if self.design == 'ab' else ''}{s}" for s, n in self.counts.items())
        lines = [f"{sum(self.counts.values())} {unit} ({what}) in {self.seconds:.1f} s; "
                 f"{self.audio_bytes / 2 ** 20:.1f} MB of audio"]
        if self.skipped:
            lines.append(f"{len(self.skipped)} pieces skipped (reasons above)")
        if self.short:
            lines.append(f"warning: {self.short} of the {self.wanted} {unit} asked for could not be made "
                         "(not enough usable pieces)")
        lines += [f"survey folder (give this to respondents): {self.out}/index.html",
                  f"answer key (keep this): {self.key}",
                  f"collect answers:  stylenet survey serve {self.out}",
                  f"score them:       stylenet survey score {self.key} {default_db(self.out)}"]
        return "\n".join(lines)


def default_key(out: Path) -> Path:
    return out.parent / f"{out.name}.key.json"


def parse_sources(specs) -> list[tuple[str, Path | None]]:
    """Rating sources: human, stylenet, flat, random, or NAME=DIR."""
    out = []
    for spec in specs:
        if "=" in spec:
            name, _, folder = spec.partition("=")
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise StyleNetError(f"source {spec!r}: the name before '=' must be letters, digits, '_', '-' or '.'",
                                    exit_code=2)
            if name in DATASET_SOURCES:
                raise StyleNetError(f"source {spec!r}: {name!r} names a dataset source; call the folder otherwise",
                                    exit_code=2)
            if not Path(folder).is_dir():
                raise StyleNetError(f"{folder}: source {name!r} is not a folder", exit_code=2)
            out.append((name, Path(folder)))
        elif spec in DATASET_SOURCES:
            out.append((spec, None))
        else:
            raise StyleNetError(f"unknown source {spec!r}: use {', '.join(DATASET_SOURCES)} or NAME=DIR", exit_code=2)
    names = [name for name, _ in out]
    if len(set(names)) < len(names):
        raise StyleNetError(f"a source is named twice: {' '.join(specs)}", exit_code=2)
    return out


def dataset_pieces(dataset, split: str, genres=None) -> list[SurveyPiece]:
    dataset = Path(dataset)
    manifest = dataset / "manifest.jsonl"
    if not manifest.is_file():
        raise StyleNetError(f"{dataset}: not a built dataset (no manifest.jsonl; see `stylenet build-dataset`)",
                            exit_code=2)
    pieces = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if split != "all" and entry.get("split") != split:
            continue
        if genres and entry.get("genre") not in genres:
            continue
        pieces.append(SurveyPiece(entry.get("piece") or Path(entry["path"]).stem, dataset / entry["midi"],
                            entry.get("genre"), entry["path"]))
    return pieces


def folder_pieces(folder: Path) -> list[SurveyPiece]:
    from stylenet.core.midifile import find_midi

    return [SurveyPiece(f.stem, f, None, str(f)) for f in find_midi([str(folder)])]


def folder_pairs(first: Path, second: Path) -> list[SurveyPiece]:
    """The files of `first` with a partner in `second`: the same relative name, or one name the other's
    followed by '.' and more (`song.mid` and `song.concert.mid`, as perform names its outputs).  Each a
    SurveyPiece named by the shorter name, whose `path` is the first's file and whose `label` names both."""
    from stylenet.core.midifile import find_midi

    partners = {}
    for f in find_midi([str(second)]):
        rel = f.relative_to(second)
        partners.setdefault((rel.parent, rel.stem), f)
    out = []
    for f in find_midi([str(first)]):
        rel = f.relative_to(first)
        match = partners.get((rel.parent, rel.stem))
        if match is None:  # either name may be the other's with '.<genre>' (or more) added
            found = sorted(p for (parent, stem), p in partners.items() if parent == rel.parent and
                           (stem.startswith(rel.stem + ".") or rel.stem.startswith(stem + ".")))
            match = found[0] if found else None
        if match is not None:
            out.append(SurveyPiece(min(rel.stem, match.stem, key=len), f, None, f"{f} | {match}", partner=match))
    return out


class Pool:
    """Pieces handed out one at a time, each at most once: genre by genre in turns (a test split is mostly one
    genre, and every compared source should hear them all), pieces in a seeded order within a genre."""

    def __init__(self, pieces: list[SurveyPiece], rng: np.random.Generator):
        by_genre: dict = {}
        for piece in pieces:
            by_genre.setdefault(piece.genre, []).append(piece)
        genres = sorted(by_genre, key=str)
        self.genres = [genres[i] for i in rng.permutation(len(genres))]
        self.queues = {g: [by_genre[g][i] for i in rng.permutation(len(by_genre[g]))] for g in genres}

    def next(self, turn: int = 0) -> SurveyPiece | None:
        """A piece of genre number `turn` (cycling), or of the next genre that has pieces left."""
        for offset in range(len(self.genres)):
            queue = self.queues[self.genres[(turn + offset) % len(self.genres)]]
            if queue:
                return queue.pop(0)
        return None


class ClipMaker:
    """Cuts one excerpt of a piece and renders it as each source would play it."""

    def __init__(self, performer, soundfont: bytes, seconds: float, fmt: str, rng: np.random.Generator):
        self.performer, self.soundfont, self.seconds, self.fmt = performer, soundfont, seconds, fmt
        self.rng, self.players = rng, {}

    def make(self, piece: SurveyPiece, sources: list[str]):
        """-> (window, {source: audio bytes}): the same excerpt for every source."""
        from stylenet.core import midifile
        from stylenet.listen.clips import choose_window, cut, piece_notes

        midi = midifile.load_midi(piece.path)
        if midi.n_notes == 0:
            raise StyleNetError(f"{piece.path}: no piano notes (General MIDI programs 0-7, the pianos) to cut an excerpt from")
        human = piece_notes(midi)
        window = choose_window(human, self.seconds, self.rng)
        audio = {}
        for source in sources:
            notes = self.variant(source, piece, midi, human)
            audio[source] = self.render(cut(notes, window), piece.path)
        return window, audio

    def make_pair(self, piece: SurveyPiece, sources: list[str]):
        """-> (window, {source: audio}) for a --pair item: the excerpt is chosen in the first folder's file and
        cut from the second's at the same notes (counted in order of onset), wherever its timing put them."""
        from stylenet.listen.clips import Window, choose_window, cut, piece_notes

        first, second = (piece_notes(midifile.load_midi(path)) for path in (piece.path, piece.partner))
        if not len(first) or not len(second):
            raise StyleNetError(f"{piece.path if not len(first) else piece.partner}: no piano notes to cut an excerpt from")
        window = choose_window(first, self.seconds, self.rng)
        begin, end = np.searchsorted(np.sort(first.start), [window.start, window.end], side="left")
        starts = np.sort(second.start)
        begin = min(int(begin), len(starts) - 1)
        other = Window(float(starts[begin]), float(starts[end]) if end < len(starts) else float(second.end.max()))
        return window, {sources[0]: self.render(cut(first, window), piece.path),
                        sources[1]: self.render(cut(second, other), piece.partner)}

    def genre_stats(self, piece: SurveyPiece) -> dict:
        if self.performer is None or piece.genre not in self.performer.genres:
            raise StyleNetError(f"{piece.path}: genre {piece.genre!r} is not one the model knows")
        return self.performer.stats.get(piece.genre, {})

    def variant(self, source: str, piece: SurveyPiece, midi, human):
        if source not in PERFORMER_SOURCES:
            return human  # the human, or a folder source: as written
        stats = self.genre_stats(piece)
        flat = float(np.rint(stats.get("mean", 64.0)))
        if source == "flat":  # every note at the genre's mean velocity (as `evaluate`'s flat baseline)
            return human.with_velocity(flat)
        if source == "random":  # uniform over the genre's range (as `evaluate`'s random baseline)
            low, high = stats.get("low", 1.0), stats.get("high", 127.0)
            return human.with_velocity(self.rng.uniform(low, high, len(human)))
        return self.performed(piece, midi, flat)

    def performed(self, piece: SurveyPiece, midi, flat: float):
        """The whole piece flattened, then performed by StyleNet with its genre (its context matters to the
        network), read back: the same notes and timing as the human's, StyleNet's velocities."""
        from stylenet.core import codec
        from stylenet.listen.clips import piece_notes
        from stylenet.play.step import Player, play

        if piece.genre not in self.players:  # perform's defaults: the touch for a recording, velocities only
            self.players[piece.genre] = Player.load(self.performer, piece.genre)[0]
        flat_midi = codec.apply_velocities(midi, np.full((1, midifile.N_KEYS), flat / 127.0))
        flat_piece = midifile.load_midi(piece.path, steps_per_quarter=self.performer.steps_per_quarter, data=flat_midi)
        played = play(flat_piece, self.players[piece.genre])
        return piece_notes(midifile.load_midi(piece.path, data=played.midi))

    def render(self, clip, where) -> bytes:
        from stylenet.listen.clips import clip_midi
        from stylenet.listen.render import midi_with_tail, render_bytes

        if not len(clip):
            raise StyleNetError(f"{where}: the excerpt has no notes")
        return render_bytes(midi_with_tail(where, data=clip_midi(clip)), self.soundfont, self.fmt, where=where)


def _check_outputs(out: Path, key: Path, force: bool) -> None:
    if out.resolve() == key.resolve() or out.resolve() in key.resolve().parents:
        raise StyleNetError(f"{key}: the answer key must not be inside the survey folder {out}", exit_code=2)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            raise StyleNetError(f"{out}: already exists; pass --force to replace it", exit_code=2)
        if not (out / "index.html").is_file():
            raise StyleNetError(f"{out}: exists and is not a survey folder (no index.html); not replacing it",
                                exit_code=2)
    if key.exists() and not force:
        raise StyleNetError(f"{key}: already exists; pass --force to replace it", exit_code=2)


def build(options: BuildOptions) -> BuildReport:
    from tqdm import tqdm

    from stylenet.listen.render import read_soundfont

    started = time.perf_counter()
    if options.design not in DESIGNS:
        raise StyleNetError(f"unknown design {options.design!r}; choose {' or '.join(DESIGNS)}", exit_code=2)
    out = Path(options.out)
    key_path = Path(options.key) if options.key else default_key(out)
    _check_outputs(out, key_path, options.force)
    if options.pair:
        if options.design != "ab" or len(options.pair) != 2:
            raise StyleNetError("--pair takes two NAME=DIR folders, for the ab design", exit_code=2)
        sources = parse_sources(options.pair)
        if any(folder is None for _, folder in sources):
            raise StyleNetError("--pair takes two NAME=DIR folders (not dataset sources)", exit_code=2)
        compared = [sources[1][0]]
    elif options.design == "ab":
        compared = ["stylenet", *dict.fromkeys(options.baselines)]
        sources = [("human", None)] + [(name, None) for name in compared]
    else:
        sources = parse_sources(options.sources)
    needs_dataset = any(folder is None for _, folder in sources)
    if needs_dataset and not options.dataset:
        raise StyleNetError("name a built dataset (DATASET) for the sources human, stylenet, flat and random",
                            exit_code=2)
    performer = None
    if any(name in PERFORMER_SOURCES and folder is None for name, folder in sources):
        from stylenet.velocity.performer import load_performer

        performer = load_performer(options.model)
    soundfont = read_soundfont(options.soundfont)
    rng = np.random.default_rng(options.seed)

    pools: dict = {}
    if needs_dataset:
        pieces = dataset_pieces(options.dataset, options.split, options.genres)
        if performer is not None:
            pieces = [p for p in pieces if p.genre in performer.genres]
        if not pieces:
            raise StyleNetError(f"{options.dataset}: no pieces in split {options.split!r}"
                                + (f" of genres {' '.join(options.genres)}" if options.genres else "")
                                + (f" that the model knows ({', '.join(performer.genres)})" if performer else ""),
                                exit_code=2)
        pools[None] = Pool(pieces, rng)
    if options.pair:
        pairs = folder_pairs(sources[0][1], sources[1][1])
        if not pairs:
            raise StyleNetError(f"no file of {sources[0][1]} has a partner in {sources[1][1]} (the same name, or "
                                "the name followed by '.' and more, as perform writes <name>.<genre>.mid)", exit_code=2)
        pools[None] = Pool(pairs, rng)
    for name, folder in (() if options.pair else sources):
        if folder is not None:
            found = folder_pieces(folder)
            if not found:
                raise StyleNetError(f"{folder}: no MIDI files for source {name!r}", exit_code=2)
            pools[folder] = Pool(found, rng)

    # each job: the sources of one item, its pool, and its turn in the pool's genres (each compared source
    # starts on another genre, so every source hears every genre)
    if options.pair:
        jobs = [([sources[0][0], sources[1][0]], pools[None], k) for k in range(options.items)]
    elif options.design == "ab":
        jobs = [(["human", name], pools[None], k + i) for k in range(options.items) for i, name in enumerate(compared)]
    else:
        jobs = [([name], pools[folder], k + i)
                for k in range(options.items) for i, (name, folder) in enumerate(sources)]

    items, skipped, counts = [], [], Counter()
    with tempfile.TemporaryDirectory(prefix="stylenet-survey-") as work:
        work = Path(work)
        maker = ClipMaker(performer, soundfont, options.seconds, options.fmt, rng)
        progress = tqdm(jobs, desc=f"survey ({options.design})", unit="pair" if options.design == "ab" else "clip",
                        disable=not options.progress)
        for job_sources, pool, turn in progress:
            while (piece := pool.next(turn)) is not None:
                try:
                    with one_file(piece.path):
                        window, audio = maker.make_pair(piece, job_sources) if options.pair else \
                            maker.make(piece, job_sources)
                except StyleNetError as exc:
                    skipped.append(str(exc))
                    tqdm.write(f"skipped: {exc}", file=sys.stderr)
                    continue
                item = {"source": job_sources[-1], "piece": piece.name, "genre": piece.genre, "file": piece.label,
                        "start": round(window.start, 3), "end": round(window.end, 3)}
                if options.design == "ab":  # with --pair, the first folder plays the human
                    human_first = bool(rng.integers(2))
                    item["human"] = "a" if human_first else "b"
                    order = job_sources if human_first else job_sources[::-1]
                else:
                    order = job_sources
                item["_audio"] = []
                for source in order:
                    path = work / f"clip{len(items):05d}-{len(item['_audio'])}"
                    path.write_bytes(audio[source])
                    item["_audio"].append(path)
                items.append(item)
                counts[item["source"]] += 1
                break
        progress.close()
        wanted = len(jobs)
        if not items:
            raise StyleNetError("no excerpt could be made: every piece was skipped (reasons above)")
        survey_id = secrets.token_hex(6)
        order = rng.permutation(len(items))
        items = [items[i] for i in order]
        audio_bytes, gain_db = _write_folder(out, items, survey_id, options, rng)
    key = {"format": KEY_FORMAT, "survey": survey_id, "design": options.design, "title": options.title,
           "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": options.seed,
           "dataset": str(options.dataset) if options.dataset else None, "split": options.split,
           "seconds": options.seconds, "format_audio": options.fmt, "gain_db": gain_db,
           "model": options.model or ("shipped" if performer is not None else None),
           "sources": [{"name": name, "folder": str(folder) if folder else None} for name, folder in sources],
           "items": items, "skipped": skipped}
    atomic_write_text(key_path, json.dumps(key, indent=1) + "\n")
    return BuildReport(out, key_path, options.design, counts, wanted, skipped, time.perf_counter() - started,
                       audio_bytes, sources[0][0] if options.pair else "human")


def _write_folder(out: Path, items: list[dict], survey_id: str, options: BuildOptions, rng) -> tuple[int, float]:
    """index.html and audio/, written into a staging folder beside `out` and renamed onto it at the end.

    Files are named by fresh random tokens and written afresh in the order the page plays them, all with
    one modification time, so neither names, sizes within a pair, creation order nor times tell a source.
    WAV clips share one gain (`render.peak_gain`).  -> (bytes of audio written, the gain in dB)
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    stamp = time.time()
    total = 0
    used = set()
    gain = peak_gain([f for item in items for f in item["_audio"]]) if options.fmt == "wav" else 1.0
    try:
        (staging / "audio").mkdir()
        page_items = []
        for index, item in enumerate(items, start=1):
            item["id"] = str(index)
            names = []
            for source_file in item.pop("_audio"):
                token = None
                while token is None or token in used:
                    token = f"{int(rng.integers(1 << 40)):010x}"
                used.add(token)
                name = f"audio/{token}.{options.fmt}"
                data = Path(source_file).read_bytes()
                if gain != 1.0:
                    data = scale_wav(data, gain)
                (staging / name).write_bytes(data)
                total += len(data)
                names.append(name)
            item["clips"] = names
            page_items.append({"id": item["id"], "clips": names})
        data = {"survey": survey_id, "design": options.design, "items": page_items}
        payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
        page = PAGE_TEMPLATE.read_text(encoding="utf-8")
        page = page.replace("{{TITLE}}", html.escape(options.title)).replace("{{DATA}}", payload)
        (staging / "index.html").write_text(page, encoding="utf-8")
        for path in [staging / "index.html", *sorted((staging / "audio").iterdir()), staging / "audio", staging]:
            os.utime(path, (stamp, stamp))
        os.chmod(staging, 0o777 & ~umask())
        if out.exists():
            shutil.rmtree(out)  # checked before any work: a survey folder, and --force was given
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # reorder the key's fields for reading: id first
    for item in items:
        ordered = {k: item[k] for k in ("id", "clips", "source", "human") if k in item}
        ordered.update({k: v for k, v in item.items() if k not in ordered})
        item.clear()
        item.update(ordered)
    return total, round(20 * float(np.log10(gain)), 2)
