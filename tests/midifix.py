"""Small MIDI files written by the tests themselves (no real data is committed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import mido


@dataclass
class N:
    """A note in ticks: pitch, onset, offset, velocity, channel."""

    pitch: int
    on: int
    off: int
    velocity: int = 64
    channel: int = 0


@dataclass
class Song:
    notes: list
    ticks_per_beat: int = 480
    tempi: list = field(default_factory=lambda: [(0, 120.0)])  # (tick, qpm)
    meters: list = field(default_factory=list)  # (tick, numerator, denominator)
    programs: dict = field(default_factory=dict)  # channel -> program
    controls: list = field(default_factory=list)  # (tick, channel, control, value)
    text: list = field(default_factory=list)  # (tick, text)


def song_tracks(song: Song, fmt: int) -> list[list[tuple[int, object]]]:
    conductor = [(t, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(q))) for t, q in song.tempi]
    conductor += [(t, mido.MetaMessage("time_signature", numerator=n, denominator=d)) for t, n, d in song.meters]
    conductor += [(t, mido.MetaMessage("text", text=x)) for t, x in song.text]
    by_channel: dict[int, list] = {}
    for ch, prog in song.programs.items():
        by_channel.setdefault(ch, []).append((0, mido.Message("program_change", channel=ch, program=prog)))
    for t, ch, c, v in song.controls:
        by_channel.setdefault(ch, []).append((t, mido.Message("control_change", channel=ch, control=c, value=v)))
    for n in song.notes:
        events = by_channel.setdefault(n.channel, [])
        events.append((n.on, mido.Message("note_on", channel=n.channel, note=n.pitch, velocity=n.velocity)))
        events.append((n.off, mido.Message("note_off", channel=n.channel, note=n.pitch, velocity=0)))
    tracks = [conductor] + [by_channel[ch] for ch in sorted(by_channel)]
    if fmt == 0:
        tracks = [[e for track in tracks for e in track]]
    # Stable sort: at one tick, note-offs before note-ons so repeated notes re-strike cleanly.
    return [sorted(track, key=lambda e: (e[0], e[1].type == "note_on")) for track in tracks]


def write_song(path, song: Song, fmt: int = 1) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid = mido.MidiFile(type=fmt, ticks_per_beat=song.ticks_per_beat)
    for events in song_tracks(song, fmt):
        track, last = mido.MidiTrack(), 0
        for t, msg in events:
            track.append(msg.copy(time=t - last))
            last = t
        mid.tracks.append(track)
    mid.save(path)
    return path


def expressive_song(n_notes: int = 40, seed: int = 0, step_ticks: int = 120, **kw) -> Song:
    """A little piece with many distinct velocities (passes the dataset filters)."""
    import random

    rng = random.Random(seed)
    notes = []
    for i in range(n_notes):
        on = i * step_ticks
        notes.append(N(rng.randint(40, 90), on, on + rng.choice([1, 2, 4]) * step_ticks, 20 + (i * 7) % 100))
    return Song(notes, **kw)
