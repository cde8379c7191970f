"""The objective report: each metric on hand-made music, the copy check's longest shared run, MusPy's
definitions where MusPy is installed, and the verb end to end (table, JSON, PNG)."""

import json
import math

import numpy as np
import pytest

from stylenet.cli.main import main
from stylenet.compose.data import NO_FILTERS, STEPS_PER_BAR, Tune, read_tune
from stylenet.compose.report import (
    Reference,
    empty_bar_rate,
    measure,
    notes_per_bar,
    pitch_class_entropy,
    polyphony,
    scale_consistency,
)
from stylenet.compose.sample import SampleOptions, sample

EIGHTH = STEPS_PER_BAR // 8


def tune(pitch, onset, offset, name="t"):
    return Tune(name, None, np.array(pitch), np.array(onset), np.array(offset), 120.0)


def c_major_scale(bars_of_silence=0):
    """C D E F G A B C as eighth notes in bar 1, then (optionally) empty bars, then a C major triad held a bar."""
    start = (1 + bars_of_silence) * STEPS_PER_BAR
    pitch = [60, 62, 64, 65, 67, 69, 71, 72, 48, 52, 55]
    onset = [i * EIGHTH for i in range(8)] + [start] * 3
    offset = [(i + 1) * EIGHTH for i in range(8)] + [start + STEPS_PER_BAR] * 3
    return tune(pitch, onset, offset)


def test_the_metrics_of_a_scale_and_a_chord():
    t = c_major_scale(bars_of_silence=2)
    assert t.n_bars == 4 and notes_per_bar(t) == 11 / 4
    assert polyphony(t) == (8 * EIGHTH * 1 + STEPS_PER_BAR * 3) / (8 * EIGHTH + STEPS_PER_BAR)  # 2.0
    share = np.array([3, 1, 2, 1, 2, 1, 1]) / 11  # C x3, D, E x2, F, G x2, A, B: 7 classes over 11 notes
    assert pitch_class_entropy(t) == pytest.approx(-(share * np.log2(share)).sum())
    assert scale_consistency(t) == 1.0
    assert empty_bar_rate(t) == 0.5
    chromatic = tune(list(range(60, 72)), list(range(12)), list(range(1, 13)))
    assert pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert scale_consistency(chromatic) == 7 / 12


def test_the_copy_check_finds_the_longest_run_inside_one_reference_piece():
    where = Reference._index([list("abcde"), list("xbcdy")])
    assert Reference.longest_run(list("zbcdez"), where) == 4  # b c d e of the first piece
    assert Reference.longest_run(list("qq"), where) == 0
    assert Reference.longest_run(list("eb"), where) == 1  # e ends one piece; runs never cross the gap
    assert Reference.longest_run(list("dexb"), where) == 2
    assert Reference.longest_run([None, "b", "c"], where) == 2  # an empty bar matches nothing


def test_a_piece_copied_from_the_reference_shares_all_its_bars_and_tokens():
    original = c_major_scale(bars_of_silence=0)
    reference = Reference([original, tune([40], [0], [5])])
    assert reference.shared(original) == (2, len(np.unique(original.onset)))
    moved = tune(original.pitch + 30, original.onset, original.offset)
    assert reference.shared(moved) == (0, 0)
    row = measure(original, reference)
    assert set(row) == {"notes_per_bar", "polyphony", "pitch_class_entropy", "scale_consistency",
                        "empty_bar_rate", "shared_bars", "shared_tokens"}


def test_the_metrics_follow_muspy_s_definitions(key_songs):
    muspy = pytest.importorskip("muspy", reason="MusPy not installed (optional: pip install muspy)")
    path = next(key_songs.glob("*.mid"))
    ours = read_tune(path, NO_FILTERS)
    music = muspy.read_midi(path)
    assert pitch_class_entropy(ours) == pytest.approx(muspy.pitch_class_entropy(music), abs=1e-9)
    assert scale_consistency(ours) == pytest.approx(muspy.scale_consistency(music), abs=1e-9)
    music.adjust_resolution(6)
    assert polyphony(ours) == pytest.approx(muspy.polyphony(music), abs=1e-9)


def test_report_writes_a_table_numbers_and_a_plot(lstm_run, tmp_path, capsys):
    sample(SampleOptions(str(lstm_run), str(tmp_path / "gen"), count=3, bars=4))
    assert main(["compose", "report", f"lstm={tmp_path / 'gen'}", "--model", str(lstm_run), "--bars", "4",
                 "-o", str(tmp_path / "report"), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "| lstm | 3 |" in printed and (tmp_path / "report" / "report.png").stat().st_size > 10_000
    numbers = json.loads((tmp_path / "report" / "report.json").read_text())
    human = numbers["sets"]["human (test)"]  # a folder source has no split: its pieces are the training ones
    assert human["shared_bars"] == [4.0] * 8  # each human excerpt is found whole among the training pieces
    assert numbers["reference"]["pieces"] == 8 and len(numbers["sets"]["lstm"]["polyphony"]) == 3


def test_a_set_that_is_not_a_folder_is_one_line(lstm_run, tmp_path, capsys):
    assert main(["compose", "report", f"x={tmp_path / 'nope'}", "--model", str(lstm_run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope: not a folder of MIDI files (set 'x')" in err


def test_a_missing_training_source_is_one_line_saying_how_to_build_it(lstm_run, tmp_path, capsys):
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(lstm_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"]["source"] = str(tmp_path / "gone")
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "set").mkdir()
    assert main(["compose", "report", f"x={tmp_path / 'set'}", "--model", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "gone: neither a built dataset" in err and "make dataset" in err
