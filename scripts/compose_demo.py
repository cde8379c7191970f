"""`make compose-demo`: compose, then perform — the second report's pipeline end to end on shipped models.

The shipped composer (a small token LSTM, stylenet/pretrained/composer/) writes two 8-bar pieces with every
note at velocity 64; the shipped StyleNet model plays them as jazz.  Prints the first notes' velocities before
and after, and where the files are; with a built dataset present it also measures them against human music.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylenet.cli.main import main as stylenet  # noqa: E402
from stylenet.core import midifile  # noqa: E402

OUT = ROOT / "build" / "compose-demo"
GENERATED, PERFORMED = OUT / "generated", OUT / "performed"
COMPOSER = ROOT / "stylenet" / "pretrained" / "composer"


def first_notes(path, n=10):
    piece = midifile.load_midi(path)
    order = sorted(range(piece.n_notes), key=lambda i: (piece.start[i], piece.pitch[i]))[:n]
    return [(piece.start[i], piece.pitch[i], piece.velocity[i]) for i in order]


def run(args):
    print(f"\n$ stylenet {' '.join(map(str, args))}")
    if (code := stylenet([str(a) for a in args])):
        raise SystemExit(code)


if __name__ == "__main__":
    run(["compose", "sample", "--model", COMPOSER, "-n", "2", "--bars", "8", "--seed", "0", "--temperature", "0.9",
         "-o", GENERATED, "--force"])
    run(["perform", GENERATED, "--genre", "jazz", "-o", PERFORMED, "--force", "-q"])
    for written in sorted(GENERATED.glob("*.mid")):
        played = PERFORMED / f"{written.stem}.jazz.mid"
        print(f"\n{written.name}: first notes as composed (flat) and as performed ({played.name})")
        print(f"{'time (s)':>9} {'pitch':>6} {'composed':>9} {'performed':>10}")
        for (start, pitch, flat), (_, _, velocity) in zip(first_notes(written), first_notes(played)):
            print(f"{start:9.2f} {pitch:6d} {flat:9d} {velocity:10d}")
    if (ROOT / "build" / "dataset" / "manifest.jsonl").is_file():
        run(["compose", "report", f"composed={GENERATED}", "--model", COMPOSER, "--bars", "8",
             "-o", OUT / "report", "-q"])
    else:
        print("\n(no build/dataset: `make dataset` first to measure the pieces against human music with "
              "`stylenet compose report`)")
