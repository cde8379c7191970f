"""The play step: a score in, a performance out, in memory -- what `perform` and `survey` call (and whose
predict-touch-shape step, `shaping.shaped_velocities`, `evaluate` scores).

    play(piece, player)  -> Played     one piece (`midifile.MidiPiece`) performed as `player` says

Playing a piece, in order:
  1. read it on a beat grid (`read_on_grid`: its own tempo map, annotated beats, or tracked ones);
  2. quantise its piano notes onto the grid's 1/16 notes and let the genre's GenreNet predict a velocity
     for each (velocity/performer.py: the paper's network, read in several keys);
  3. for a recording, add what its own timing says about loudness (`touch`: recorded/touch.py);
  4. shape the velocities to a level and a spread (`shaped_velocities`: velocity/shaping.py);
  5. for a score that looks quantised, write timing, articulation and pedal as well (the expression
     network: expression/realise.py), blending its velocities in where validation chose to.
`Player` holds what a performance is played with -- the models, loaded once for a batch, and the settings;
`Played` what came out: the performed file's bytes, the velocities before and after, what was done, in words.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stylenet.core import codec, midifile, smf
from stylenet.core.beats import BeatsError, conform, read_annotations
from stylenet.core.errors import StyleNetError
from stylenet.velocity.shaping import Shaping, level_for, shaped_velocities

if TYPE_CHECKING:
    from stylenet.expression.network import ExpressionNet
    from stylenet.expression.realise import Expression
    from stylenet.velocity.performer import Performer

GRIDS = ("nominal", "beats", "auto")
MAX_TRACKED_SECONDS = 3600


@dataclass
class Timings:
    """Seconds spent per phase of `perform`, summed over files (`--timings`)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def line(self) -> str:
        return "timings: " + ", ".join(f"{name} {s:.3f} s" for name, s in self.seconds.items())


@dataclass(frozen=True)
class Player:
    """What a performance is played with: the StyleNet model and the genre, how its velocities are shaped,
    the grid the notes are read on, the touch network (`touch_with` = (network, calibration) from
    `touch_for`; None: read the score alone, whatever `touch` says), and the expression network with its
    settings (None: velocity only).  `Player.load` loads the shipped (or named) networks as `perform` does;
    load it once and play any number of pieces with it."""

    performer: "Performer"
    genre: str
    shaping: Shaping = Shaping()
    grid: str = "auto"  # GRIDS: which beat grid the notes are read on
    touch: str = "auto"  # auto | on | off: whether a recording's timing is read for loudness too
    touch_with: tuple | None = None
    expression: "Expression | None" = None
    expression_net: "ExpressionNet | None" = None
    quantize: bool = False  # write the paper's quantised piano part instead of the original file
    programs: tuple = midifile.PIANO_PROGRAMS  # General MIDI programs (from 0) that count as the piano
    tracks: tuple | None = None  # or the piano's tracks, by index from 0 or by name (`midifile.load_midi`)

    @classmethod
    def load(cls, performer, genre: str, shaping: Shaping = Shaping(), grid: str = "auto", touch: str = "auto",
             touch_model=None, expression=None, expression_model=None, quantize: bool = False,
             programs=midifile.PIANO_PROGRAMS, tracks=None) -> tuple["Player", str]:
        """(a player with the shipped, or the named, touch and expression networks; what the user should
        know about them, in one line or "")."""
        genre = performer.genre_named(genre)
        touch_with = touch_for(performer, genre, touch, touch_model)
        net, expression_note = expression_for(expression, expression_model, genre)
        player = cls(performer, genre, shaping, grid, touch, touch_with[:2] if touch_with[0] else None, expression,
                     net, quantize, tuple(programs), tuple(tracks) if tracks else None)
        notes = [uncalibrated_note(performer, genre, shaping), touch_with[2], expression_note]
        return player, "; ".join(n for n in notes if n)

    @property
    def expressing(self) -> bool:
        return self.expression is not None and self.expression_net is not None and not self.quantize


@dataclass
class Played:
    """One performance, in memory."""

    midi: bytes  # the performed file
    score: codec.Score  # the piano notes as quantised, with the file's own velocities
    before: np.ndarray  # the file's piano velocities, one per note of `score`
    after: np.ndarray  # the performed ones
    grid: str = "the file's tempo map"  # the grid the notes were read on, in words
    note: str | None = None  # something the user should know about that choice (one line)
    touch: bool = False  # whether the recording's own timing was read for loudness too
    expressed: str = ""  # what of timing, articulation and pedal was written, in words ("" = none)
    level: str | float = "model"  # the level the velocities were shaped to (`auto` resolved)

    @property
    def performed(self) -> codec.Score:
        return replace(self.score, velocity=self.after.astype(np.int64))

    def summary(self) -> str:
        """What was played, in one line (`summary`)."""
        return summary(self.before, self.after, self.grid, self.level, self.touch, self.expressed)


def summary(before, after, grid: str, level, touch: bool, expressed: str) -> str:
    """A performance in one line: '178 notes; velocity 80±0 -> 50±9; rubato, articulation, pedal added',
    with the grid, the level and the touch where they are not the usual ones (perform's line, the studio's)."""
    on = "" if grid == "the file's tempo map" else f"; on {grid}"
    on += "; its own level kept" if level == "input" else ""
    on += "; touch from its timing" if touch else ""
    on += f"; {expressed}" if expressed else ""
    return (f"{len(before)} notes; velocity {before.mean():.0f}±{before.std():.0f} -> "
            f"{after.mean():.0f}±{after.std():.0f}{on}")


def read_on_grid(piece, grid: str = "auto", beats_file: Path | None = None):
    """(piece, grid in words, note or None): the piece on the beat grid asked for.

    nominal  the file's own tempo map
    beats    the annotated beats (`beats_file`), else beats tracked from the notes (recorded/tracker.py)
    auto     the annotated beats when given, else the file's tempo map; a recording (onsets neither on the
             file's ticks nor gathered on its quarter notes: recorded/grid.py) gets a one-line note
             pointing to --beats and --grid beats.  Not tracked by default: on the ASAP validation works,
             tracked beats scored no better than the recording's own ticks (docs: "Which grid `perform`
             reads a file on").
    """
    if beats_file is not None and grid != "nominal":
        return conform(piece, read_annotations(beats_file)), "annotated beats", None
    if grid == "nominal" or piece.n_notes == 0:
        return piece, "the file's tempo map", None
    from stylenet.recorded.grid import looks_recorded
    from stylenet.recorded.tracker import track

    if grid == "auto":
        recording = looks_recorded(piece)
        note = (f"{piece.path}: looks like a recording (its notes follow neither its ticks nor its beat): read on "
                f"its own tempo map; --beats FILE reads it on annotated beats, --grid beats on tracked ones"
                ) if recording else None
        return piece, "the file's tempo map", note
    if piece.seconds > MAX_TRACKED_SECONDS:  # tracking time grows with the length (50 frames a second)
        raise midifile.MidiReadError(piece.path, f"cannot track beats: the piano part lasts {piece.seconds / 3600:.1f} "
                                                 f"hours, tracking reads at most {MAX_TRACKED_SECONDS // 3600} (give --beats)")
    try:
        tracked = track(piece)
    except BeatsError as exc:
        raise midifile.MidiReadError(piece.path, f"cannot track beats: {exc.reason}") from None
    return conform(piece, tracked), "tracked beats", None


def _looks_recorded(piece) -> bool:
    from stylenet.recorded.grid import looks_recorded

    return piece.n_notes > 0 and looks_recorded(piece)


def touch_for(performer, genre: str, mode: str = "auto", path=None):
    """(touch network, its calibration for `genre` with `performer`, note) that `perform` uses: (None, None,
    note) where it reads the score alone -- `off`; no touch network shipped; `auto` in a genre the network
    is not calibrated for (no note: that is the usual case) or for another model (a note says so).  `on`
    where there is none is a usage error.  `path`: a touch network file (default: the shipped one)."""
    if mode == "off":
        return None, None, None
    from stylenet.recorded.touch import TouchNet, calibration_for, shipped_touch

    net = TouchNet.load(path) if path else shipped_touch()
    why = "no touch network is installed (stylenet/pretrained/touch.npz)" if net is None else ""
    calibration = None
    if net is not None:
        calibration, why = calibration_for(net, genre, performer)
    if calibration is None:
        if mode == "on":
            raise StyleNetError(f"--touch on: {why}", exit_code=2)
        note = f"recordings are read from the score alone: {why}" if net and genre in net.calibration else None
        return None, None, note
    return net, calibration, None


def expression_for(expression, path, genre: str):
    """(the expression network `perform` writes timing, articulation and pedal with, or None; a note)."""
    if expression is None or (expression.timing == 0 and expression.articulation == 0 and expression.pedal == "keep"):
        return None, None
    from stylenet.expression.network import SHIPPED_EXPRESSION, ExpressionNet

    if path is None and not SHIPPED_EXPRESSION.is_file():
        return None, "no expression network shipped with this install: velocities only"
    net = ExpressionNet.load(path)
    if genre not in net.genres:
        return None, f"the expression network has no genre {genre!r} ({', '.join(net.genres)}): velocities only"
    return net, None


def uncalibrated_note(performer, genre: str, shaping) -> str:
    """A training run's `--contrast auto` needs the factors its training records as it ends (for the best
    weights); without them auto falls back to stretching each piece, which the user should hear about."""
    run = performer.info.get("run")
    if not run or shaping.contrast != "auto" or "contrast" in performer.stats.get(genre, {}):
        return ""
    return (f"{run} has no calibrated contrast for these weights: --contrast auto stretches each piece to the "
            f"genre's typical spread (rerun its `stylenet train` command to record them for the current weights)")


def play(piece, player: Player, beats_file: Path | None = None, timings: Timings | None = None) -> Played:
    """Perform one piece, read on the beat grid the player's `grid` chooses (`read_on_grid`; `beats_file`: a
    recorded performance's annotated beats).  The output keeps the input's own timing whatever the grid,
    unless the expression network writes a score's timing (a file that looks played keeps its own)."""
    timings = timings or Timings()
    performer, genre, shaping = player.performer, player.genre, player.shaping
    with timings.phase("read+encode"):
        piece, on_grid, note = read_on_grid(piece, player.grid, beats_file)
        if piece.n_notes == 0:
            which = (f"tracks {', '.join(map(str, piece.tracks))}" if piece.tracks is not None else
                     f"{midifile.describe_programs(piece.programs)}; --programs or --tracks names others")
            raise StyleNetError(f"{piece.path}: no piano notes to perform ({which}; keys A0-C8)")
        score = codec.quantise(piece)
        score_matrix, _ = codec.encode(score)
    with timings.phase("forward"):
        predicted_matrix = performer.velocities(score_matrix, genre, piece.meter_map())
    key = score.pitch - midifile.LOWEST_KEY
    predicted = codec.raw_velocities_at(predicted_matrix, score.onset, key)
    touch_net, calibration = player.touch_with or (None, None)
    expressing = player.expressing
    looks_played = ((touch_net is not None and player.touch == "auto") or expressing) and _looks_recorded(piece)  # once
    touched = touch_net is not None and (player.touch == "on" or (player.touch == "auto" and looks_played))
    touch = None
    if touched:
        from stylenet.recorded.touch import score_deviations

        with timings.phase("touch"):
            touch = (score_deviations(piece, score, touch_net), calibration)
    shaping = level_for(shaping, piece)  # `auto`: a piano in a mix keeps its level against the others
    shaped = shaped_velocities(predicted, score.velocity, shaping, performer.stats.get(genre), touch)
    expressed, notes, expressive = "", None, None
    if expressing:
        expression, net = player.expression, player.expression_net
        if beats_file is not None or touched or looks_played:
            expressed = "its own timing, lengths and pedal kept (it looks played)"
        elif genre in net.genres:
            from stylenet.expression.network import variation, widen, written_velocity
            from stylenet.expression.notes import score_notes

            with timings.phase("expression"):
                notes = score_notes(piece)
                spread = net.spread(genre, performer)  # as wide as the pianists' (network.widen)
                expressive = widen(net(notes, genre), [1.0, *spread[1:]], notes.chords()[1], net.chord_spread(genre))
                varied = variation(notes, net.residuals(genre), np.random.default_rng(expression.seed),
                                   expression.variation)
                expressive[:, 1:4] += varied[:, 1:4]
            weight = net.velocity_weight(genre, performer)
            steps = piece.grid.seconds_to_steps(piece.start)[notes.order]

            def at_score(values):  # per note of `notes` -> per note of the quantised `score`
                cells = np.zeros(predicted_matrix.shape)
                cells[steps, notes.pitch - midifile.LOWEST_KEY] = values
                return cells[score.onset, key]

            loosening = net.loosening(genre, performer)
            if weight > 0 or loosening > 0:  # the network's share and the loosening chosen on validation (train.calibrate)
                blended = written_velocity(shaped, at_score(expressive[:, 0]), weight, loosening, score.pitch,
                                           score.onset)
                if shaping.level not in (None, "model"):  # a level asked for (or a mix's own) holds after the blend
                    blended += shaped.mean() - blended.mean()
                shaped = blended
            if shaping.contrast == "auto":  # a contrast asked for is kept as asked
                shaped = widen(shaped[:, None], spread[:1])[:, 0]
            if expression.variation > 0:
                shaped = shaped + at_score(varied[:, 0])
            shaped = np.clip(shaped, 1, 127)
    matrix = np.array(predicted_matrix, dtype=np.float64)
    matrix[score.onset, key] = shaped / 127.0
    after = np.clip(np.rint(shaping.strength * shaped + (1 - shaping.strength) * score.velocity), 1, 127)
    played = Played(b"", score, score.velocity.astype(np.float64), after, on_grid, note, touched, expressed,
                    shaping.level)
    if expressive is not None:
        from stylenet.expression import realise

        with timings.phase("expression"):
            plan = realise.plan(piece, notes, expressive, player.expression)
            played.midi = realise.write(piece, plan, notes, codec.new_velocities(piece, matrix, shaping.strength))
        played.expressed = realise.describe(plan, player.expression)
    with timings.phase("write"):
        if player.quantize:
            played.midi = smf.midi_bytes(codec.score_to_midi(played.performed, piece.grid))
        elif not played.midi:
            played.midi = codec.apply_velocities(piece, matrix, shaping.strength)
        played.midi = smf.mark_performed(played.midi, genre)  # a later perform of the folder leaves it be
    return played
