"""The command line: help, usage errors, one-line errors and exit codes, and what each verb prints when done."""

import os
import subprocess
import sys

import pytest

from stylenet.cli.main import main
from stylenet.data.read import load_manifest
from tests.helpers import ROOT, asap_tree


def test_help_is_fast_and_does_not_import_tensorflow():
    code = ("import sys, runpy; sys.argv=['stylenet','--help']\n"
            "try:\n runpy.run_module('stylenet', run_name='__main__')\nexcept SystemExit: pass\n"
            "print('TF' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'NO-TF')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0
    assert result.stdout.strip().endswith("NO-TF")
    assert "build-dataset" in result.stdout and "example" in result.stdout


def test_out_of_range_perform_flags_are_usage_errors(capsys):
    for flags in (["--strength", "1.5"], ["--level", "loud"], ["--contrast", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["perform", "x.mid", "--genre", "jazz", *flags])
        assert exit_info.value.code == 2
    assert "must be a number from 0 to 1" in capsys.readouterr().err


def test_a_training_transposition_out_of_range_is_a_usage_error(capsys):
    for value in ("-1", "13", "two"):
        with pytest.raises(SystemExit) as exit_info:
            main(["train-expression", "--transpose", value])
        assert exit_info.value.code == 2
        assert f"must be a whole number of semitones from 0 to 12, got '{value}'" in capsys.readouterr().err


def test_an_empty_path_is_a_usage_error_not_the_current_folder(tmp_path, monkeypatch, capsys):
    """`stylenet perform "$UNSET" --genre jazz` once performed every MIDI file below the current folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "song.mid").write_bytes(b"")
    for argv in (["perform", "", "--genre", "jazz"], ["perform", "song.mid", "--genre", "jazz", "-o", " "],
                 ["perform", "song.mid", "--genre", "jazz", "--touch-model", ""],
                 ["evaluate", ""], ["build-dataset", ""], ["conform", "", "--beats", "beside"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert "an empty path" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid"]  # nothing written


def test_build_dataset_prints_what_it_kept_and_where_the_rejections_are(raw_tree, tmp_path, capsys):
    assert main(["build-dataset", str(raw_tree), "-o", str(tmp_path / "ds"), "-j", "1", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "5 pieces kept, 6 rejected" in printed
    assert "rejected.csv" in printed


def test_a_missing_raw_dir_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["build-dataset", str(tmp_path / "nope"), "-o", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err and "no such directory" in err


def test_a_folder_without_midi_is_an_error(tmp_path, capsys):
    (tmp_path / "raw" / "jazz").mkdir(parents=True)
    assert main(["build-dataset", str(tmp_path / "raw"), "-o", str(tmp_path / "ds")]) == 2
    assert "no MIDI files" in capsys.readouterr().err


def test_train_prints_where_the_run_lives_and_what_to_do_next(genre_dataset, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{dataset: '{genre_dataset}', genres: [jazz, pop]}}\nmodel: {{units: 8, genre_layers: 1}}\n"
                   "train: {epochs: 1, window: 32}\n")
    result = subprocess.run([sys.executable, "-m", "stylenet", "train", "--config", str(cfg), "--run-dir",
                             str(tmp_path / "run"), "-q"], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "resume or extend" in result.stdout and "stylenet perform song.mid --genre jazz" in result.stdout
    assert "parameters" in result.stdout
    assert "cuda" not in result.stderr.lower() and "I0000" not in result.stderr


def test_build_dataset_takes_asap_alone_and_refuses_no_source(tmp_path, capsys):
    asap = asap_tree(tmp_path / "asap", works=3, takes=1)
    assert main(["build-dataset", "--asap", str(asap), "--asap-genre", "classical", "-o", str(tmp_path / "ds"),
                 "-q", "-j", "1"]) == 0
    assert {e["genre"] for e in load_manifest(tmp_path / "ds")} == {"classical"}
    assert main(["build-dataset", "-o", str(tmp_path / "ds2")]) == 2
    assert "name a RAW_DIR, or an ASAP folder with --asap DIR" in capsys.readouterr().err


def test_compose_train_prints_what_the_filters_kept_and_what_to_do_next(key_songs, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"composer: token_lstm\ndata: {{source: '{key_songs}', validation_fraction: 0.2}}\n"
                   "token_lstm: {context: 8, lstm_layers: 1, lstm_units: 8, dense_units: 8, token_input: embedding,"
                   " min_chord_count: 1}\ntrain: {epochs: 1, batch_size: 16}\n")
    result = subprocess.run([sys.executable, "-m", "stylenet", "compose", "train", "--config", str(cfg), "--run-dir",
                             str(tmp_path / "run"), "-q"], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "dropped: prevailing tempo outside 110-130 qpm" in result.stdout
    assert "resume or extend" in result.stdout and f"stylenet compose sample --model {tmp_path / 'run'}" in result.stdout
