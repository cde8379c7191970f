"""The studio's work: each dropped file becomes a `Job`, played and rendered on a small pool of threads.

A job goes waiting -> reading -> performing -> rendering -> done (or failed, with one line saying why).  It is
played by `play.step.play`, the step `stylenet perform` takes, with a `Player` loaded once per set of
controls; its audio is rendered by `listen.render` before and after, each brought to the same loudness
(-16 LUFS) so that the ear compares the playing, not the level.

Bounds, so that a page left open all day, or fifty files dropped at once, cannot fill the machine:
  * an upload of at most MAX_UPLOAD_BYTES, and a piece of at most MAX_MINUTES of music (the audio of longer
    ones would run to hundreds of megabytes; the command line has no such limit);
  * at most MAX_WAITING files accepted and not yet started: more is refused as busy, not queued in memory;
  * the results (MIDI and two WAVs a file) live in one temporary folder, under names the studio chooses
    (a file's own name is never a path); the oldest are removed past KEEP_JOBS files or KEEP_BYTES, and the
    whole folder when the studio stops.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from stylenet.core.errors import StyleNetError

MAX_UPLOAD_BYTES = 4 * 2 ** 20  # piano MIDI files are tens of kilobytes; a two-hour one about 2 MB
MAX_MINUTES = 15
MAX_WAITING = 32
KEEP_JOBS = 48
KEEP_BYTES = 1536 * 2 ** 20
PEDALS = ("auto", "keep", "add", "off")
TIMING_AS = ("notes", "tempo")


@dataclass(frozen=True)
class Controls:
    """What the page's controls ask for, as `stylenet perform`'s options of the same names."""

    genre: str
    strength: float = 1.0
    level: str | float = "auto"
    timing: float = 1.0
    articulation: float = 1.0
    pedal: str = "auto"
    timing_as: str = "notes"

    @classmethod
    def from_form(cls, form, genres) -> "Controls":
        """Controls from the page's form fields (strings), each checked; ValueError("field: reason")."""
        from stylenet.velocity.shaping import parse_level

        def amount(name: str, default: float) -> float:
            text = str(form.get(name, default)).strip().lower()
            if text == "off":
                return 0.0
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: must be a number from 0 to 1, got {text[:40]!r}")
            return value

        def choice(name: str, options: tuple, default: str) -> str:
            value = str(form.get(name, default)).strip().lower()
            if value not in options:
                raise ValueError(f"{name}: must be one of {', '.join(options)}, got {value[:40]!r}")
            return value

        genre = str(form.get("genre", "")).strip().lower()
        if genre not in genres:
            raise ValueError(f"genre: must be one of {', '.join(genres)}, got {genre[:40]!r}")
        try:
            level = parse_level(str(form.get("level", "auto")).strip().lower())
        except ValueError as exc:
            raise ValueError(str(exc)[:200]) from None
        return cls(genre, amount("strength", 1.0), level, amount("timing", 1.0), amount("articulation", 1.0),
                   choice("pedal", PEDALS, "auto"), choice("timing_as", TIMING_AS, "notes"))


@dataclass
class Job:
    """One dropped file on its way through the studio; `public()` is what the page hears of it."""

    id: str
    name: str  # the file's name as the browser sent it: shown and used for download names, never a path
    controls: Controls
    state: str = "waiting"  # waiting | working | done | failed
    stage: str = "waiting"
    error: str = ""
    received: float = field(default_factory=time.monotonic)
    seconds: float = 0.0  # from received to done
    summary: str = ""  # what was done, in words
    notes: dict = field(default_factory=dict)  # {"before": roll, "after": roll}: the piano rolls
    audio: str = ""  # "" or why there is no audio
    folder: Path | None = None
    bytes: int = 0

    def public(self, ahead: int = 0) -> dict:
        out = {"id": self.id, "name": self.name, "state": self.state, "stage": self.stage, "error": self.error,
               "controls": asdict(self.controls), "ahead": ahead}
        if self.state == "done":
            out |= {"seconds": round(self.seconds, 2), "summary": self.summary, "notes": self.notes,
                    "audio": self.audio or None, "files": self.download_names()}
        return out

    def download_names(self) -> dict:
        """{midi, after, before: the name each download is offered under} (no audio: the MIDI alone)."""
        stem, genre = download_stem(self.name), self.controls.genre
        names = {"midi": f"{stem}.{genre}.mid"}
        return names if self.audio else names | {"after": f"{stem}.{genre}.wav", "before": f"{stem}.as-written.wav"}


def download_stem(name: str) -> str:
    """A safe file stem for downloads from whatever name the browser sent."""
    from werkzeug.utils import secure_filename

    return Path(secure_filename(Path(str(name)).name) or "performance").stem[:80] or "performance"


def roll(pitch, start, end, velocity) -> dict:
    """A piano roll as the page draws it: notes in time order, times in milliseconds."""
    order = np.lexsort((pitch, start))
    return {"pitch": np.asarray(pitch)[order].astype(int).tolist(),
            "start": np.rint(np.asarray(start)[order] * 1000).astype(int).tolist(),
            "end": np.rint(np.asarray(end)[order] * 1000).astype(int).tolist(),
            "velocity": np.asarray(velocity)[order].astype(int).tolist()}


class Studio:
    """The jobs of one running studio: accepts files, plays them on `workers` threads, keeps the results.

    `model`: a StyleNet model file or run (default: the shipped one); `soundfont`: an .sf2 (default: the best
    installed); both read once, here, so that a bad one is a one-line error before the server starts."""

    def __init__(self, model=None, soundfont=None, workers: int = 2, folder=None):
        from stylenet.velocity.performer import load_performer

        self.performer = load_performer(model)
        self.genres = tuple(self.performer.genres)
        self.sound, self.sound_error = None, ""
        try:
            from stylenet.listen.render import read_soundfont

            self.sound = read_soundfont(soundfont)
        except StyleNetError as exc:
            if soundfont is not None:
                raise
            self.sound_error = f"no audio: {exc}"
        self.folder = Path(tempfile.mkdtemp(prefix="stylenet-studio-", dir=folder))
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.lock = threading.Lock()
        self.player = lru_cache(maxsize=8)(self._load_player)  # a Player per set of controls, loaded once
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="studio")
        self.closed = False

    # -- accepting -----------------------------------------------------------------------------------------

    def submit(self, name: str, data: bytes, controls: Controls) -> Job:
        """Accept one file (its bytes, checked for size and a MIDI header here; the rest when it is read),
        or raise `Refused` with the reason (`TooLarge`, `BusyError` when too many wait)."""
        name = " ".join(str(name or "upload.mid").split())[:120] or "upload.mid"
        if not data:
            raise Refused(f"{name}: empty file (0 bytes)")
        if len(data) > MAX_UPLOAD_BYTES:
            raise TooLarge(f"{name}: {len(data) / 2 ** 20:.1f} MB is over the studio's "
                             f"{MAX_UPLOAD_BYTES // 2 ** 20} MB limit for one file")
        if not (data[:4] == b"MThd" or (data[:4] == b"RIFF" and data[8:12] == b"RMID")):
            raise Refused(f"{name}: not a MIDI file (a Standard MIDI File starts with 'MThd')")
        with self.lock:
            if self.closed:
                raise BusyError("the studio is stopping")
            waiting = sum(j.state == "waiting" for j in self.jobs.values())
            if waiting >= MAX_WAITING:
                raise BusyError(f"{name}: the studio is busy ({waiting} files waiting); send it again shortly")
            job = Job(secrets.token_urlsafe(12), name, controls)
            self.jobs[job.id] = job
            self.pool.submit(self._work, job, data)  # under the lock: `close` cannot shut the pool between
        return job

    def get(self, job_id: str) -> tuple[Job, int] | None:
        """(the job, how many files are ahead of it) or None."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            ahead = 0
            if job.state == "waiting":
                ahead = sum(1 for j in self.jobs.values() if j.state == "waiting" and j.received < job.received)
                ahead += sum(1 for j in self.jobs.values() if j.state == "working")
            return job, ahead

    def file(self, job_id: str, kind: str) -> tuple[Path, str] | None:
        """(the path of a finished job's `kind` -- midi, before, after --, its download name), or None."""
        stored = {"midi": "performed.mid", "before": "before.wav", "after": "after.wav"}
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or kind not in stored or job.state != "done" or job.folder is None:
                return None
            name = job.download_names().get(kind)  # not the whole public view: it carries the piano rolls
            path = job.folder / stored[kind]
        return (path, name) if name and path.is_file() else None

    def remove(self, job_id: str) -> bool:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.state in ("waiting", "working"):
                return False
            del self.jobs[job_id]
        _remove(job)
        return True

    def close(self) -> None:
        """Stop: drop the waiting jobs, wait for the working ones, delete every result."""
        with self.lock:
            if self.closed and not self.folder.exists():
                return
            self.closed = True
        try:
            self.pool.shutdown(wait=True, cancel_futures=True)
        finally:  # even when a second Ctrl-C cuts the wait short
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- working ---------------------------------------------------------------------------------------------

    def _load_player(self, controls: Controls):
        """The `Player` for a set of controls (the networks are shared)."""
        from stylenet.expression.realise import Expression
        from stylenet.play.step import Player
        from stylenet.velocity.shaping import Shaping

        shaping = Shaping(controls.level, "auto", controls.strength)
        expression = Expression(controls.timing, controls.articulation, controls.pedal, controls.timing_as)
        return Player.load(self.performer, controls.genre, shaping, expression=expression)[0]

    def _work(self, job: Job, data: bytes) -> None:
        try:
            self._play(job, data)
        except StyleNetError as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the studio; the page hears why
            job.error = f"{job.name}: could not be performed ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
        finally:
            job.seconds = time.monotonic() - job.received
            with self.lock:
                if job.error:  # what a failed file left half-written goes at once
                    _remove(job)
                    job.folder, job.bytes = None, 0
                self._evict()  # before the page can hear that this one is done
                job.state, job.stage = ("failed", "failed") if job.error else ("done", "done")

    def _play(self, job: Job, data: bytes) -> None:
        from stylenet.core import midifile
        from stylenet.play.step import play

        with self.lock:
            if self.closed:
                raise StyleNetError(f"{job.name}: the studio stopped")
            job.state, job.stage = "working", "reading"
        player = self.player(job.controls)
        piece = midifile.load_midi(job.name, player.programs, self.performer.steps_per_quarter, data=data)
        seconds = file_seconds(piece)  # the whole file: its audio lasts to its last event
        if seconds > MAX_MINUTES * 60:
            raise StyleNetError(f"{job.name}: it lasts {seconds / 60:.0f} minutes; the studio takes "
                                f"pieces up to {MAX_MINUTES} (`stylenet perform` has no limit)")
        job.stage = "performing"
        played = play(piece, player)
        performed = midifile.load_midi(job.name, player.programs, self.performer.steps_per_quarter, data=played.midi)
        seconds = file_seconds(performed)
        if seconds > 1.5 * MAX_MINUTES * 60:  # rubato stretches a piece a little, never this
            raise StyleNetError(f"{job.name}: its performance would last {seconds / 60:.0f} minutes")
        folder = self.folder / job.id
        folder.mkdir()
        job.folder = folder
        (folder / "performed.mid").write_bytes(played.midi)
        job.notes = {"before": roll(piece.pitch, piece.start, piece.end, piece.velocity),
                     "after": roll(performed.pitch, performed.start, performed.end, performed.velocity)}
        job.summary = "; ".join(line for line in (played.summary(), played.note) if line)
        if self.sound is None:
            job.audio = self.sound_error
        else:
            for stage, name, midi in (("rendering the score", "before.wav", data),
                                      ("rendering the performance", "after.wav", played.midi)):
                job.stage = stage
                (folder / name).write_bytes(_audio(job.name, midi, self.sound))
        job.bytes = sum(p.stat().st_size for p in folder.iterdir())

    def _evict(self) -> None:
        """Past KEEP_JOBS finished files (this one counted) or KEEP_BYTES of results, the oldest are removed.
        Called under the lock."""
        finished = [j for j in self.jobs.values() if j.state in ("done", "failed")]
        total = sum(j.bytes for j in self.jobs.values())
        while finished and (len(finished) + 1 > KEEP_JOBS or total > KEEP_BYTES):
            job = finished.pop(0)
            total -= job.bytes
            del self.jobs[job.id]
            _remove(job)


class Refused(ValueError):
    """A file the studio will not take, with the one line the page shows and the HTTP status it goes with."""

    status = 400


class TooLarge(Refused):
    status = 413


class BusyError(Refused):
    """Too many files wait already: the page should send this one again later."""

    status = 503


def file_seconds(piece) -> float:
    """Where a file's last event falls, in seconds (any track: a long note or a late marker counts too)."""
    last = max((max((msg.time for msg in track), default=0) for track in piece.midi.tracks), default=0)
    return float(piece.pm.tick_to_time(last))


def _remove(job: Job) -> None:
    if job.folder is not None:
        shutil.rmtree(job.folder, ignore_errors=True)


def _audio(name: str, midi: bytes, sound: bytes) -> bytes:
    """WAV of SMF bytes with a second of release, brought to the studio's common loudness."""
    from stylenet.listen.render import loudness_gain, midi_with_tail, render_bytes, scale_wav

    wav = render_bytes(midi_with_tail(name, 1.0, midi), sound, "wav", name)
    gain = loudness_gain(wav)
    return scale_wav(wav, gain) if gain != 1.0 else wav
