"""What the tests build for themselves (no real data is committed): small MIDI files, recorded performances
with their beat annotations, an ASAP-shaped folder, a StyleNet with random weights in NumPy, tiny training
configs, and the tf.distribute setup the subprocess scripts share (they import it: PYTHONPATH is the
repository).  Fixtures are in conftest.py."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np
import pytest

from stylenet.nn.lstm import LSTMWeights
from stylenet.velocity.performer import GenreWeights, Performer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "chorale.mid"
REAL_DATA = ROOT.parent / "shared" / "data"
needs_real_data = pytest.mark.skipif(not (REAL_DATA / "raw").is_dir(), reason="../shared/data not present")
GENRES = ["classical", "jazz", "pop"]


# ------------------------------------------------------------------------------------------ MIDI files

@dataclass
class N:
    """A note in ticks: pitch, onset, offset, velocity, channel."""

    pitch: int
    on: int
    off: int
    velocity: int = 64
    channel: int = 0


@dataclass
class Song:
    notes: list
    ticks_per_beat: int = 480
    tempi: list = field(default_factory=lambda: [(0, 120.0)])  # (tick, qpm)
    meters: list = field(default_factory=list)  # (tick, numerator, denominator)
    programs: dict = field(default_factory=dict)  # channel -> program
    controls: list = field(default_factory=list)  # (tick, channel, control, value)
    text: list = field(default_factory=list)  # (tick, text)


def song_tracks(song: Song, fmt: int) -> list[list[tuple[int, object]]]:
    conductor = [(t, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(q))) for t, q in song.tempi]
    conductor += [(t, mido.MetaMessage("time_signature", numerator=n, denominator=d)) for t, n, d in song.meters]
    conductor += [(t, mido.MetaMessage("text", text=x)) for t, x in song.text]
    by_channel: dict[int, list] = {}
    for ch, prog in song.programs.items():
        by_channel.setdefault(ch, []).append((0, mido.Message("program_change", channel=ch, program=prog)))
    for t, ch, c, v in song.controls:
        by_channel.setdefault(ch, []).append((t, mido.Message("control_change", channel=ch, control=c, value=v)))
    for n in song.notes:
        events = by_channel.setdefault(n.channel, [])
        events.append((n.on, mido.Message("note_on", channel=n.channel, note=n.pitch, velocity=n.velocity)))
        events.append((n.off, mido.Message("note_off", channel=n.channel, note=n.pitch, velocity=0)))
    tracks = [conductor] + [by_channel[ch] for ch in sorted(by_channel)]
    if fmt == 0:
        tracks = [[e for track in tracks for e in track]]
    # Stable sort: at one tick, note-offs before note-ons so repeated notes re-strike cleanly.
    return [sorted(track, key=lambda e: (e[0], e[1].type == "note_on")) for track in tracks]


def write_song(path, song: Song, fmt: int = 1) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid = mido.MidiFile(type=fmt, ticks_per_beat=song.ticks_per_beat)
    for events in song_tracks(song, fmt):
        track, last = mido.MidiTrack(), 0
        for t, msg in events:
            track.append(msg.copy(time=t - last))
            last = t
        mid.tracks.append(track)
    mid.save(path)
    return path


def expressive_song(n_notes: int = 40, seed: int = 0, step_ticks: int = 120, **kw) -> Song:
    """A little piece with many distinct velocities (passes the dataset filters)."""
    rng = random.Random(seed)
    notes = []
    for i in range(n_notes):
        on = i * step_ticks
        notes.append(N(rng.randint(40, 90), on, on + rng.choice([1, 2, 4]) * step_ticks, 20 + (i * 7) % 100))
    return Song(notes, **kw)


def genre_song(genre: str, seed: int, n: int = 90) -> Song:
    """Each genre has its own learnable touch: classical swells with pitch, jazz accents the off-beats,
    pop hits the downbeat of each bar."""
    rng = np.random.default_rng(seed)
    notes = []
    for i in range(n):
        on = i * 120
        pitch = int(rng.integers(48, 84))
        if genre == "classical":
            velocity = 20 + (pitch - 48) * 2 + int(rng.integers(0, 8))
        elif genre == "jazz":
            velocity = (95 if i % 2 else 40) + int(rng.integers(0, 20))
        else:
            velocity = (105 if i % 16 == 0 else 55) + int(rng.integers(0, 20))
        notes.append(N(pitch, on, on + 240, min(velocity, 127)))
    return Song(notes)


MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)


def key_song(seed: int, tonic: int = 0, minor: bool = False, qpm: float = 120.0, bars: int = 8,
             lead_bars: int = 0) -> Song:
    """A little piece in one key (tonic pitch class 0..11): a left-hand triad on each bar's downbeat (I, vi,
    IV, V in turn) under a right-hand line of eighth notes from the scale, at a set tempo, optionally after
    `lead_bars` empty bars.  What the composers are trained on in the tests."""
    rng = np.random.default_rng(seed)
    scale = MINOR_STEPS if minor else MAJOR_STEPS
    degrees = (0, 5, 3, 4)  # I vi IV V (i VI iv v in minor)
    notes, bar = [], 4 * 480
    for b in range(bars):
        start = (lead_bars + b) * bar
        root = degrees[b % 4]
        for third in range(3):
            degree = root + 2 * third
            notes.append(N(48 + tonic + scale[degree % 7] + 12 * (degree // 7), start, start + bar - 10, 64))
        for e in range(8):
            degree = int(rng.integers(0, 10))
            on = start + e * 240
            notes.append(N(72 + tonic + scale[degree % 7] + 12 * (degree // 7), on, on + 230, 64))
    return Song(notes, tempi=[(0, qpm)], meters=[(0, 4, 4)])


# ------------------------------------------------------------------------------------------ recorded performances

RECORDED_TPQ = 480  # the nominal grid of a recording: 120 qpm, 960 ticks a second, ignoring the music


def rubato_beats(n: int, seed: int = 0, first: float = 0.7) -> np.ndarray:
    """Beat times of a pianist: around 0.5 s a beat, drifting, with one long fermata."""
    rng = np.random.default_rng(seed)
    gaps = 0.5 * np.exp(np.cumsum(rng.normal(0, 0.08, n - 1)).clip(-0.7, 0.7))
    gaps[n // 2] = 4.2  # a fermata: the slowest beat sets the tick resolution
    return first + np.concatenate([[0.0], np.cumsum(gaps)])


def annotation_text(times, labels) -> str:
    """A beat annotation in ASAP's format: one line per beat, 'time time label'."""
    return "".join(f"{t:.6f}\t{t:.6f}\t{label}\n" for t, label in zip(times, labels))


def recording(path, beat_times, positions, pitches=None, velocities=None, pedal=()):
    """A performance file at a nominal 120 qpm whose notes fall at `positions` counted in beats
    (2.5 = half-way through the third beat), timed by `beat_times`.  Returns (path, note times)."""
    idx = np.arange(len(beat_times))
    starts = np.interp(positions, idx, beat_times)
    ticks = np.rint(starts * 2 * RECORDED_TPQ).astype(int)
    notes = [N(int(pitches[i]) if pitches is not None else 60 + i % 12, int(t), int(t) + 200,
               int(velocities[i]) if velocities is not None else 40 + i % 60) for i, t in enumerate(ticks)]
    controls = [(int(round(np.interp(p, idx, beat_times) * 2 * RECORDED_TPQ)), 0, 64, v) for p, v in pedal]
    write_song(path, Song(notes, ticks_per_beat=RECORDED_TPQ, controls=controls))
    return path, ticks / (2.0 * RECORDED_TPQ)


def asap_tree(root: Path, works: int = 12, takes: int = 3, folders=None) -> Path:
    """An ASAP-shaped folder: metadata.csv, performances with beat annotations, one broken annotation.
    `folders`: the works' folders (default Composer<w % 3>/Work <w>)."""
    rows = ["composer,title,folder,midi_score,midi_performance,performance_annotations,midi_score_annotations"]
    for w in range(works):
        folder = folders[w] if folders else f"Composer{w % 3}/Work {w}"
        for t in range(takes):
            times = rubato_beats(16, seed=w * 10 + t)
            rng = np.random.default_rng(w * 10 + t)
            recording(root / folder / f"Take{t}.mid", times, np.arange(0, 15, 0.5),
                      pitches=rng.integers(40, 90, 30), velocities=rng.integers(20, 110, 30))
            labels = ["db,2/4" if i == 0 else "db" if i % 2 == 0 else "b" for i in range(16)]
            text = annotation_text(times, labels) if (w, t) != (0, 1) else "broken\n"
            (root / folder / f"Take{t}_annotations.txt").write_text(text)
            rows.append(f"C{w % 3},W{w},{folder},{folder}/midi_score.mid,{folder}/Take{t}.mid,"
                        f"{folder}/Take{t}_annotations.txt,{folder}/midi_score_annotations.txt")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


# ------------------------------------------------------------------------------------------ models

def _lstm(rng, n_in, units, scale):
    return LSTMWeights(rng.normal(0, scale, (n_in, 4 * units)).astype(np.float32),
                       rng.normal(0, scale, (units, 4 * units)).astype(np.float32),
                       rng.normal(0, scale, 4 * units).astype(np.float32))


def random_performer(genres=("classical", "jazz", "pop"), units=8, genre_layers=1, seed=0) -> Performer:
    """A small StyleNet with random weights, built in NumPy (no TensorFlow)."""
    rng = np.random.default_rng(seed)
    nets = {}
    for g in genres:
        forward, backward, n_in = [], [], units
        for _ in range(genre_layers):
            forward.append(_lstm(rng, n_in, units, 0.5))
            backward.append(_lstm(rng, n_in, units, 0.5))
            n_in = 2 * units
        nets[g] = GenreWeights(forward, backward, rng.normal(0, 0.3, (n_in, 88)).astype(np.float32),
                               np.full(88, 0.5, np.float32))
    stats = {g: {"mean": 60.0 + 10 * i, "std": 18.0, "piece_std": 15.0, "piece_mean_std": 8.0, "low": 20.0,
                 "high": 110.0, "pieces": 5, "notes": 500} for i, g in enumerate(genres)}
    return Performer(list(genres), _lstm(rng, 176, units, 0.5), nets, 4, stats, {"test": True})


def tiny(dataset, **train):
    """A small, quick training config on `dataset` (the `genre_dataset` fixture); `train` overrides."""
    from stylenet.velocity.config import config_from_dict

    return config_from_dict({
        "data": {"dataset": str(dataset), "genres": GENRES, "validation_fraction": 0.15},
        "model": {"units": 12, "genre_layers": 1},
        "train": {"epochs": 3, "window": 32, "learning_rate": 0.01, "plot_every": 3, **train}})


def tiny_compose(source, composer: str = "token_lstm", overrides=(), **sections):
    """A compose config that trains in seconds on a folder of `key_song` pieces; `sections` replace parts."""
    from stylenet.compose.config import compose_config_from_dict

    raw = {"composer": composer,
           "data": {"source": str(source), "validation_fraction": 0.2},
           "autoencoder": {"bars": 4, "bar_units": [32, 8], "piece_units": [16, 6], "hop_bars": 2},
           "token_lstm": {"context": 16, "lstm_layers": 1, "lstm_units": 16, "dense_layers": 1, "dense_units": 16,
                          "dropout": 0.1, "token_input": "embedding", "embedding_size": 8, "min_chord_count": 1},
           "train": {"epochs": 3, "batch_size": 16, "learning_rate": 0.01, "plot_every": 3}}
    for section, values in sections.items():
        raw[section] = {**raw.get(section, {}), **values}
    return compose_config_from_dict(raw, list(overrides))


def write_key_songs(folder, n: int = 10, slow: int = 2) -> Path:
    """`n` pieces in different keys, major and minor, some after an empty bar; the last `slow` at 90 qpm
    (outside the report's 110-130)."""
    for i in range(n):
        write_song(Path(folder) / f"song {i:02d}.mid", key_song(i, tonic=(5 * i) % 12, minor=i % 3 == 0,
                                                             qpm=90.0 if i >= n - slow else 120.0, bars=10,
                                                             lead_bars=i % 2))
    return Path(folder)


# ------------------------------------------------------------------------------------------ tf.distribute

def distributed_setup(strategy):
    """A small StyleNet and optimizer, made alike in every process (under `strategy`, if one)."""
    import keras
    import tensorflow as tf

    from stylenet.velocity.model import build_model

    keras.utils.set_random_seed(0)
    with strategy.scope() if strategy else tf.name_scope("single"):
        model = build_model(["jazz", "pop"], units=8, genre_layers=1, keep_prob=1.0)
        opt = keras.optimizers.SGD(0.5)  # not Adam: Adam would hide a wrongly scaled gradient
        opt.build(model.trainable_variables)
    return model, opt


def distributed_batch():
    """(score, target, weight, keep) of 4 lanes x 20 steps, the same in every process."""
    rng = np.random.default_rng(0)
    x = (rng.random((4, 20, 176)) < 0.1).astype("float32")
    y = rng.random((4, 20, 88)).astype("float32")
    return x, y, np.ones((4, 20), "float32"), np.ones((4,), "float32")


# ------------------------------------------------------------------------------------------ datasets

def _tempo_zero() -> bytes:
    from tests.midi_fuzz import piano, smf, tempo, track

    return smf([track([(0, tempo(0))]), piano([(60 + i % 12, i * 240, i * 240 + 200, 40 + i) for i in range(30)])])


TEMPO_ZERO = _tempo_zero()  # a piano piece whose tempo is 0 microseconds per quarter: unreadable


def real_data_rows() -> list[dict]:
    """The rows of ../shared/data/splits.csv (path, genre, piece, split)."""
    import csv

    with open(REAL_DATA / "splits.csv", newline="") as f:
        return list(csv.DictReader(f))


def damaged_dataset(tmp_path) -> tuple[Path, Path]:
    """(a built dataset of three jazz and three pop pieces, the piece file of it that was cut short)."""
    from stylenet.data.build import build_dataset
    from stylenet.data.read import load_manifest

    for genre in ("jazz", "pop"):
        for i in range(3):
            write_song(tmp_path / "raw" / genre / f"{i}.mid", expressive_song(30, seed=i))
    build_dataset(tmp_path / "raw", tmp_path / "ds", jobs=1, progress=False)
    damaged = tmp_path / "ds" / load_manifest(tmp_path / "ds")[1]["array"]
    damaged.write_bytes(damaged.read_bytes()[:100])
    return tmp_path / "ds", damaged


def jitter_weights(model, rng) -> None:
    """Keras starts biases at zero: add noise to every weight of `model`, so that every weight matters
    in a comparison of two forward passes."""
    for layer in model.layers:
        layer.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])


def random_expression_net(path, genres=("classical", "jazz", "pop"), units=8, seed=0) -> Path:
    """An expression network file (expression/network.py) with small random weights, built in NumPy."""
    import json

    from stylenet.expression.network import KIND
    from stylenet.expression.notes import FEATURES, TARGETS, n_features
    from stylenet.nn.note_network import write_note_arrays

    rng = np.random.default_rng(seed)
    arrays = {"kind": np.array(KIND), "input/kernel": rng.normal(0, 0.3, (n_features(genres), units)).astype(np.float32),
              "input/bias": np.zeros(units, np.float32),
              "output/kernel": rng.normal(0, 0.3, (2 * units, len(TARGETS))).astype(np.float32),
              "output/bias": np.zeros(len(TARGETS), np.float32),
              "info": np.array(json.dumps({"genres": list(genres), "features": list(FEATURES)}))}
    for direction in ("forward", "backward"):
        w = _lstm(rng, units, units, 0.3)
        arrays[f"lstm0/{direction}/kernel"], arrays[f"lstm0/{direction}/recurrent"] = w.kernel, w.recurrent
        arrays[f"lstm0/{direction}/bias"] = w.bias
    write_note_arrays(path, arrays)
    return Path(path)


def said(err: str) -> str:
    """What a command wrote to stderr, less the shipped models' licence line (`perform` prints it once)."""
    return "".join(line for line in err.splitlines(keepends=True) if not line.startswith("licence: "))


# ------------------------------------------------------------------------------------------ a real browser

def browser():
    """(chromium, chromedriver, None), or (None, None, why a browser test must skip)."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, None, "selenium is not installed (pip install -e '.[test]')"
    if not chromium or not driver:
        return None, None, "no Chromium and chromedriver (make browser-test installs Debian's)"
    return chromium, driver, None


def headless_chrome(tmp_path, *flags):
    """A Selenium driver of headless Chromium (call .quit()); pytest.skip where there is none."""
    chromium, driver_path, why = browser()
    if why:
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}", *flags):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    return webdriver.Chrome(service=Service(driver_path), options=options)


# ------------------------------------------------------------------------------------------ HTTP on loopback

def multipart(name: str, data: bytes, fields: dict) -> tuple[bytes, str]:
    """(body, Content-Type) of a form upload of one file named `name`, as a browser sends it."""
    boundary = "----stylenet-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                 f"Content-Type: audio/midi\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def http(url: str, data: bytes | None = None, kind: str | None = None, timeout: float = 300) -> tuple[int, bytes]:
    """(status, body) of a GET (or a POST of `data` as `kind`); an HTTP error is an answer, not an exception."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=data, headers={"Content-Type": kind} if kind else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()

