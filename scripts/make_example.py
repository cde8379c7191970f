"""Write data/examples/chorale.mid: a short piano piece StyleNet's authors composed for the demo.

Sixteen bars in C major at 96 quarter notes a minute: a right-hand melody over left-hand broken chords
(I vi IV V, twice, then ii V I cadences), every note at velocity 80 — "sheet music" with no dynamics, the
input `stylenet perform` is for.  Deterministic: rerunning writes the same bytes.
"""

from pathlib import Path

import pretty_midi

OUT = Path(__file__).resolve().parents[1] / "data" / "examples" / "chorale.mid"
VELOCITY = 80
QPM = 96.0
BEAT = 60.0 / QPM

CHORDS = ["C", "Am", "F", "G", "C", "Am", "F", "G", "Dm", "G", "C", "Am", "Dm", "G", "C", "C"]
TRIADS = {"C": (48, 52, 55), "Am": (45, 48, 52), "F": (41, 45, 48), "G": (43, 47, 50), "Dm": (38, 41, 45)}
# one bar of melody per chord: (pitch, beats)
MELODY = [
    [(72, 1), (74, 1), (76, 1), (72, 1)], [(76, 1.5), (74, 0.5), (72, 1), (69, 1)],
    [(69, 1), (72, 1), (77, 1), (76, 1)], [(74, 2), (71, 1), (67, 1)],
    [(72, 1), (76, 1), (79, 1), (76, 1)], [(81, 1.5), (79, 0.5), (76, 1), (72, 1)],
    [(77, 1), (76, 1), (74, 1), (72, 1)], [(71, 3), (67, 1)],
    [(74, 1), (77, 1), (81, 1), (77, 1)], [(79, 1), (77, 0.5), (76, 0.5), (74, 2)],
    [(76, 1), (79, 1), (84, 1.5), (83, 0.5)], [(81, 2), (76, 2)],
    [(77, 1), (74, 1), (72, 1), (74, 1)], [(71, 1), (74, 1), (79, 2)],
    [(76, 1), (74, 1), (72, 2)], [(72, 4)],
]


def compose() -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI(initial_tempo=QPM)
    right = pretty_midi.Instrument(program=0, name="Right hand")
    left = pretty_midi.Instrument(program=0, name="Left hand")
    for bar, (chord, melody) in enumerate(zip(CHORDS, MELODY)):
        start = bar * 4 * BEAT
        t = start
        for pitch, beats in melody:
            right.notes.append(pretty_midi.Note(VELOCITY, pitch, t, t + beats * BEAT * 0.95))
            t += beats * BEAT
        low, mid, high = TRIADS[chord]
        if bar == len(CHORDS) - 1:  # final bar: a held chord
            for pitch in (low - 12, low, mid, high):
                left.notes.append(pretty_midi.Note(VELOCITY, pitch, start, start + 4 * BEAT))
            continue
        for i, pitch in enumerate([low, high, mid, high] * 2):  # broken chord in eighth notes
            s = start + i * BEAT / 2
            left.notes.append(pretty_midi.Note(VELOCITY, pitch, s, s + BEAT / 2 * 0.9))
    pm.instruments += [right, left]
    return pm


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    compose().write(str(OUT))
    print(OUT)
