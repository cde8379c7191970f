"""`stylenet render IN...`: hear a MIDI file — audio with a piano sound, velocity-sensitive.

The synthesiser is `midirenderer` (a self-contained wheel: a Rust SoundFont synthesiser, rustysynth, with
libopus linked in), so nothing but the package is needed on a fresh machine.  The default SoundFont is the
small General MIDI one pretty_midi ships (`TimGM6mb.sf2`); `--soundfont` takes a better one.

Every channel is rendered as the file asks (a piano part with no program change is General MIDI's
acoustic grand).  The audio lasts as long as the MIDI file (its last event) plus `tail` seconds of release,
so the last chord rings out instead of stopping dead.  WAV is 48 kHz, 16-bit stereo; Opus is Ogg Opus
(about 256 kbit/s, a sixth of WAV's size).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylenet.core import fileio
from stylenet.core.errors import StyleNetError, one_file, skip_failure
from stylenet.core.fileio import atomic_write_bytes, refuse_overwrite

FORMATS = ("wav", "opus")
SAMPLE_RATE = 48_000  # what midirenderer writes
AUDIO_AND_MIDI_SUFFIXES = {".wav", ".opus", ".ogg", ".mp3", ".flac", ".mid", ".midi"}
DEFAULT_TAIL = 1.0  # seconds of release after the file's last event

PEAK_DBFS = -1.0  # WAV clips that share one gain (`peak_gain`) have their loudest peak brought here ...
MAX_GAIN_DB = 30.0  # ... but no more than this


def default_soundfont() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).resolve().parent / "TimGM6mb.sf2"


def read_soundfont(path=None) -> bytes:
    """The SoundFont's bytes (default: pretty_midi's TimGM6mb.sf2), or a one-line error naming the file."""
    path = Path(path) if path is not None else default_soundfont()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StyleNetError(f"{path}: cannot read SoundFont ({exc.strerror or exc})", exit_code=2) from None
    if not (len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"sfbk"):
        raise StyleNetError(f"{path}: not a SoundFont 2 file (.sf2: a RIFF 'sfbk' file)", exit_code=2)
    return data


def midi_with_tail(path, tail: float = DEFAULT_TAIL, data: bytes | None = None) -> bytes:
    """The file (or `data`, named `path` in errors) as SMF bytes (a RIFF-wrapped file unwrapped), its end
    moved `tail` seconds past its last event, at the file's last tempo.  Raises MidiReadError (one line)
    for a file StyleNet cannot read."""
    import mido

    from stylenet.core import midifile

    piece = midifile.load_midi(path, data=data)
    midi = piece.midi  # absolute ticks (pretty_midi converted them in place)
    ends = [max((msg.time for msg in track), default=0) for track in midi.tracks]
    last_tick = max(ends, default=0)
    tempos = sorted((msg.time, msg.tempo) for track in midi.tracks for msg in track if msg.type == "set_tempo")
    tempo = tempos[-1][1] if tempos else 500_000  # microseconds per quarter note; MIDI's default 120 qpm
    tail_ticks = int(round(max(tail, 0.0) * 1e6 / tempo * midi.ticks_per_beat))
    longest = ends.index(last_tick) if ends else 0
    tracks = []
    for index, track in enumerate(midi.tracks):
        events = [(msg.time, msg, None) for msg in track]
        if index == longest:
            events.append((last_tick + tail_ticks, mido.MetaMessage("end_of_track"), None))
        tracks.append(events)
    return midifile.smf_bytes(midi.type, midi.ticks_per_beat, tracks)


def render_bytes(midi: bytes, soundfont: bytes, fmt: str = "wav", where="MIDI") -> bytes:
    """Audio of SMF bytes.  `where` names the input in an error."""
    if fmt not in FORMATS:
        raise StyleNetError(f"unknown audio format {fmt!r}; choose one of {', '.join(FORMATS)}", exit_code=2)
    import midirenderer

    try:
        if fmt == "wav":
            return midirenderer.render_wave_from(soundfont, midi)
        # midirenderer 0.1.3 encodes at a fixed ~256 kbit/s stereo whatever bitrate it is given
        return midirenderer.render_opus_from(soundfont, midi)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a panic in the Rust synthesiser is a BaseException
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise StyleNetError(f"{where}: the synthesiser could not render it ({detail})") from None


def render_file(path, output, soundfont: bytes, fmt: str = "wav", tail: float = DEFAULT_TAIL,
                force: bool = False) -> Path:
    """Render one MIDI file to `output` (written atomically; never the input, never an existing file
    unless `force`)."""
    path, output = Path(path), Path(output)
    refuse_overwrite(path, output, force)
    audio = render_bytes(midi_with_tail(path, tail), soundfont, fmt, where=str(path))
    atomic_write_bytes(output, audio)
    return output


def audio_beside(fmt: str = "wav", soundfont=None, force: bool = False):
    """`perform --render`: a function that writes a MIDI file's audio beside it (<name>.wav or .opus) and
    returns its path; the SoundFont is read once, here."""
    sound = read_soundfont(soundfont)

    def render(midi_path: Path) -> Path:
        return render_file(midi_path, midi_path.with_suffix(f".{fmt}"), sound, fmt, force=force)

    return render


def output_path(source: Path, fmt: str, out: str | None, single: bool) -> Path:
    suffix = Path(out).suffix.lower() if out else ""
    if single and suffix in AUDIO_AND_MIDI_SUFFIXES and suffix != f".{fmt}":
        raise StyleNetError(f"{out}: not a .{fmt} file name; name a .{fmt} file or a folder (or pass --format)",
                            exit_code=2)
    return fileio.output_path(source, f"{source.stem}.{fmt}", out, single, (f".{fmt}",))


def audio_seconds(data: bytes) -> float:
    """Duration of WAV bytes (for reports and tests)."""
    import io
    import wave

    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


@dataclass(frozen=True)
class RenderOptions:
    """What `stylenet render` is asked to do (cli.py reads it off the command line)."""

    inputs: tuple
    out: str | None = None
    soundfont: str | None = None  # None: pretty_midi's General MIDI TimGM6mb.sf2
    fmt: str = "wav"
    tail: float = DEFAULT_TAIL
    force: bool = False
    progress: bool = True


@dataclass
class RenderReport:
    lines: list[str]  # "IN -> OUT" for each file rendered
    skipped: list[str]  # "FILE: reason" of each file a batch skipped (a single input that fails raises)
    single: bool  # one file was named, not a folder


def run(options: RenderOptions) -> RenderReport:
    import time

    from tqdm import tqdm

    from stylenet.core.midifile import find_midi

    soundfont = read_soundfont(options.soundfont)
    inputs = find_midi(options.inputs)
    if not inputs:
        raise StyleNetError(f"no MIDI files in {' '.join(options.inputs)}", exit_code=2)
    single = len(inputs) == 1 and not Path(options.inputs[0]).is_dir()
    report = RenderReport([], [], single)
    if single:
        started = time.perf_counter()
        with one_file(inputs[0]):
            out = render_file(inputs[0], output_path(inputs[0], options.fmt, options.out, True), soundfont,
                              options.fmt, options.tail, options.force)
        report.lines.append(f"{inputs[0]} -> {out}  ({time.perf_counter() - started:.1f} s)")
        return report
    for source in tqdm(inputs, desc="render", unit="file", disable=not options.progress):
        with skip_failure(source, report.skipped, tqdm.write):
            out = render_file(source, output_path(source, options.fmt, options.out, False), soundfont,
                              options.fmt, options.tail, options.force)
            report.lines.append(f"{source} -> {out}")
            tqdm.write(report.lines[-1])
    return report


def _wav_samples(data: bytes):
    import io
    import wave

    with wave.open(io.BytesIO(data)) as w:
        params = w.getparams()
        frames = w.readframes(w.getnframes())
    if params.sampwidth != 2:
        raise StyleNetError(f"unexpected WAV sample width {params.sampwidth} from the synthesiser")
    return params, np.frombuffer(frames, np.int16)


def peak_gain(files) -> float:
    """One gain for a set of WAV files (a survey's clips), so the loudest peak reaches PEAK_DBFS (at most
    MAX_GAIN_DB).

    General MIDI SoundFonts render quietly (TimGM6mb peaks near -20 dBFS); one gain for all clips keeps
    every difference in loudness between clips and sources, which is what the listeners judge."""
    peak = max((int(np.abs(_wav_samples(Path(f).read_bytes())[1].astype(np.int32)).max(initial=0))
                for f in files), default=0)
    if peak == 0:
        return 1.0
    return float(min(10 ** (PEAK_DBFS / 20) * 32767 / peak, 10 ** (MAX_GAIN_DB / 20)))


def scale_wav(data: bytes, gain: float) -> bytes:
    """16-bit WAV bytes with every sample multiplied by `gain` (plain RIFF: fmt and data chunks only)."""
    import io
    import wave

    params, samples = _wav_samples(data)
    scaled = np.clip(np.rint(samples.astype(np.float64) * gain), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(params.nchannels)
        w.setsampwidth(2)
        w.setframerate(params.framerate)
        w.writeframes(scaled.tobytes())
    return buffer.getvalue()
