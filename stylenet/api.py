"""StyleNet from Python: perform a score and hear it, without the command line.

    import stylenet
    performance = stylenet.perform("song.mid", genre="jazz")        # -> pretty_midi.PrettyMIDI
    performance.write("song.jazz.mid")
    wav = stylenet.render(performance)                              # -> WAV bytes

`perform` takes a path, the bytes of a MIDI file, or a `pretty_midi.PrettyMIDI`, and the options of
`stylenet perform` as keywords; it plays the file through the same step the command line does
(play/step.py), so both write the same performance.  Models load once per process and are kept for
the next call.  Errors are `stylenet.StyleNetError`s with one line naming the input and the reason.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from stylenet.core import midifile
from stylenet.core.errors import StyleNetError

__all__ = ["perform", "render", "StyleNetError"]


def _midi_bytes(midi) -> tuple[str, bytes | None]:
    """(a name for errors, the file's bytes or None to read the path) of what a caller passed."""
    if isinstance(midi, (str, Path)):
        return str(midi), None
    if isinstance(midi, (bytes, bytearray, memoryview)):
        return "<MIDI bytes>", bytes(midi)
    if hasattr(midi, "write") and hasattr(midi, "instruments"):  # a pretty_midi.PrettyMIDI
        buffer = io.BytesIO()
        midi.write(buffer)
        return "<PrettyMIDI>", buffer.getvalue()
    raise StyleNetError(f"cannot read a {type(midi).__name__} as MIDI: give a path, bytes or a pretty_midi.PrettyMIDI")


@lru_cache(maxsize=4)
def _player(model, genre: str, level, contrast, strength: float, timing: float, articulation: float, pedal: str,
            timing_as: str, variation: float, seed: int, touch: str, grid: str, quantize: bool, programs: tuple,
            tracks: tuple | None):
    from stylenet.expression.realise import Expression
    from stylenet.play.step import Player
    from stylenet.velocity.performer import load_performer
    from stylenet.velocity.shaping import Shaping

    shaping = Shaping(level, contrast, strength)
    expression = Expression(timing, articulation, pedal, timing_as, variation, seed)
    return Player.load(load_performer(model), genre, shaping, grid, touch, None, expression, None, quantize,
                       programs, tracks)[0]


def perform(midi, genre: str, *, model: str | None = None, level="auto", contrast="auto", strength: float = 1.0,
            timing: float = 1.0, articulation: float = 1.0, pedal: str = "auto", timing_as: str = "notes",
            variation: float = 0.0, seed: int = 0, touch: str = "auto", grid: str = "auto",
            quantize: bool = False, programs=midifile.PIANO_PROGRAMS, tracks=None):
    """`midi` (a path, MIDI bytes or a PrettyMIDI) as a pianist of `genre` plays it -> pretty_midi.PrettyMIDI.

    The keywords are `stylenet perform`'s options (`stylenet perform --help` says what each does): `level`
    ('auto': a piano in a mix keeps its level against the others), `contrast`, `strength`, `timing`,
    `articulation`, `pedal`, `timing_as`, `variation`, `seed`, `touch`, `grid`, `quantize`, `programs`
    (General MIDI programs, from 0, that are the piano), `tracks` (or the piano's tracks, by index or name);
    `model`: a model file or training run (default: the
    shipped one)."""
    import pretty_midi

    from stylenet.play.step import play

    name, data = _midi_bytes(midi)
    player = _player(model, genre, level, contrast, float(strength), float(timing), float(articulation), pedal,
                     timing_as, float(variation), int(seed), touch, grid, bool(quantize), tuple(programs),
                     tuple(tracks) if tracks else None)
    piece = midifile.load_midi(name, player.programs, player.performer.steps_per_quarter, data=data,
                               tracks=player.tracks)
    played = play(piece, player)
    return pretty_midi.PrettyMIDI(io.BytesIO(played.midi))


def render(midi, *, fmt: str = "wav", soundfont: str | None = None, tail: float = 1.0) -> bytes:
    """Audio of `midi` (a path, MIDI bytes or a PrettyMIDI) with a piano SoundFont -> WAV (or Opus) bytes,
    as `stylenet render` writes them (`soundfont`: an .sf2 file; default: the best one installed)."""
    from stylenet.listen.render import midi_with_tail, read_soundfont, render_bytes

    name, data = _midi_bytes(midi)
    return render_bytes(midi_with_tail(name, tail, data), read_soundfont(soundfont), fmt, name)
