"""`make demo`: perform the bundled example with the shipped model as classical and as jazz.

Prints the output paths and the first notes' velocities before and after, and writes piano-roll plots.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylenet.cli.main import main as stylenet  # noqa: E402
from stylenet.core import midifile  # noqa: E402

EXAMPLE = ROOT / "data" / "examples" / "chorale.mid"
OUT = ROOT / "build" / "demo"
GENRES = ("classical", "jazz")


def first_notes(path, n=12):
    piece = midifile.load_midi(path)
    order = sorted(range(piece.n_notes), key=lambda i: (piece.start[i], piece.pitch[i]))[:n]
    return [(piece.start[i], piece.pitch[i], piece.velocity[i]) for i in order]


def velocities_of(path, notes):
    """The velocity each of `notes` (time, pitch, velocity) was given in the performance at `path`: the k-th
    note of a key is the k-th note of that key (perform moves notes in time but never swaps two of one key)."""
    piece = midifile.load_midi(path)
    original = midifile.load_midi(EXAMPLE)
    out = []
    for start, pitch, _ in notes:
        k = sum(1 for s, p in zip(original.start, original.pitch) if p == pitch and s < start - 1e-6)
        played = sorted((s, v) for s, p, v in zip(piece.start, piece.pitch, piece.velocity) if p == pitch)
        out.append(played[k][1])
    return out


if __name__ == "__main__":
    for genre in GENRES:
        code = stylenet(["perform", str(EXAMPLE), "--genre", genre, "-o", str(OUT / f"chorale.{genre}.mid"),
                         "--plot", "--force"])
        if code:
            raise SystemExit(code)
    print(f"\nfirst notes of {EXAMPLE.name}: velocity as written, and as each genre plays it")
    notes = first_notes(EXAMPLE)
    columns = [velocities_of(OUT / f"chorale.{g}.mid", notes) for g in GENRES]
    print(f"{'time (s)':>9} {'pitch':>6} {'input':>6}" + "".join(f"{g:>10}" for g in GENRES))
    for (start, pitch, velocity), *played in zip(notes, *columns):
        print(f"{start:9.2f} {pitch:6d} {velocity:6d}" + "".join(f"{v:10d}" for v in played))
    print(f"\nplots: {', '.join(str(OUT / f'chorale.{g}.png') for g in GENRES)}")
