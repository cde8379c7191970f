"""`stylenet perform`: only piano velocities change, outputs and inputs are safe, bad files are one line, no
TensorFlow, where the time goes, and a very long piece in bounded memory."""

import io
import os
import subprocess
import sys

import mido
import numpy as np
import pytest

from stylenet.cli.main import main
from stylenet.core import codec, midifile
from stylenet.play.batch import perform_file
from stylenet.play.step import Player
from stylenet.velocity.performer import Performer
from stylenet.velocity.shaping import Shaping
from tests.helpers import (
    EXAMPLE,
    ROOT,
    N,
    Song,
    annotation_text,
    expressive_song,
    recording,
    rubato_beats,
    said,
    write_song,
)


def rich_song() -> Song:
    """Piano with off-grid timing and repeated notes, plus everything perform must leave alone."""
    notes = [N(60 + (i * 5) % 24, i * 97 + (i % 3) * 7, i * 97 + 150, 80) for i in range(60)]
    notes += [N(64, 2000, 2400, 80), N(64, 2001, 2200, 70)]  # same key struck twice on one step
    notes += [N(36 + i % 5, i * 240, i * 240 + 100, 90, channel=9) for i in range(20)]  # drums
    notes += [N(40, i * 480, i * 480 + 400, 70, channel=1) for i in range(10)]  # bass
    return Song(notes, tempi=[(0, 100.0), (1500, 130.0)], meters=[(0, 4, 4), (1920, 3, 4)],
                programs={0: 0, 1: 33}, controls=[(0, 0, 64, 127), (1000, 0, 64, 0), (5, 1, 7, 100)],
                text=[(0, "do not touch")])


def events(data: bytes):
    """Every event of every track, but the mark `perform` adds to say the file is its output."""
    return [[(m.dict(), m.time) for m in t if not (m.type == "text" and m.text.startswith("performed by StyleNet"))]
            for t in mido.MidiFile(file=io.BytesIO(data)).tracks]


def test_perform_keeps_everything_but_piano_velocities(tmp_path, model_file):
    src = write_song(tmp_path / "song.mid", rich_song())
    original = src.read_bytes()
    result = perform_file(src, tmp_path / "song.jazz.mid", Player(Performer.load(model_file), "jazz"), plot=True)
    assert src.read_bytes() == original
    before, after = events(original), events(result.output.read_bytes())
    assert len(before) == len(after)
    changed = 0
    for ta, tb in zip(before, after):
        assert len(ta) == len(tb)
        for (a, time_a), (b, time_b) in zip(ta, tb):
            assert time_a == time_b
            if a != b:
                assert a["type"] == "note_on" and a["channel"] == 0 and a["velocity"] > 0
                assert {k for k in a if a[k] != b[k]} == {"velocity"} and 1 <= b["velocity"] <= 127
                changed += 1
    assert changed > 40  # the random model does not happen to give 80 everywhere
    assert result.plot.exists() and result.plot.stat().st_size > 10_000


def test_strength_zero_returns_the_input_velocities(tmp_path, model_file):
    src = write_song(tmp_path / "song.mid", rich_song())
    out = perform_file(src, tmp_path / "o.mid", Player(Performer.load(model_file), "pop", Shaping(strength=0.0))).output
    assert events(out.read_bytes()) == events(src.read_bytes())


def test_strength_blends_per_note(tmp_path, model_file):
    performer = Performer.load(model_file)
    src = write_song(tmp_path / "s.mid", Song([N(60 + i, i * 120, i * 120 + 100, 40) for i in range(20)]))
    full = perform_file(src, tmp_path / "full.mid", Player(performer, "pop", Shaping(contrast=1.0))).after
    half = perform_file(src, tmp_path / "half.mid", Player(performer, "pop", Shaping(contrast=1.0, strength=0.5))).after
    assert np.all(np.abs(half - np.clip(np.rint(0.5 * full + 0.5 * 40), 1, 127)) <= 1)


def test_quantize_writes_the_quantised_piano_part(tmp_path, model_file):
    src = write_song(tmp_path / "s.mid", expressive_song(30))
    result = perform_file(src, tmp_path / "q.mid", Player(Performer.load(model_file), "jazz", quantize=True))
    decoded = codec.quantise(midifile.load_midi(result.output))
    original = codec.quantise(midifile.load_midi(src))
    assert np.array_equal(decoded.pitch, original.pitch) and np.array_equal(decoded.onset, original.onset)
    assert np.array_equal(np.sort(decoded.velocity), np.sort(result.after.astype(int)))


def test_an_existing_output_is_kept_unless_forced_and_the_input_is_never_overwritten(tmp_path, model_file, capsys):
    src = write_song(tmp_path / "song.mid", expressive_song(20))
    args = ["perform", str(src), "--genre", "jazz", "--model", str(model_file)]
    assert main(args) == 0
    out = tmp_path / "song.jazz.mid"
    first = out.read_bytes()
    out.write_bytes(b"user edits")
    assert main(args) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"user edits"
    assert main(args + ["--force"]) == 0 and out.read_bytes() == first
    assert main(args + ["-o", str(src), "--force"]) == 1  # never onto the input, even with --force
    assert "overwrite the input" in capsys.readouterr().err


def test_a_batch_skips_and_reports_each_bad_file(tmp_path, model_file, capsys):
    folder = tmp_path / "in"
    write_song(folder / "a.mid", expressive_song(20, seed=1))
    write_song(folder / "sub" / "b c.mid", expressive_song(20, seed=2))
    (folder / "empty.mid").write_bytes(b"")
    (folder / "corrupt.mid").write_bytes(b"MThd garbage")
    write_song(folder / "drums.mid", Song([N(38, 0, 100, 90, channel=9)]))
    code = main(["perform", str(folder), "--genre", "classical", "--model", str(model_file), "-o",
                 str(tmp_path / "out"), "-q"])
    captured = capsys.readouterr()
    assert code == 1
    assert "2 performed, 3 skipped, 0 failed" in captured.out
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.mid"))
    assert written == ["a.classical.mid", "sub/b c.classical.mid"]  # the sub-folder kept under -o
    for name, reason in [("empty.mid", "empty file"), ("corrupt.mid", "unreadable"), ("drums.mid", "no piano notes")]:
        assert any(name in line and reason in line for line in captured.err.splitlines()), (name, captured.err)
    # an output beside its input is known by its mark, not its name: left alone, and said so, the next time
    assert main(["perform", str(folder / "a.mid"), "--genre", "jazz", "--model", str(model_file)]) == 0
    capsys.readouterr()
    assert main(["perform", str(folder), "--genre", "pop", "--model", str(model_file), "-q"]) == 1
    captured = capsys.readouterr()
    assert "2 performed, 4 skipped, 0 failed" in captured.out
    assert f"skipped: {folder / 'a.jazz.mid'}: written by an earlier `stylenet perform`" in captured.err


def test_no_input_is_lost_for_its_name_or_its_folder(tmp_path, model_file, capsys):
    collection = tmp_path / "coll"
    for sub, seed in (("a", 1), ("b", 2)):
        write_song(collection / sub / "song.mid", expressive_song(20, seed=seed))
    write_song(collection / "Summer Hit.pop.mid", expressive_song(20, seed=3))  # named like an output, a score
    write_song(collection / "demo.jazz.mid", expressive_song(20, seed=4))
    args = ["--genre", "jazz", "--model", str(model_file), "-q"]
    assert main(["perform", str(collection), "-o", str(tmp_path / "out"), *args]) == 0
    assert "4 performed, 0 skipped, 0 failed" in capsys.readouterr().out
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.mid"))
    assert written == ["Summer Hit.pop.jazz.mid", "a/song.jazz.mid", "b/song.jazz.mid", "demo.jazz.jazz.mid"]
    # two files named on their own that would write one output: refused before anything is written
    pair = [str(collection / "a" / "song.mid"), str(collection / "b" / "song.mid")]
    assert main(["perform", *pair, "-o", str(tmp_path / "flat"), *args]) == 2
    err = capsys.readouterr().err
    assert "would both be written to" in err and err.count("\n") == 1 and not (tmp_path / "flat").exists()
    assert main(["perform", *pair, "-o", str(tmp_path / "flat"), "--force", *args]) == 2  # --force changes nothing
    capsys.readouterr()
    # two folders given: each keeps its own name under -o
    assert main(["perform", str(collection / "a"), str(collection / "b"), "-o", str(tmp_path / "two"), *args]) == 0
    assert sorted(str(p.relative_to(tmp_path / "two")) for p in (tmp_path / "two").rglob("*.mid")) == \
        ["a/song.jazz.mid", "b/song.jazz.mid"]
    # -o naming one file for two inputs, or a file of another kind: usage errors, nothing created
    assert main(["perform", *pair, "-o", str(tmp_path / "single.mid"), *args]) == 2
    assert "names one file, but 2 inputs were given" in capsys.readouterr().err
    assert main(["perform", pair[0], "-o", str(tmp_path / "out.wav"), *args]) == 2
    assert "perform writes .mid or .midi files" in capsys.readouterr().err
    assert not (tmp_path / "single.mid").exists() and not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("content, reason", [(b"", "empty file"), (b"MThd\x00", "unreadable")])
def test_a_single_bad_file_is_one_line_and_a_nonzero_exit(tmp_path, model_file, capsys, content, reason):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(content)
    assert main(["perform", str(bad), "--genre", "jazz", "--model", str(model_file)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.mid" in err and reason in err


def test_unknown_genre_lists_the_known_ones(tmp_path, model_file, capsys):
    src = write_song(tmp_path / "s.mid", expressive_song(10))
    assert main(["perform", str(src), "--genre", "polka", "--model", str(model_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("unknown genre 'polka'; this model knows: classical, jazz, pop") and "\n" not in err


def test_perform_with_a_model_file_never_imports_tensorflow(tmp_path, model_file):
    src = write_song(tmp_path / "s.mid", expressive_song(20))
    code = (f"import sys; from stylenet.cli.main import main; rc = main(['perform', {str(src)!r}, '--genre', 'pop', "
            f"'--model', {str(model_file)!r}]); print('RC', rc, 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "RC 0 False" in result.stdout, result.stderr


def test_timings_say_where_the_time_went(tmp_path, model_file, capsys):
    import time

    src = write_song(tmp_path / "a.mid", expressive_song(40, seed=3))
    started = time.perf_counter()
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--timings", "--plot"]) == 0
    wall = time.perf_counter() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("licence: ") and "non-commercial" in err[0]  # the shipped expression network played
    err = err[1:]
    assert len(err) == 1 and err[0].startswith("timings: "), err
    phases = dict(part.rsplit(" ", 2)[:2] for part in err[0][len("timings: "):].split(", "))
    assert list(phases) == ["imports", "model load", "read+encode", "forward", "expression", "write", "plot"]
    measured = sum(float(s) for name, s in phases.items() if name != "imports")  # imports began before `started`
    assert 0 < measured <= wall + 0.0005 * len(phases)  # each phase is printed rounded to the millisecond
    # without the flag, nothing extra on stderr
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--force"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("licence: ") and "timings" not in err


def test_a_two_hour_piece_performs_with_the_shipped_model_in_under_1_gb(tmp_path):
    quarters = 2 * 60 * 120  # two hours at 120 quarter notes a minute: 57,600 grid steps
    src = write_song(tmp_path / "long.mid", Song([N(48 + i % 24, i * 480, i * 480 + 240, 30 + i % 90)
                                                  for i in range(quarters)]))
    code = ("from stylenet.cli.main import main; from tests.midi_fuzz import peak_rss_mb\n"
            f"rc = main(['perform', {str(src)!r}, '--genre', 'jazz', '-q'])\n"
            "print('RC', rc, 'RSS_MB', peak_rss_mb())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    _, rc, _, rss = next(x for x in result.stdout.splitlines() if x.startswith("RC")).split()
    assert rc == "0", result.stderr
    assert float(rss) < 1024
    assert midifile.load_midi(tmp_path / "long.jazz.mid").n_notes == quarters


def test_the_bundled_example_is_flat_sheet_music():
    piece = midifile.load_midi(EXAMPLE)
    assert piece.n_notes > 100 and set(piece.velocity.tolist()) == {80}


# ------------------------------------------------------------------------------------------ recorded performances


def test_a_recording_performed_on_its_beats_keeps_its_own_timing(tmp_path, model_file, capsys):
    times = rubato_beats(30)
    src, _ = recording(tmp_path / "take.mid", times, np.arange(0, 29, 0.25))
    (tmp_path / "take_annotations.txt").write_text(
        annotation_text(times, ["db,3/4" if i == 0 else "db" if i % 3 == 0 else "b" for i in range(30)]))
    out_beats, out_nominal = tmp_path / "beats.mid", tmp_path / "nominal.mid"
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--beats", "beside",
                 "-o", str(out_beats)]) == 0
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--grid", "nominal",
                 "-o", str(out_nominal)]) == 0
    original, on_beats, nominal = (events(p.read_bytes()) for p in (src, out_beats, out_nominal))
    for ta, tb in zip(original, on_beats):
        assert [(a["type"], t) for a, t in ta] == [(b["type"], t) for b, t in tb]
    velocities = [[a["velocity"] for a, _ in t if a["type"] == "note_on"] for t in (on_beats[1], nominal[1])]
    assert velocities[0] != velocities[1]  # the grid the notes were read on changed what the model heard


def test_auto_grid_notes_a_recording_and_grid_beats_tracks_it(tmp_path, model_file, capsys):
    times = 0.6 + np.cumsum(np.concatenate([[0.0], 0.5 * np.exp(np.linspace(0, 0.3, 63))]))  # a slowing take
    src, _ = recording(tmp_path / "take.mid", times, np.arange(0, 63, 0.5),
                       pitches=np.tile([48, 60, 64, 67], 32), velocities=np.tile([90, 50, 60, 55], 32))
    run = ["perform", str(src), "--genre", "jazz", "--model", str(model_file)]
    assert main(run + ["-o", str(tmp_path / "a.mid")]) == 0
    captured = capsys.readouterr()
    err = said(captured.err)
    assert err.startswith(f"note: {src}: looks like a recording") and err.count("\n") == 1
    assert "--grid beats" in err and "on tracked beats" not in captured.out
    assert main(run + ["--grid", "nominal", "-o", str(tmp_path / "n.mid")]) == 0
    assert said(capsys.readouterr().err) == ""
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "n.mid").read_bytes()
    assert main(run + ["--grid", "beats", "-o", str(tmp_path / "b.mid")]) == 0
    assert "; on tracked beats; its own timing, lengths and pedal kept (it looks played))" in capsys.readouterr().out
    assert (tmp_path / "b.mid").read_bytes() != (tmp_path / "n.mid").read_bytes()


def test_auto_grid_leaves_a_sequenced_file_alone(tmp_path, model_file, capsys):
    sequenced = write_song(tmp_path / "song.mid", expressive_song(60))
    for grid in ("auto", "nominal"):
        assert main(["perform", str(sequenced), "--genre", "jazz", "--model", str(model_file), "--grid", grid,
                     "-o", str(tmp_path / f"{grid}.mid")]) == 0
    assert said(capsys.readouterr().err) == ""
    assert (tmp_path / "auto.mid").read_bytes() == (tmp_path / "nominal.mid").read_bytes()


def test_grid_beats_on_a_file_too_short_to_track_is_one_line(tmp_path, model_file, capsys):
    src, _ = recording(tmp_path / "short.mid", rubato_beats(4), np.arange(0, 1.5, 0.5))
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--grid", "beats"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot track beats" in err and "short.mid" in err


def test_grid_beats_refuses_to_track_hours_of_music_in_one_line(tmp_path, model_file, capsys):
    src = write_song(tmp_path / "long.mid", Song([N(60, i * 480 * 150, i * 480 * 150 + 240, 40 + i) for i in range(80)]))
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--grid", "beats"]) == 1
    assert "cannot track beats: the piano part lasts 1.6 hours, tracking reads at most 1" in capsys.readouterr().err


def test_beats_and_a_nominal_grid_contradict_each_other(tmp_path, model_file, capsys):
    src = write_song(tmp_path / "song.mid", expressive_song(20))
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--grid", "nominal",
                 "--beats", "beside"]) == 2
    assert "choose one" in capsys.readouterr().err


def test_one_annotation_file_for_a_batch_is_refused(tmp_path, model_file, capsys):
    for name in ("a", "b"):
        write_song(tmp_path / f"{name}.mid", expressive_song(20))
    (tmp_path / "a_annotations.txt").write_text("0.5\t0.5\tb\n1.0\t1.0\tb\n")
    assert main(["perform", str(tmp_path), "--genre", "jazz", "--model", str(model_file),
                 "--beats", str(tmp_path / "a_annotations.txt")]) == 2
    assert "use --beats beside" in capsys.readouterr().err


def test_the_shipped_models_licence_is_said_once_and_quiet_hides_it(tmp_path, model_file, capsys):
    folder = tmp_path / "in"
    for i in range(2):
        write_song(folder / f"{i}.mid", expressive_song(20, seed=i))
    assert main(["perform", str(folder), "--genre", "jazz", "--model", str(model_file)]) == 0
    assert capsys.readouterr().err.count("licence: ") == 1  # the shipped expression network, once per run
    assert main(["perform", str(folder), "--genre", "jazz", "--model", str(model_file), "-q", "--force"]) == 0
    assert "licence" not in capsys.readouterr().err
    assert main(["perform", str(folder), "--genre", "jazz", "--model", str(model_file), "--timing", "off",
                 "--articulation", "off", "--pedal", "keep", "--force"]) == 0
    assert "licence" not in capsys.readouterr().err  # no shipped model played: nothing to say


def test_genre_names_are_read_whatever_their_case(tmp_path, model_file, capsys):
    src = write_song(tmp_path / "a.mid", expressive_song(20, seed=1))
    assert main(["perform", str(src), "--genre", "JAZZ", "--model", str(model_file), "-q"]) == 0
    assert (tmp_path / "a.jazz.mid").is_file()
    assert main(["perform", str(src), "--genre", "jaz", "--model", str(model_file), "-q"]) == 2
    assert "unknown genre 'jaz' (did you mean 'jazz'?)" in capsys.readouterr().err


def test_a_piano_on_another_program_is_named_with_programs(tmp_path, model_file, capsys):
    organ = [N(60 + i % 12, i * 240, i * 240 + 200, 90) for i in range(24)]
    src = write_song(tmp_path / "organ.mid", Song(organ, programs={0: 16}))  # General MIDI 17, drawbar organ
    run = ["perform", str(src), "--genre", "jazz", "--model", str(model_file), "-q"]
    assert main(run) == 1
    err = capsys.readouterr().err
    assert "no piano notes to perform (General MIDI programs 0-7, the pianos" in err and "--programs" in err
    assert main(run + ["--programs", "0-7,16"]) == 0
    out = mido.MidiFile(tmp_path / "organ.jazz.mid")
    velocities = [m.velocity for t in out.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    assert len(velocities) == 24 and set(velocities) != {90}


def test_the_piano_s_tracks_can_be_named(tmp_path, model_file, capsys):
    keys = [N(60 + i % 12, i * 240, i * 240 + 200, 90, channel=0) for i in range(24)]
    pad = [N(48 + i % 5, i * 480, i * 480 + 400, 70, channel=1) for i in range(12)]
    src = write_song(tmp_path / "band.mid", Song(keys + pad, programs={0: 4, 1: 0}))  # e-piano and a piano pad
    mid = mido.MidiFile(src)
    for track, name in zip(mid.tracks[1:], ("Keys", "Pad")):
        track.insert(0, mido.MetaMessage("track_name", name=name, time=0))
    mid.save(src)
    run = ["perform", str(src), "--genre", "jazz", "--model", str(model_file), "-q", "--force"]

    def velocities(track):
        return [m.velocity for m in mido.MidiFile(tmp_path / "band.jazz.mid").tracks[track]
                if m.type == "note_on" and m.velocity > 0]

    assert main(run + ["--tracks", "keys"]) == 0  # by name, any case
    assert set(velocities(1)) != {90} and velocities(2) == [70] * 12  # the pad is left as it was
    assert main(run + ["--tracks", "2"]) == 0  # by index from 0 (0 is the conductor track)
    assert velocities(1) == [90] * 24 and set(velocities(2)) != {70}
    assert main(run + ["--tracks", "Organ"]) == 1
    err = capsys.readouterr().err
    assert "no track 'Organ' (its tracks: 0, 1 'Keys', 2 'Pad')" in err and err.count("\n") == 1


def test_a_batch_spread_over_processes_writes_what_one_process_writes(tmp_path, model_file, capsys):
    folder = tmp_path / "in"
    for i in range(3):
        write_song(folder / f"{i}.mid", expressive_song(20, seed=i))
    (folder / "broken.mid").write_bytes(b"MThd garbage")
    args = ["--genre", "jazz", "--model", str(model_file), "-q"]
    assert main(["perform", str(folder), "-o", str(tmp_path / "one"), *args]) == 1
    one = capsys.readouterr()
    assert main(["perform", str(folder), "-o", str(tmp_path / "two"), "--jobs", "2", *args]) == 1
    two = capsys.readouterr()
    assert "3 performed, 1 skipped, 0 failed" in one.out and "3 performed, 1 skipped, 0 failed" in two.out
    assert [line for line in two.err.splitlines() if "broken.mid" in line] == \
        [line for line in one.err.splitlines() if "broken.mid" in line]
    for i in range(3):
        assert (tmp_path / "two" / f"{i}.jazz.mid").read_bytes() == (tmp_path / "one" / f"{i}.jazz.mid").read_bytes()
