"""Whether a file was played or sequenced: onsets on the file's own tick grid (a notation program's or a
DAW's export) or not (a recording), and whether they gather on its quarter notes at all.

    grid_share(piece)      -> float   the share of onsets on the 1/32-and-triplet tick grid (chance for a recording)
    beat_coherence(piece)  -> float   how strongly onsets gather on the file's quarter notes
    looks_recorded(piece)  -> bool    neither: `perform` then keeps the file's own timing"""

from __future__ import annotations

import numpy as np

from stylenet.core.midifile import MidiPiece, MidiReadError

GRID_TOLERANCE = 1 / 192  # of a quarter note: 2.5 ticks at 480 a quarter, 2.6 ms at 120 quarters a minute
GRID_POINTS = np.unique(np.concatenate([np.arange(8) / 8, np.arange(6) / 6]))  # 1/32 notes and triplets
GRID_CHANCE = float(len(GRID_POINTS) * 2 * GRID_TOLERANCE)  # the share random ticks get at one offset (1/8)


# At least this share on the grid: sequenced.  Measured (docs/recorded.md): recordings <= 0.27, sequenced scores >= 0.45.
GRID_SHARE_THRESHOLD = 0.35


def grid_share(piece: MidiPiece) -> float:
    """The share of distinct note onsets that sit on the file's own grid of 1/32 notes and triplets
    (within GRID_TOLERANCE of a quarter note, or half a tick), read through the file's tempo map.  The
    grid may be shifted as a whole (a file whose every note is late by a 64th is still sequenced): the
    best of a few offsets, read off the onsets, counts.  A file entered or quantised in a sequencer scores
    near 1; a recording whose ticks do not follow the beat near chance (GRID_CHANCE, a little more for
    the offset chosen).  `perform` can track the beats of a file under GRID_SHARE_THRESHOLD."""
    if piece.n_notes == 0:
        raise MidiReadError(piece.path, "no piano notes: cannot tell whether the file follows its grid")
    grid = piece.file_grid or piece.grid
    quarters = np.unique(grid.seconds_to_ticks(piece.start)) / grid.ticks_per_quarter
    tolerance = max(GRID_TOLERANCE, 0.5 / grid.ticks_per_quarter) + 1e-9
    points = np.concatenate([GRID_POINTS, [1.0]])

    def share(offset: float) -> float:
        phase = (quarters - offset) % 1.0
        return float(np.mean(np.abs(phase[:, None] - points[None, :]).min(axis=1) <= tolerance))

    offsets = [0.0]
    for period in (1 / 8, 1 / 6):  # the most common position within a 1/32 note, and within a triplet
        bins = np.rint((quarters % period) / tolerance).astype(np.int64)
        offsets.append(float(np.bincount(bins).argmax() * tolerance))
    return max(share(offset) for offset in offsets)


COHERENCE_THRESHOLD = 0.1  # a recording's onsets ignore its quarter notes: ASAP performances <= 0.08


def looks_recorded(piece: MidiPiece) -> bool:
    """A recording: onsets neither on the file's own ticks (`grid_share`) nor gathered on its quarter notes
    (`beat_coherence`).  `perform --grid auto` notes such a file; `--touch auto` reads its timing."""
    return grid_share(piece) < GRID_SHARE_THRESHOLD and beat_coherence(piece) < COHERENCE_THRESHOLD


def beat_coherence(piece: MidiPiece) -> float:
    """How strongly a file's distinct onsets gather at one place of its own quarter note: the length of
    the mean of exp(2 pi i q) over their positions q, in quarter notes through the file's tempo map.  Near
    0 for a recording whose ticks ignore the beat; well above for a file played in to a click, whose onsets
    follow the beat without sitting on the tick grid (grid_share cannot tell that one from a recording).
    A sequenced file can score anything (even sixteenths cancel out): read it after grid_share."""
    if piece.n_notes == 0:
        raise MidiReadError(piece.path, "no piano notes: cannot tell whether the file follows its beat")
    grid = piece.file_grid or piece.grid
    quarters = np.unique(grid.seconds_to_ticks(piece.start)) / grid.ticks_per_quarter
    return float(np.abs(np.mean(np.exp(2j * np.pi * quarters))))
