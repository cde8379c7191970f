"""A MIDI fuzzer of our own: broken bytes and odd-but-valid files, every one generated from a seed.

Each case goes through what every verb does to a file (load_midi, quantise, encode, the dataset's format-0
export) and, for a sample, through `perform` with a tiny NumPy model (forward pass, apply_velocities, and
reading the written file back).  The property: every file either works or is rejected with a MidiReadError
(one line, naming the file); nothing else escapes, no file takes more than a bound of CPU time, and the process
stays under a memory bound.

    python -m tests.midi_fuzz --count 5000 --perform 500 --seed 1     # `make fuzz`
    python -m tests.midi_fuzz --count 300 --perform 40 --seed 0 --json   # what tests/test_fuzz.py runs
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import signal
import struct
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from stylenet.core import codec, midifile  # noqa: E402 (after the path is set)
from stylenet.core import smf as writer  # noqa: E402 (`smf` below builds raw test files)

# ------------------------------------------------------------------------------------------ raw SMF bytes


vlq = writer._varlen  # MIDI's variable-length numbers, as the codec writes them


def meta(kind: int, data: bytes) -> bytes:
    return bytes([0xFF, kind]) + vlq(len(data)) + data


def tempo(us: int) -> bytes:
    return meta(0x51, us.to_bytes(3, "big"))


def time_signature(numerator: int, denominator_exponent: int) -> bytes:
    return meta(0x58, bytes([numerator, denominator_exponent, 24, 8]))


def key_signature(sharps: int, mode: int) -> bytes:
    return meta(0x59, struct.pack("bB", sharps, mode))


END = meta(0x2F, b"")


def track(events, end: bool = True) -> bytes:
    """[(absolute tick, event bytes)] -> an MTrk chunk (stable-sorted by tick)."""
    body, last = bytearray(), 0
    for tick, payload in sorted(events, key=lambda e: e[0]):
        body += vlq(tick - last) + payload
        last = tick
    if end:
        body += b"\x00" + END
    return b"MTrk" + struct.pack(">L", len(body)) + bytes(body)


def smf(tracks: list[bytes], fmt: int = 1, division: int = 480, n_tracks: int | None = None) -> bytes:
    header = struct.pack(">LHHH", 6, fmt, len(tracks) if n_tracks is None else n_tracks, division)
    return b"MThd" + header + b"".join(tracks)


def notes(pairs, channel: int = 0) -> list:
    """[(pitch, on, off, velocity)] -> note-on/note-off events."""
    out = []
    for pitch, on, off, velocity in pairs:
        out.append((on, bytes([0x90 | channel, pitch, velocity])))
        out.append((off, bytes([0x80 | channel, pitch, 0])))
    return out


def conductor(events=(), qpm: float = 120.0, meter=(4, 2)) -> bytes:
    return track([(0, tempo(round(60_000_000 / qpm))), (0, time_signature(*meter)), *events])


def piano(pairs, program: int = 0, channel: int = 0, extra=()) -> bytes:
    return track([(0, bytes([0xC0 | channel, program]))] + notes(pairs, channel) + list(extra))


# ------------------------------------------------------------------------------------------ valid pieces


def valid_piece(rng: random.Random) -> bytes:
    """A plausible file: tempo map, meter, key, text, a piano part with pedal, sometimes drums and bass."""
    tpq = rng.choice([96, 120, 192, 384, 480, 960, 1024])
    n = rng.randint(1, 200)
    pairs, tick = [], 0
    for _ in range(n):
        tick += rng.choice([0, 0, tpq // 4, tpq // 2, tpq, rng.randint(0, 2 * tpq)])
        pairs.append((rng.randint(21, 108), tick, tick + rng.randint(0, 2 * tpq), rng.randint(1, 127)))
    pedal = [(rng.randint(0, tick + 1), bytes([0xB0, 64, rng.choice([0, 127])])) for _ in range(rng.randint(0, 6))]
    meta_events = [(rng.randint(0, tick + 1), tempo(rng.randint(200_000, 1_500_000))) for _ in range(rng.randint(0, 4))]
    meta_events += [(0, key_signature(rng.randint(-7, 7), rng.randint(0, 1))), (0, meta(0x01, b"fuzz"))]
    tracks = [conductor(meta_events, qpm=rng.uniform(40, 240), meter=(rng.randint(1, 12), rng.randint(1, 4))),
              piano(pairs, program=rng.randint(0, 7), extra=pedal)]
    if rng.random() < 0.3:
        tracks.append(piano([(36 + i % 10, i * tpq, i * tpq + 10, 100) for i in range(20)], channel=9))
    if rng.random() < 0.3:
        tracks.append(piano([(40, i * tpq, (i + 1) * tpq, 70) for i in range(10)], program=33, channel=1))
    if rng.random() < 0.2:  # format 0: everything on one track
        return smf([track(_events_of(tracks))], fmt=0, division=tpq)
    return smf(tracks, division=tpq)


def _events_of(tracks: list[bytes]) -> list:
    """Decode our own well-formed MTrk chunks back to [(abs tick, event bytes)], end-of-track dropped."""
    out = []
    for chunk in tracks:
        body, i, tick = chunk[8:], 0, 0
        while i < len(body):
            delta = 0
            while True:
                byte = body[i]
                i += 1
                delta = (delta << 7) | (byte & 0x7F)
                if byte < 0x80:
                    break
            tick += delta
            status = body[i]
            if status == 0xFF:
                length_start = i + 2
                length, j = 0, length_start
                while True:
                    length = (length << 7) | (body[j] & 0x7F)
                    j += 1
                    if body[j - 1] < 0x80:
                        break
                event, i = body[i:j + length], j + length
                if event[1] != 0x2F:
                    out.append((tick, event))
            else:
                size = 2 if status & 0xF0 in (0xC0, 0xD0) else 3
                out.append((tick, body[i:i + size]))
                i += size
    return out


# ------------------------------------------------------------------------------------------ broken bytes


def _track_offsets(data: bytes) -> list[int]:
    out, i = [], data.find(b"MTrk")
    while i != -1:
        out.append(i)
        i = data.find(b"MTrk", i + 4)
    return out


def truncated(rng):
    data = valid_piece(rng)
    return data[:rng.randrange(1, len(data))]


def bit_flips(rng):
    data = bytearray(valid_piece(rng))
    for _ in range(rng.randint(1, 12)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return bytes(data)


def random_bytes_overwritten(rng):
    data = bytearray(valid_piece(rng))
    for _ in range(rng.randint(1, 20)):
        data[rng.randrange(14, len(data))] = rng.randrange(256)
    return bytes(data)


def lying_chunk_length(rng):
    data = bytearray(valid_piece(rng))
    at = rng.choice(_track_offsets(bytes(data)))
    real = struct.unpack(">L", data[at + 4:at + 8])[0]
    lie = rng.choice([0, 1, real - 1, real + 1, real + rng.randint(2, 1000), max(real - rng.randint(2, 50), 0),
                      0x7FFFFFFF, 0xFFFFFFFF])
    data[at + 4:at + 8] = struct.pack(">L", lie % 2 ** 32)
    return bytes(data)


def lying_header(rng):
    data = bytearray(valid_piece(rng))
    field = rng.choice(["size", "format", "tracks"])
    if field == "size":
        data[4:8] = struct.pack(">L", rng.choice([0, 2, 5, 7, 100, 0xFFFFFFFF]))
    elif field == "format":
        data[8:10] = struct.pack(">H", rng.choice([2, 3, 0x7FFF, 0xFFFF]))
    else:
        data[10:12] = struct.pack(">H", rng.choice([0, 3, 100, 0x7FFF, 0xFFFF]))
    return bytes(data)


def odd_time_division(rng):
    data = bytearray(valid_piece(rng))
    data[12:14] = struct.pack(">H", rng.choice([0, 1, 3, 0x7FFF, 0x8000, 0xE728, 0xE250, 0xE778, 0xE350, 0xFFFF]))
    return bytes(data)


def odd_tempo(rng):
    us = rng.choice([0, 1, 2, 0xFFFFFF, 0x800000])
    body = rng.choice([tempo(us), meta(0x51, b""), meta(0x51, b"\x07"), meta(0x51, b"\x07\xa1"),
                       meta(0x51, b"\x00\x07\xa1\x20\x00")])
    at = rng.choice([0, 0, 480, 10_000])
    return smf([track([(at, body)]), piano([(60 + i % 12, i * 240, i * 240 + 200, 64 + i) for i in range(40)])])


def malformed_meta(rng):
    body = rng.choice([
        key_signature(rng.choice([8, 9, 15, 127, -8, -9, -128]), rng.randint(0, 1)),
        key_signature(rng.randint(-7, 7), rng.randint(2, 255)),
        meta(0x59, b""), meta(0x59, b"\x01"),
        time_signature(0, 2), time_signature(4, rng.choice([31, 64, 200, 255])), meta(0x58, b""), meta(0x58, b"\x04"),
        meta(0x00, b"\x01"), meta(0x20, b"\x10"), meta(0x20, b""), meta(0x54, b"\x99\x99\x99\x99\x99"),
        meta(0x01, bytes(rng.randrange(256) for _ in range(20))), meta(0x7F, b""), meta(0x60, b"\x00" * 3),
        b"\xff\x03\x8f\xff\xff\xff\x7f",  # a text event claiming 2**35 bytes
        b"\xff\x03\x40abc",  # length beyond the chunk
        b"\xff",  # meta with no type
    ])
    return smf([track([(0, tempo(500_000)), (rng.choice([0, 240]), body)]),
                piano([(60, 0, 480, 70), (64, 480, 960, 90)])])


def malformed_sysex(rng):
    body = rng.choice([
        b"\xf0" + vlq(5) + b"\x7e\x7f\x09\x01\xf7",  # fine
        b"\xf0" + vlq(100) + b"\x7e\x7f",  # length beyond the chunk
        b"\xf0\x8f\xff\xff\xff\x7f\x00",  # absurd length
        b"\xf0" + vlq(4) + b"\x7e\xff\x80\xf7",  # data bytes with the high bit set
        b"\xf7" + vlq(3) + b"\x90\x3c\x40",  # an escape carrying a raw message
        b"\xf0\x00",  # empty
    ])
    return smf([track([(0, tempo(500_000)), (10, body)]), piano([(60, 0, 480, 70), (62, 480, 960, 90)])])


def running_status_without_status(rng):
    first = bytes([rng.randrange(0x80), rng.randrange(0x80)])
    body = vlq(0) + first + b"\x00\x90\x3c\x40\x60\x80\x3c\x00\x00" + END
    return smf([b"MTrk" + struct.pack(">L", len(body)) + body])


def stray_status_bytes(rng):
    """System common / real-time / undefined status bytes, and status bytes where data should be."""
    junk = rng.choice([b"\xf1\x10", b"\xf2\x10\x10", b"\xf3\x01", b"\xf4", b"\xf5", b"\xf6", b"\xf8", b"\xfa",
                       b"\xfe", b"\xfd", b"\x90\x3c\x90", b"\x90\x80\x40", b"\xc0\xff", b"\xe0\x7f"])
    return smf([track([(0, tempo(500_000))]), track([(0, b"\x90\x3c\x40"), (100, junk), (200, b"\x80\x3c\x00")])])


def overlong_delta(rng):
    """Variable-length numbers of 5+ bytes, or a delta of 2**28 - 1 ticks."""
    delta = rng.choice([b"\xff\xff\xff\xff\x7f", b"\x80" * rng.randint(4, 30) + b"\x00", b"\xff\xff\xff\x7f"])
    body = b"\x00\x90\x3c\x40" + delta + b"\x80\x3c\x00\x00" + END
    return smf([b"MTrk" + struct.pack(">L", len(body)) + body])


def garbage_after_last_track(rng):
    data = valid_piece(rng)
    tail = rng.choice([bytes(rng.randrange(256) for _ in range(rng.randint(1, 500))), b"MTrk", b"MTrk\x00\x00",
                       b"XFIH" + struct.pack(">L", 4) + b"abcd", b"\x00" * 1000, b"MThd" + data[4:]])
    return data + tail


def riff_wrapped(rng):
    data = valid_piece(rng) if rng.random() < 0.7 else truncated(rng)
    size_lie = rng.choice([0, 0, 0, 1, -5, 10 ** 6])
    chunk = b"data" + struct.pack("<L", max(len(data) + size_lie, 0)) + data + (b"\x00" if len(data) % 2 else b"")
    if rng.random() < 0.15:
        chunk = b"LIST" + struct.pack("<L", 4) + b"INFO"  # no data chunk at all
    return b"RIFF" + struct.pack("<L", 4 + len(chunk)) + b"RMID" + chunk


def spliced(rng):
    a, b = valid_piece(rng), valid_piece(rng)
    return a[:rng.randrange(14, len(a))] + b[rng.randrange(len(b)):]


def header_only(rng):
    return rng.choice([b"MThd", b"MThd\x00\x00\x00\x06", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0",
                       b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x00", b"", b"\x00" * 14,
                       b"RIFF", b"MTrk" * 10])


BROKEN = {f.__name__: f for f in (
    truncated, bit_flips, random_bytes_overwritten, lying_chunk_length, lying_header, odd_time_division, odd_tempo,
    malformed_meta, malformed_sysex, running_status_without_status, stray_status_bytes, overlong_delta,
    garbage_after_last_track, riff_wrapped, spliced, header_only)}

# ------------------------------------------------------------------------------------------ odd but valid


def no_piano_notes(rng):
    kind = rng.choice(["drums", "bass", "meta only", "out of range", "velocity 0 only"])
    if kind == "drums":
        return smf([conductor(), piano([(38, i * 240, i * 240 + 60, 90) for i in range(30)], channel=9)])
    if kind == "bass":
        return smf([conductor(), piano([(40, i * 480, i * 480 + 400, 70) for i in range(30)], program=33)])
    if kind == "meta only":
        return smf([conductor([(i * 480, meta(0x01, b"text")) for i in range(20)])])
    if kind == "out of range":
        return smf([conductor(), piano([(rng.choice([0, 5, 20, 109, 127]), i * 240, i * 240 + 60, 90)
                                        for i in range(30)])])
    return smf([conductor(), track([(i * 240, bytes([0x90, 60, 0])) for i in range(30)])])


def thousands_of_tiny_notes(rng):
    n = rng.randint(2000, 6000)
    return smf([conductor(), piano([(21 + (i * 7) % 88, i, i + rng.randint(0, 1), 1 + i % 127) for i in range(n)])],
               division=rng.choice([96, 480, 960]))


def one_note_hours_long(rng):
    hours = rng.uniform(0.5, 3.0)  # tpq 96 at 120 qpm: 3 hours are 2.1 M ticks, 86,400 steps
    return smf([conductor(), piano([(60, 0, int(hours * 7200 * 96), 80), (64, 0, 96, 60)])], division=96)


def notes_hours_apart(rng):
    hours = rng.choice([0.5, 1.0, 2.0, 5.0, 8.0])  # 5 and 8 hours exceed midifile.MAX_STEPS: a clear rejection
    gap = int(hours * 7200 * 96)
    return smf([conductor(), piano([(60, 0, 96, 80), (62, gap, gap + 96, 70), (64, gap + 200, gap + 400, 90)])],
               division=96)


def hundreds_of_tracks(rng):
    n = rng.randint(100, 400)
    tracks = [conductor()] + [piano([(30 + i % 60, i * 10, i * 10 + 200, 1 + i % 127)], channel=i % 16,
                                    program=i % 8) for i in range(n)]
    return smf(tracks, n_tracks=min(len(tracks), 0xFFFF))


def meter_change_every_bar(rng):
    bars, tick, events, pairs = rng.randint(200, 1000), 0, [], []
    for bar in range(bars):
        numerator, exponent = rng.randint(1, 15), rng.randint(0, 5)
        events.append((tick, time_signature(numerator, exponent)))
        pairs.append((40 + bar % 40, tick, tick + 120, 20 + bar % 100))
        tick += max(1, 480 * 4 * numerator // 2 ** exponent)
    return smf([track(events + [(0, tempo(500_000))]), piano(pairs)])


def all_128_pitches_at_once(rng):
    return smf([conductor(), piano([(p, 0, 480 * rng.randint(1, 8), 1 + p % 127) for p in range(128)])])


def tempo_storm(rng):
    """A tempo change every few ticks, from the slowest to the fastest tempo MIDI can say."""
    events = [(i * rng.randint(1, 5), tempo(rng.choice([1, 100, 500_000, 0xFFFFFF]))) for i in range(2000)]
    return smf([track(events), piano([(60 + i % 12, i * 50, i * 50 + 40, 30 + i % 90) for i in range(100)])])


def awkward_notes(rng):
    """Zero-length notes, note-offs with no note-on, notes never released, one key struck while held."""
    events = [(0, b"\x80\x3c\x00"), (10, b"\x90\x3e\x40"), (10, b"\x80\x3e\x00"), (20, b"\x90\x40\x50"),
              (30, b"\x90\x40\x60"), (40, b"\x90\x40\x70"), (50, b"\x80\x40\x00"), (60, b"\x90\x43\x30")]
    return smf([conductor(), track(events * rng.randint(1, 3))], fmt=rng.choice([0, 1, 2]))


ODD = {f.__name__: f for f in (
    no_piano_notes, thousands_of_tiny_notes, one_note_hours_long, notes_hours_apart, hundreds_of_tracks,
    meter_change_every_bar, all_128_pitches_at_once, tempo_storm, awkward_notes)}
GENERATORS = {**BROKEN, **ODD}


def cases(count: int, seed: int):
    """(name, bytes) x count, cycling through every generator so any sample of len(GENERATORS) covers all."""
    names = sorted(GENERATORS)
    for i in range(count):
        kind = names[i % len(names)]
        rng = random.Random(f"{seed}:{i}")
        yield f"{kind}-{seed}-{i}.mid", kind, GENERATORS[kind](rng)


# ------------------------------------------------------------------------------------------ the property


class Overtime(Exception):
    pass


def _alarm(signum, frame):
    raise Overtime()


def check(name: str, data: bytes, performer=None) -> tuple[str, str]:
    """-> ("ok" | "rejected", detail).  Raises whatever StyleNet lets escape (the fuzzer's finding)."""
    try:
        piece = midifile.load_midi(name, data=data)
        score = codec.quantise(piece)
    except midifile.MidiReadError as exc:
        assert exc.reason and "\n" not in str(exc) and str(exc).startswith(name), repr(str(exc))
        return "rejected", exc.reason
    score_matrix, _ = codec.encode(score)
    writer.piano_only_format0(piece)
    if performer is not None and piece.n_notes:
        predicted = performer.velocities(score_matrix, performer.genres[0])
        written = codec.apply_velocities(piece, predicted)
        again = midifile.load_midi(name, data=written)  # what perform writes must read back, notes intact
        assert again.n_notes == piece.n_notes, (again.n_notes, piece.n_notes)
        from stylenet.play.step import read_on_grid

        read_on_grid(piece, "auto")  # perform's default: a look at the onsets, never a crash
        from stylenet.recorded import touch

        deviation = touch.score_deviations(piece, score, touch.shipped_touch())  # a recording's touch, any file
        assert deviation.shape == (score.n_notes,) and np.all(np.isfinite(deviation)), deviation
        from stylenet.expression import realise
        from stylenet.expression.network import ExpressionNet
        from stylenet.expression.notes import score_notes

        notes = score_notes(piece)  # a whole performance written, both ways: every piano note comes back
        expressive = ExpressionNet.load()(notes, "jazz")
        assert np.all(np.isfinite(expressive)), expressive
        for how in realise.TIMING_AS:
            plan = realise.plan(piece, notes, expressive, realise.Expression(timing_as=how, pedal="add"))
            again = midifile.load_midi(name, data=realise.write(piece, plan, notes))
            assert sorted(again.pitch.tolist()) == sorted(piece.pitch.tolist()), (how, again.n_notes, piece.n_notes)
        try:
            on_grid, _, _ = read_on_grid(piece, "beats")  # tracked beats: a track, or one line why not
        except midifile.MidiReadError as exc:
            assert exc.reason and "\n" not in str(exc), repr(str(exc))
            on_grid = piece
        if on_grid is not piece:
            on_beats = codec.quantise(on_grid)
            written = codec.apply_velocities(on_grid, np.zeros((on_beats.n_steps, midifile.N_KEYS)) + 0.5)
            assert midifile.load_midi(name, data=written).n_notes == piece.n_notes
    return "ok", f"{piece.n_notes} notes, {score.n_steps} steps"


def run(count: int, seed: int, perform_every: int, seconds_per_file: float) -> dict:
    from tests.helpers import random_performer

    performer = random_performer(("jazz",), units=8)
    # The bound is on CPU time, not wall time: the machines that run this are shared and their load varies.
    signal.signal(signal.SIGPROF, _alarm)
    report = {"count": 0, "outcomes": {}, "by_kind": {}, "failures": [], "slowest": [0.0, ""], "performed": 0}
    started = time.perf_counter()
    for i, (name, kind, data) in enumerate(cases(count, seed)):
        perform = perform_every > 0 and i % perform_every == 0
        t0 = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, seconds_per_file)
        try:
            outcome, detail = check(name, data, performer if perform else None)
        except Overtime:
            outcome, detail = "overtime", f"over {seconds_per_file} s of CPU"
        except Exception as exc:  # the finding: something escaped
            outcome, detail = "escaped", f"{type(exc).__name__}: {exc}"
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        seconds = time.process_time() - t0
        report["count"] += 1
        report["performed"] += perform and outcome == "ok"
        report["outcomes"][outcome] = report["outcomes"].get(outcome, 0) + 1
        report["by_kind"].setdefault(kind, {}).setdefault(outcome, 0)
        report["by_kind"][kind][outcome] += 1
        if outcome not in ("ok", "rejected"):
            report["failures"].append({"name": name, "outcome": outcome, "detail": detail[:300]})
        if seconds > report["slowest"][0]:
            report["slowest"] = [round(seconds, 3), name]
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return report


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started.

    VmHWM, not getrusage: Linux carries ru_maxrss across exec, so a child of a big process (pytest with
    TensorFlow loaded) would report its parent's size.
    """
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--perform", type=int, default=400, help="how many of the cases also go through perform")
    parser.add_argument("--seconds-per-file", type=float, default=20.0)
    parser.add_argument("--max-rss-mb", type=float, default=1024.0)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--write", metavar="DIR", help="write the cases as .mid files to DIR instead")
    args = parser.parse_args(argv)
    if args.write:
        out = Path(args.write)
        out.mkdir(parents=True, exist_ok=True)
        for name, _, data in cases(args.count, args.seed):
            (out / name).write_bytes(data)
        return 0
    every = max(1, args.count // args.perform) if args.perform else 0
    report = run(args.count, args.seed, every, args.seconds_per_file)
    bad = report["failures"] or report["peak_rss_mb"] > args.max_rss_mb
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['count']} files ({report['performed']} also performed) in {report['seconds']} s: "
              + ", ".join(f"{k} {v}" for k, v in sorted(report["outcomes"].items())))
        print(f"slowest file {report['slowest'][0]} s of CPU ({report['slowest'][1]}); "
              f"peak memory {report['peak_rss_mb']} MB")
        for kind, outcomes in sorted(report["by_kind"].items()):
            print(f"  {kind:<32} " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
        for failure in report["failures"]:
            print(f"FAILED {failure['name']}: {failure['outcome']}: {failure['detail']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
