"""Writing Standard MIDI Files: a file's events back as bytes, byte for byte where nothing changed.

    smf_bytes(type, ticks_per_beat, tracks) -> bytes   tracks of (absolute tick, mido message) events
    midi_bytes(pm)                          -> bytes   a pretty_midi.PrettyMIDI as a file
    piano_only_format0(piece)               -> bytes   the paper's one-track piano part, timing kept
    mark_performed / looks_performed                   the text event that says a file is `perform`'s output
"""

from __future__ import annotations

import io
import struct

from stylenet.core.midifile import MidiPiece

PERFORMED_MARK = b"performed by StyleNet"  # a text event at the start of every file `perform` writes


def mark_performed(data: bytes, genre: str) -> bytes:
    """A Standard MIDI File with a text event "performed by StyleNet (GENRE)" added at the start of its first
    track: how a later `perform` of the folder tells its own outputs from scores, whatever they are named."""
    if data[:4] != b"MThd":
        return data
    header_end = 8 + struct.unpack(">L", data[4:8])[0]
    if data[header_end:header_end + 4] != b"MTrk":
        return data
    length = struct.unpack(">L", data[header_end + 4:header_end + 8])[0]
    text = PERFORMED_MARK + f" ({genre})".encode()
    event = b"\x00\xff\x01" + _varlen(len(text)) + text
    body = data[header_end + 8:header_end + 8 + length]
    return (data[:header_end] + b"MTrk" + struct.pack(">L", length + len(event)) + event + body
            + data[header_end + 8 + length:])


def looks_performed(path) -> bool:
    """Whether `path` is a file `perform` wrote (its first track begins with PERFORMED_MARK)."""
    try:
        with open(path, "rb") as f:
            return PERFORMED_MARK in f.read(256)
    except OSError:
        return False


def _varlen(value: int) -> bytes:
    """MIDI variable-length quantity (7 bits a byte, high bit = more follows)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def _track_chunk(events) -> bytes:
    """Serialise [(absolute tick, mido message, new velocity or None)] to an MTrk chunk.

    Written by hand rather than through mido.MidiFile.save, which validates a copy of every message and
    was two thirds of build-dataset's time.  Same encoding as mido's write_track (running status, sysex);
    the track ends where the source's end_of_track was, or at its last event.
    """
    data = bytearray()
    last = end = 0
    running = None
    for tick, msg, velocity in events:
        end = max(end, tick)
        if msg.type == "end_of_track":
            continue
        data += _varlen(tick - last)
        last = tick
        if msg.is_meta:
            data += bytes(msg.bytes())
            running = None
        elif msg.type == "sysex":
            data += b"\xf0" + _varlen(len(msg.data) + 1) + bytes(msg.data) + b"\xf7"
            running = None
        else:
            raw = msg.bytes()
            if velocity is not None:
                raw[2] = velocity
            data += bytes(raw[1:] if raw[0] == running else raw)
            running = raw[0] if raw[0] < 0xF0 else None
    data += _varlen(end - last) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">L", len(data)) + bytes(data)


def smf_bytes(midi_type: int, ticks_per_beat: int, tracks) -> bytes:
    if midi_type not in (0, 1, 2):  # a header that lied about its format (read anyway): write a true one
        midi_type = 0 if len(tracks) == 1 else 1
    header = b"MThd" + struct.pack(">LHHH", 6, midi_type, len(tracks), ticks_per_beat)
    return header + b"".join(_track_chunk(events) for events in tracks)


_SCORE_META = {"set_tempo", "time_signature", "key_signature"}


def piano_only_format0(piece: MidiPiece) -> bytes:
    """The piece's piano part as a single-track (format 0) file, original timing and channels kept.

    Keeps tempo, meter and key events and every event of a piano channel (notes, pedal, other controls);
    drops drums, other instruments, lyrics and text.  This is the paper's conversion of each file to one
    format-0 piano track, without quantising.
    """
    import mido

    events = []
    for index, track in enumerate(piece.midi.tracks):
        for order, (msg, piano) in enumerate(zip(track, piece.piano_events(index, track))):
            if piano or msg.type in _SCORE_META:
                events.append((msg.time, index, order, msg))
    events.sort(key=lambda e: e[:3])  # by time; ties keep file order
    name = mido.MetaMessage("track_name", name="Piano", time=0)
    return smf_bytes(0, piece.midi.ticks_per_beat, [[(0, name, None)] + [(e[0], e[3], None) for e in events]])


def midi_bytes(pm) -> bytes:
    """Serialise a pretty_midi.PrettyMIDI to bytes (to write it atomically)."""
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()
