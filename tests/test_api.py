"""The Python API (stylenet/api.py): every example of docs/api.md runs, and the API writes what the command
line writes."""

import re
import shutil
import subprocess
import sys

import pretty_midi
import pytest

import stylenet
from stylenet.cli.main import main
from tests.helpers import EXAMPLE, ROOT, N, Song, write_song

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


@pytest.fixture
def example_folder(tmp_path, monkeypatch):
    (tmp_path / "data" / "examples").mkdir(parents=True)
    shutil.copy(EXAMPLE, tmp_path / "data" / "examples" / "chorale.mid")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_documented_examples_run_in_order(example_folder, capsys):
    assert len(BLOCKS) >= 4
    namespace: dict = {}
    for block in BLOCKS:
        exec(compile(block, "docs/api.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "notes, velocities" in out and "kB of audio" in out
    assert "<MIDI bytes>:" in out and "did you mean 'jazz'?" in out
    assert (example_folder / "chorale.jazz.mid").stat().st_size > 0
    assert (example_folder / "chorale.classical.wav").read_bytes()[:4] == b"RIFF"


def test_the_api_writes_what_the_command_line_writes(example_folder):
    assert main(["perform", "data/examples/chorale.mid", "--genre", "pop", "-o", "cli.mid", "-q"]) == 0
    from_cli = pretty_midi.PrettyMIDI("cli.mid")
    for given in ("data/examples/chorale.mid", EXAMPLE.read_bytes(), pretty_midi.PrettyMIDI(str(EXAMPLE))):
        from_api = stylenet.perform(given, genre="POP")
        notes = [(n.pitch, round(n.start, 4), round(n.end, 4), n.velocity) for n in from_api.instruments[0].notes]
        assert notes == [(n.pitch, round(n.start, 4), round(n.end, 4), n.velocity)
                         for n in from_cli.instruments[0].notes]


def test_a_mix_keeps_its_piano_level_by_default(example_folder):
    notes = [N(60 + (i * 5) % 24, i * 240, i * 240 + 200, 100) for i in range(48)]  # a DAW's piano, all 100
    notes += [N(36 + i % 5, i * 240, i * 240 + 100, 100, channel=9) for i in range(48)]  # drums
    notes += [N(40, i * 480, i * 480 + 400, 100, channel=1) for i in range(24)]  # bass
    src = write_song(example_folder / "mix.mid", Song(notes, programs={0: 0, 1: 33}))
    mixed = stylenet.perform(str(src), genre="jazz")  # the expression network's velocity blended in too
    piano = [n.velocity for i in mixed.instruments if i.program == 0 and not i.is_drum for n in i.notes]
    before = [n.velocity for i in pretty_midi.PrettyMIDI(str(src)).instruments if i.program == 0 and not i.is_drum
              for n in i.notes]
    assert abs(sum(piano) / len(piano) - sum(before) / len(before)) < 1.5  # the mean kept, the shape the model's


def test_import_stylenet_is_light():
    code = "import sys, stylenet; print('numpy' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
    assert out.split() == ["False", "False"]


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(stylenet.StyleNetError, match="cannot read a int as MIDI"):
        stylenet.perform(42, genre="jazz")
