import io
import os
import subprocess
import sys
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from stylenet.cli.main import main
from stylenet.listen.render import (
    DEFAULT_TAIL,
    audio_seconds,
    default_soundfont,
    midi_with_tail,
    read_soundfont,
    render_bytes,
    render_file,
)
from tests.helpers import N, Song, expressive_song, random_performer, write_song

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def soundfont():
    return read_soundfont()


def samples(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)


def rms(data: bytes) -> float:
    return float(np.sqrt(np.mean(samples(data) ** 2)))


def chords(velocity: int) -> Song:
    return Song([N(48 + (i % 4) * 5 + k * 4, i * 480, i * 480 + 400, velocity) for i in range(8) for k in range(3)])


def test_the_default_soundfont_is_the_best_installed():
    from stylenet.listen.render import SYSTEM_SOUNDFONTS

    installed = [Path(p) for p in SYSTEM_SOUNDFONTS if Path(p).is_file()]
    path = default_soundfont()
    assert path.is_file() and path == (installed[0] if installed else path)
    assert installed or path.name == "TimGM6mb.sf2"  # pretty_midi's, where the system has none


def test_wav_is_loudness_normalised_unless_a_gain_is_given(tmp_path, soundfont):
    import pyloudnorm

    src = write_song(tmp_path / "quiet.mid", chords(25))
    raw = render_bytes(midi_with_tail(src), soundfont)
    as_synthesised = render_file(src, tmp_path / "raw.wav", soundfont, gain=0).read_bytes()
    assert as_synthesised == raw
    auto = render_file(src, tmp_path / "auto.wav", soundfont).read_bytes()
    with wave.open(str(tmp_path / "auto.wav")) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, 2) / 32768.0
    loudness = pyloudnorm.Meter(48_000).integrated_loudness(frames)
    peak_db = 20 * np.log10(np.abs(frames).max())
    assert peak_db <= -0.99 and (abs(loudness - (-16.0)) < 0.5 or peak_db > -1.1)  # the target, or held by the peak
    assert rms(auto) > 3 * rms(raw)  # the quiet file is now heard
    plus6 = render_file(src, tmp_path / "plus6.wav", soundfont, gain=6.0).read_bytes()
    assert rms(plus6) == pytest.approx(rms(raw) * 10 ** (6 / 20), rel=0.01)


def test_render_lasts_as_long_as_the_midi_plus_the_release_tail(tmp_path, soundfont):
    song = Song([N(60, 0, 960, 90), N(64, 1500, 4000, 70), N(67, 5000, 5100, 100)],
                tempi=[(0, 100.0), (2400, 140.0)])
    src = write_song(tmp_path / "song.mid", song)
    midi_seconds = mido.MidiFile(src).length
    for tail in (0.0, DEFAULT_TAIL, 2.5):
        out = render_file(src, tmp_path / f"song-{tail}.wav", soundfont, tail=tail)
        assert audio_seconds(out.read_bytes()) == pytest.approx(midi_seconds + tail, abs=0.005)
    with wave.open(str(tmp_path / "song-1.0.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48_000, 2, 2)


def test_louder_velocities_give_louder_audio(tmp_path, soundfont):
    levels = []
    for velocity in (25, 60, 110):
        src = write_song(tmp_path / f"v{velocity}.mid", chords(velocity))
        levels.append(rms(render_bytes(midi_with_tail(src), soundfont)))
    assert levels[0] * 1.3 < levels[1] and levels[1] * 1.3 < levels[2], levels


def test_opus_output_is_ogg_opus(tmp_path, soundfont):
    src = write_song(tmp_path / "s.mid", chords(80))
    data = render_bytes(midi_with_tail(src), soundfont, "opus")
    assert data.startswith(b"OggS") and b"OpusHead" in data[:100]


def test_render_writes_beside_the_input_and_never_overwrites(tmp_path, capsys):
    src = write_song(tmp_path / "song.mid", expressive_song(20))
    before = src.read_bytes()
    assert main(["render", str(src), "-q"]) == 0
    assert (tmp_path / "song.wav").is_file() and src.read_bytes() == before
    assert main(["render", str(src), "-q"]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["render", str(src), "-o", str(src)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(src) in err and "not a .wav file name" in err
    assert src.read_bytes() == before
    assert main(["render", str(src), "-o", str(tmp_path / "x.opus"), "--format", "opus"]) == 0
    assert (tmp_path / "x.opus").read_bytes().startswith(b"OggS")


def test_a_bad_file_is_one_line_naming_it_and_a_batch_goes_on(tmp_path, capsys):
    bad = tmp_path / "in" / "broken.mid"
    bad.parent.mkdir()
    bad.write_bytes(b"MThd\x00\x00")
    write_song(tmp_path / "in" / "good.mid", expressive_song(10))
    assert main(["render", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and "Traceback" not in err
    assert main(["render", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q"]) == 1
    captured = capsys.readouterr()
    assert "skipped:" in captured.err and str(bad) in captured.err
    assert "1 rendered, 1 skipped" in captured.out
    assert (tmp_path / "out" / "good.wav").is_file() and not (tmp_path / "out" / "broken.wav").exists()


def test_a_file_that_is_no_soundfont_is_refused(tmp_path, capsys):
    src = write_song(tmp_path / "s.mid", expressive_song(10))
    fake = tmp_path / "piano.sf2"
    fake.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    assert main(["render", str(src), "--soundfont", str(fake)]) == 2
    err = capsys.readouterr().err
    assert str(fake) in err and "not a SoundFont 2 file" in err
    assert main(["render", str(src), "--soundfont", str(tmp_path / "missing.sf2")]) == 2
    assert "cannot read SoundFont" in capsys.readouterr().err
    assert not (tmp_path / "s.wav").exists()


def test_perform_render_writes_the_performance_audio(tmp_path):
    model = random_performer().save(tmp_path / "m.npz")
    src = write_song(tmp_path / "song.mid", expressive_song(30))
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model), "--render", "-q"]) == 0
    performed, audio = tmp_path / "song.jazz.mid", tmp_path / "song.jazz.wav"
    assert audio_seconds(audio.read_bytes()) == pytest.approx(mido.MidiFile(performed).length + DEFAULT_TAIL,
                                                              abs=0.005)
    before = tmp_path / "song.as-written.wav"  # the input as written, beside it: before and after
    assert audio_seconds(before.read_bytes()) == pytest.approx(mido.MidiFile(src).length + DEFAULT_TAIL, abs=0.005)


def test_render_never_imports_tensorflow(tmp_path):
    src = write_song(tmp_path / "s.mid", expressive_song(10))
    code = (f"import sys; from stylenet.cli.main import main; rc = main(['render', {str(src)!r}]); "
            "print('RC', rc, 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "RC 0 False" in result.stdout, result.stderr


def test_perform_render_of_another_genre_keeps_the_audio_as_written(tmp_path):
    model = random_performer().save(tmp_path / "m.npz")
    src = write_song(tmp_path / "song.mid", expressive_song(30))
    for genre in ("jazz", "pop"):  # the second run finds song.as-written.wav from the first: kept, no error
        assert main(["perform", str(src), "--genre", genre, "--model", str(model), "--render", "-q"]) == 0
    assert (tmp_path / "song.jazz.wav").is_file() and (tmp_path / "song.pop.wav").is_file()
    assert (tmp_path / "song.as-written.wav").is_file()
