"""`stylenet conform`: recorded performances re-timed onto their beats, one file or a batch."""

from __future__ import annotations

import numpy as np
import pretty_midi

from stylenet.cli.main import main
from tests.helpers import annotation_text, recording, rubato_beats


def take(folder, name="take", n_beats=24, annotate=True):
    times = rubato_beats(n_beats, seed=len(name))
    midi, _ = recording(folder / f"{name}.mid", times, np.arange(0, n_beats - 1, 0.5))
    if annotate:
        labels = ["db,4/4" if i == 0 else "db" if i % 4 == 0 else "b" for i in range(n_beats)]
        (folder / f"{name}_annotations.txt").write_text(annotation_text(times, labels))
    return midi, times


def test_conform_writes_one_file_whose_beats_sit_on_quarter_ticks(tmp_path, capsys):
    midi, times = take(tmp_path)
    out = tmp_path / "on beats.mid"
    assert main(["conform", str(midi), "--beats", str(tmp_path / "take_annotations.txt"), "-o", str(out)]) == 0
    assert "24 beats, 6 bars, 4/4" in capsys.readouterr().out
    pm = pretty_midi.PrettyMIDI(str(out))
    ticks = np.array([pm.time_to_tick(t) for t in times])
    assert np.all(np.diff(ticks) == pm.resolution) and ticks[0] % (4 * pm.resolution) == 0


def test_conform_never_overwrites_the_input_or_an_output(tmp_path, capsys):
    midi, _ = take(tmp_path)
    before = midi.read_bytes()
    assert main(["conform", str(midi), "--beats", "beside", "-o", str(midi)]) == 1
    assert "would overwrite the input" in capsys.readouterr().err
    out = tmp_path / "out.mid"
    out.write_bytes(b"keep me")
    assert main(["conform", str(midi), "--beats", "beside", "-o", str(out)]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert midi.read_bytes() == before and out.read_bytes() == b"keep me"
    assert main(["conform", str(midi), "--beats", "beside", "-o", str(out), "--force"]) == 0


def test_a_batch_reads_each_files_own_beats_and_skips_one_without(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    take(inputs, "a")
    take(inputs, "b b", n_beats=30)
    take(inputs, "lost", annotate=False)
    assert main(["conform", str(inputs), "--beats", "beside", "-o", str(tmp_path / "out"), "-q"]) == 1
    captured = capsys.readouterr()
    assert "skipped: " in captured.err and "lost.mid: no beat annotation beside it (looked for lost_annotations.txt)" in captured.err
    assert "2 conformed, 1 skipped" in captured.out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.conformed.mid", "b b.conformed.mid"]


def test_a_batch_cannot_share_one_annotation_file(tmp_path, capsys):
    take(tmp_path, "a")
    take(tmp_path, "b")
    assert main(["conform", str(tmp_path), "--beats", str(tmp_path / "a_annotations.txt")]) == 2
    assert "use --beats beside" in capsys.readouterr().err


def test_bad_beats_end_in_one_line_naming_the_file(tmp_path, capsys):
    midi, _ = take(tmp_path)
    (tmp_path / "take_annotations.txt").write_text("1.0\t1.0\tb\n0.5\t0.5\tb\n")
    assert main(["conform", str(midi), "--beats", "beside"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "take_annotations.txt: beat 2 (0.500 s) does not come after" in err
