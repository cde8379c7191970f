"""`stylenet render IN...`: hear a MIDI file — audio with a piano sound, velocity-sensitive.

The synthesiser is `midirenderer` (a self-contained wheel: a Rust SoundFont synthesiser, rustysynth, with
libopus linked in), so nothing but the package is needed on a fresh machine.  The default SoundFont is the
best one installed: a system General MIDI font when there is one (Debian's `fluid-soundfont-gm`, 140 MB,
a sampled grand), else the small one pretty_midi ships (`TimGM6mb.sf2`, 6 MB); `--soundfont` takes any.

Loudness.  General MIDI SoundFonts render quietly and unevenly (a held-out classical performance came out
at -28.5 dBFS peak with TimGM6mb: nearly inaudible), so WAV is loudness-normalised by default: its
integrated loudness (ITU-R BS.1770, measured with pyloudnorm, the well-kept implementation) brought to
TARGET_LUFS, the level of streamed music, and turned down again if that would push a peak past PEAK_DBFS.
Loudness rather than peak normalisation because two files with the same peak can sound far apart (a
single loud chord sets the peak; the ear hears the whole).  `--gain DB` gives a fixed gain instead (0: as
synthesised).  Opus is encoded inside the synthesiser and written as synthesised.

Every channel is rendered as the file asks (a piano part with no program change is General MIDI's
acoustic grand).  The audio lasts as long as the MIDI file (its last event) plus `tail` seconds of release,
so the last chord rings out instead of stopping dead.  WAV is 48 kHz, 16-bit stereo; Opus is Ogg Opus
(about 256 kbit/s, a sixth of WAV's size).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylenet.core import fileio, smf
from stylenet.core.errors import StyleNetError, one_file, skip_failure
from stylenet.core.fileio import atomic_write_bytes, refuse_overwrite

FORMATS = ("wav", "opus")
SAMPLE_RATE = 48_000  # what midirenderer writes
DEFAULT_TAIL = 1.0  # seconds of release after the file's last event

PEAK_DBFS = -1.0  # WAV clips that share one gain (`peak_gain`) have their loudest peak brought here ...
MAX_GAIN_DB = 30.0  # ... but no more than this
TARGET_LUFS = -16.0  # integrated loudness of a normalised WAV (`loudness_gain`): streamed music's level
SYSTEM_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
                     "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/soundfonts/default.sf2")


def default_soundfont() -> Path:
    """The best General MIDI SoundFont installed: a system one (SYSTEM_SOUNDFONTS), else pretty_midi's."""
    import pretty_midi

    for candidate in SYSTEM_SOUNDFONTS:
        if Path(candidate).is_file():
            return Path(candidate)
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
    return smf.smf_bytes(midi.type, midi.ticks_per_beat, tracks)


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
                force: bool = False, gain="auto") -> Path:
    """Render one MIDI file to `output` (written atomically; never the input, never an existing file
    unless `force`).  `gain`: "auto" (WAV loudness-normalised, `loudness_gain`) or decibels (0: as
    synthesised); Opus is always as synthesised."""
    path, output = Path(path), Path(output)
    refuse_overwrite(path, output, force)
    audio = render_bytes(midi_with_tail(path, tail), soundfont, fmt, where=str(path))
    if fmt == "wav":
        factor = loudness_gain(audio) if gain == "auto" else 10 ** (float(gain) / 20)
        if factor != 1.0:
            audio = scale_wav(audio, factor)
    atomic_write_bytes(output, audio)
    return output


def loudness_gain(wav: bytes, target: float = TARGET_LUFS, peak_dbfs: float = PEAK_DBFS) -> float:
    """The factor that brings WAV bytes to `target` LUFS integrated loudness (pyloudnorm), lowered so that no
    sample passes `peak_dbfs`; for audio too short or quiet to measure (under 0.4 s, or silence), the factor
    that brings its peak to `peak_dbfs` (1 for silence)."""
    import pyloudnorm

    params, samples = _wav_samples(wav)
    frames = samples.reshape(-1, params.nchannels).astype(np.float64) / 32768.0
    peak = float(np.abs(frames).max(initial=0.0))
    if peak == 0.0:
        return 1.0
    ceiling = 10 ** (peak_dbfs / 20) / peak
    if len(frames) < 0.4 * params.framerate:
        return ceiling
    loudness = pyloudnorm.Meter(params.framerate).integrated_loudness(frames)
    if not np.isfinite(loudness):
        return ceiling
    return float(min(10 ** ((target - loudness) / 20), ceiling))


@dataclass
class AudioBeside:
    """`perform --render`: called with (performed file, its input), writes the audio of the performance and
    of the input as written beside the performance, as <name>.wav and <input name>.as-written.wav (or .opus),
    each loudness-normalised alike so that before and after compare fairly, and returns both paths.  A plain
    object (the SoundFont read on first use), so that a pool of `perform` processes can take it along."""

    fmt: str = "wav"
    soundfont: str | None = None
    force: bool = False
    gain: str | float = "auto"

    def __post_init__(self):
        self._sound = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_sound"} | {"_sound": None}

    def __call__(self, performed: Path, source: Path) -> tuple[Path, Path]:
        if self._sound is None:
            self._sound = read_soundfont(self.soundfont)
        fmt = self.fmt
        after = render_file(performed, performed.with_suffix(f".{fmt}"), self._sound, fmt, force=self.force,
                            gain=self.gain)
        before = performed.with_name(f"{source.stem}.as-written.{fmt}")
        # another genre's run wrote the same input's audio already: kept, unless the input changed since
        # (then refused like any existing output, without --force)
        if self.force or not before.exists() or before.stat().st_mtime < Path(source).stat().st_mtime:
            render_file(source, before, self._sound, fmt, force=self.force, gain=self.gain)
        return after, before


def audio_beside(fmt: str = "wav", soundfont=None, force: bool = False, gain="auto") -> AudioBeside:
    """An `AudioBeside`, its SoundFont checked now (a bad one is a one-line error before any file is played)."""
    audio = AudioBeside(fmt, soundfont, force, gain)
    audio._sound = read_soundfont(soundfont)
    return audio


def output_paths(inputs, fmt: str, out: str | None) -> list[Path]:
    """Where each input's audio goes (`fileio.plan_outputs`: beside it, `-o FILE` for one, or mirrored under
    `-o FOLDER`), refusing an `-o` of another kind of file before anything is written."""
    suffix = Path(out).suffix.lower() if out else ""
    if suffix in fileio.FILE_SUFFIXES and suffix != f".{fmt}":
        raise StyleNetError(f"{out}: not a .{fmt} file name; name a .{fmt} file or a folder (or pass --format)",
                            exit_code=2)
    return fileio.plan_outputs(inputs, lambda p: f"{p.stem}.{fmt}", out, (f".{fmt}",), "render")


def audio_seconds(data: bytes) -> float:
    """Duration of WAV bytes (for reports and tests)."""
    import io
    import wave

    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


@dataclass(frozen=True)
class RenderOptions:
    """What `stylenet render` is asked to do (cli/listen.py reads it off the command line)."""

    inputs: tuple
    out: str | None = None
    soundfont: str | None = None  # None: the best installed (`default_soundfont`)
    fmt: str = "wav"
    tail: float = DEFAULT_TAIL
    force: bool = False
    progress: bool = True
    gain: str | float = "auto"  # "auto": loudness-normalised WAV; a number: that gain in dB (0: as synthesised)


@dataclass
class RenderReport:
    lines: list[str]  # "IN -> OUT" for each file rendered
    skipped: list[str]  # "FILE: reason" of each file a batch skipped (a single input that fails raises)
    single: bool  # one file was named, not a folder


def run(options: RenderOptions) -> RenderReport:
    import time

    from tqdm import tqdm

    from stylenet.core.midifile import find_inputs

    inputs = find_inputs(options.inputs)
    if not inputs:
        raise StyleNetError(f"no MIDI files in {' '.join(options.inputs)}", exit_code=2)
    outputs = output_paths(inputs, options.fmt, options.out)
    soundfont = read_soundfont(options.soundfont)
    single = len(inputs) == 1 and inputs[0].root is None
    report = RenderReport([], [], single)
    if single:
        started = time.perf_counter()
        with one_file(inputs[0].path):
            out = render_file(inputs[0].path, outputs[0], soundfont, options.fmt, options.tail, options.force,
                              options.gain)
        report.lines.append(f"{inputs[0].path} -> {out}  ({time.perf_counter() - started:.1f} s)")
        return report
    for item, output in tqdm(list(zip(inputs, outputs)), desc="render", unit="file", disable=not options.progress):
        with skip_failure(item.path, report.skipped, tqdm.write):
            out = render_file(item.path, output, soundfont, options.fmt, options.tail, options.force, options.gain)
            report.lines.append(f"{item.path} -> {out}")
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
