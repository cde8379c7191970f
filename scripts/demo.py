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


if __name__ == "__main__":
    for genre in GENRES:
        code = stylenet(["perform", str(EXAMPLE), "--genre", genre, "-o", str(OUT / f"chorale.{genre}.mid"),
                         "--plot", "--force"])
        if code:
            raise SystemExit(code)
    print(f"\nfirst notes of {EXAMPLE.name}: velocity as written, and as each genre plays it")
    columns = [first_notes(EXAMPLE)] + [first_notes(OUT / f"chorale.{g}.mid") for g in GENRES]
    print(f"{'time (s)':>9} {'pitch':>6} {'input':>6}" + "".join(f"{g:>10}" for g in GENRES))
    for rows in zip(*columns):
        start, pitch, velocity = rows[0]
        print(f"{start:9.2f} {pitch:6d} {velocity:6d}" + "".join(f"{r[2]:10d}" for r in rows[1:]))
    print(f"\nplots: {', '.join(str(OUT / f'chorale.{g}.png') for g in GENRES)}")
