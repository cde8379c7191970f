"""The fuzzer's property on a bounded, seeded sample (`make fuzz` runs thousands), and the crashers it found."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stylenet.cli.main import main
from stylenet.core import codec
from tests import midi_fuzz
from tests.helpers import expressive_song, write_song
from tests.midi_fuzz import conductor, key_signature, piano, smf, tempo, track

ROOT = Path(__file__).resolve().parents[1]
MELODY = [(60 + i % 12, i * 240, i * 240 + 200, 40 + i) for i in range(40)]


def test_a_seeded_sample_of_fuzzed_files_is_read_or_rejected_and_never_crashes():
    count = 3 * len(midi_fuzz.GENERATORS) * 4  # every generator 12 times
    result = subprocess.run([sys.executable, "-m", "tests.midi_fuzz", "--count", str(count), "--perform", "40",
                             "--seed", "0", "--json", "--seconds-per-file", "20"],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failures"] == [], report["failures"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert report["count"] == count and set(report["by_kind"]) == set(midi_fuzz.GENERATORS)
    assert report["outcomes"]["ok"] > count // 4 and report["outcomes"]["rejected"] > count // 4
    assert report["performed"] >= 20
    assert report["slowest"][0] < 20 and report["peak_rss_mb"] < 1024


def test_the_fuzzer_reports_what_escapes(monkeypatch):
    """The property check itself can fail: an exception other than MidiReadError is a finding."""
    def broken_quantise(piece):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(codec, "quantise", broken_quantise)
    report = midi_fuzz.run(count=len(midi_fuzz.GENERATORS), seed=0, perform_every=0, seconds_per_file=20)
    assert report["outcomes"]["escaped"] > 0
    assert report["failures"][0]["detail"] == "ZeroDivisionError: float division by zero"


def _with_format(data: bytes, midi_format: int) -> bytes:
    return data[:8] + midi_format.to_bytes(2, "big") + data[10:]


# The crash classes found (the three first); each is now a one-line reason naming the file.
CRASHERS = {
    "tempo 0": (smf([track([(0, tempo(0))]), piano(MELODY)]),
                "tempo event of 0 microseconds per quarter note at tick 0"),
    "0 ticks per beat": (smf([conductor(), piano(MELODY)], division=0),
                         "time division of 0 ticks per quarter note"),
    "impossible key": (smf([track([(0, key_signature(9, 0))]), piano(MELODY)]),
                       "impossible key signature (Could not decode key with 9 sharps and mode 0)"),
    "SMPTE division": (smf([conductor(), piano(MELODY)], division=0xE728), "SMPTE time division"),
    "channel prefix 16": (smf([track([(0, b"\xff\x20\x01\x10")]), piano(MELODY)]), None),
    "5 hours of silence": (smf([conductor(), piano([(60, 0, 96, 80), (62, 5 * 7200 * 96, 5 * 7200 * 96 + 96, 70)])],
                               division=96), "too long: the piano part lasts 36,001 quarter notes"),
    "tick 2**28": (smf([conductor(), piano([(60, 0, 96, 80), (62, 2 ** 28 - 1, 2 ** 28, 70)])]),
                   "too long: its last event is at tick 268,435,456"),
    # read as format -1; writing it back crashed the header's packing (fuzz seed 27): now written as format 0
    "format 0xFFFF": (_with_format(smf([piano(MELODY)]), 0xFFFF), None),
}


@pytest.mark.parametrize("name", CRASHERS)
def test_each_crash_class_found_is_one_line_naming_the_file(name, tmp_path, model_file, capsys):
    data, reason = CRASHERS[name]
    path = tmp_path / "in put.mid"
    path.write_bytes(data)
    code = main(["perform", str(path), "--genre", "jazz", "--model", str(model_file)])
    err = capsys.readouterr().err
    if reason is None:  # not a bad file at all: it performs
        assert code == 0, err
        return
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: " in err and reason in err and "internal error" not in err


def test_a_batch_of_fuzzed_files_skips_each_bad_one_and_performs_every_good_one(tmp_path, model_file, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    bad = []
    for name, kind, data in midi_fuzz.cases(len(midi_fuzz.BROKEN) * 2, seed=5):
        if kind in midi_fuzz.BROKEN:
            (folder / name).write_bytes(data)
            bad.append(name)
    for name, (data, reason) in CRASHERS.items():
        if reason:
            (folder / f"crasher {name}.mid").write_bytes(data)
    good = [write_song(folder / f"good {i}.mid", expressive_song(30, seed=i)).name for i in range(5)]
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    code = main(["perform", str(folder), "--genre", "pop", "--model", str(model_file), "-o", str(tmp_path / "out"), "-q"])
    out, err = capsys.readouterr()
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    performed, skipped, failed = (int(x) for x in out.strip().splitlines()[-1].replace(",", "").split()[::2])
    assert code == 1 and performed + skipped + failed == len(files) and performed == len(written) and failed == 0
    assert {f"good {i}.pop.mid" for i in range(5)} <= set(written)
    lines = [line for line in err.strip().splitlines() if not line.startswith("note: ")]  # --grid auto's notes
    assert len(lines) == skipped and all(line.startswith("skipped: ") for line in lines)
    assert "Traceback" not in err and "internal error" not in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files and len(good) == 5  # inputs untouched


def test_fuzz_cases_are_reproducible_from_the_seed():
    first = [data for _, _, data in midi_fuzz.cases(60, seed=7)]
    assert first == [data for _, _, data in midi_fuzz.cases(60, seed=7)]
    assert first != [data for _, _, data in midi_fuzz.cases(60, seed=8)]


@pytest.mark.parametrize("environment, traceback_shown", [({}, False), ({"STYLENET_DEBUG": "1"}, True)])
def test_a_bug_met_on_one_file_says_so_in_one_line(tmp_path, model_file, environment, traceback_shown):
    """An unexpected exception (here forced inside encode) is reported as StyleNet's bug, naming the file."""
    src = write_song(tmp_path / "s.mid", expressive_song(20))
    code = ("import sys; from stylenet.core import codec; from stylenet.cli.main import main\n"
            "def broken(*a, **k): raise ZeroDivisionError('float division by zero')\n"
            "codec.encode = broken\n"
            f"sys.exit(main(['perform', {str(src)!r}, '--genre', 'jazz', '--model', {str(model_file)!r}]))")
    env = {k: v for k, v in os.environ.items() if k != "STYLENET_DEBUG"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**env, "PYTHONPATH": str(ROOT), **environment})
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"stylenet perform: error: {src}: internal error (ZeroDivisionError: float division by zero)")
    assert "please report it" in last
    assert ("Traceback" in result.stderr) == traceback_shown
    assert (len(result.stderr.strip().splitlines()) == 1) != traceback_shown
