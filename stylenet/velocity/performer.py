"""StyleNet's forward pass in NumPy, for performing without TensorFlow.

A musician running `stylenet perform song.mid` should wait for the music, not for TensorFlow to import
(4-5 s on a laptop CPU).  Inference is a few passes over one piece (one per reading: a model trained on
transposed music reads the score in five keys and averages), so plain NumPy does it in about a second: each
LSTM's input projection is one matrix product over the whole piece, and only the small recurrent product
runs step by step.  `Performer.from_keras` copies a trained Keras model's weights; a test
holds the two forward passes equal.

The stored model (`*.npz`) holds float16 weights and a JSON header: genres, sizes, the grid, the input
layout (optional channels such as metre, built by `inputs.encode_input` exactly as in training), the
transpositions the score is read at, and the per-genre velocity statistics of the training data
(used by `--contrast`, the default level and the flat baseline).  A file may hold an *ensemble*: several
trained networks of the same genres and inputs whose predictions are averaged (`Performer.ensemble`);
independently trained networks err differently, so their mean is closer to the human than each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from stylenet.core.codec import shift_keys
from stylenet.core.errors import StyleNetError
from stylenet.core.fileio import PRETRAINED, atomic_path, atomic_write_text
from stylenet.core.midifile import DEFAULT_STEPS_PER_QUARTER, N_KEYS
from stylenet.nn.lstm import LSTMWeights, bidirectional, one_blas_thread
from stylenet.velocity.inputs import KNOWN_INPUTS, encode_input, shift_input, with_derived

FORMAT = "stylenet-performer/1"


# How far a score is read transposed (semitones, every second one): on the shipped model's validation pieces
# readings at -4..4 gave mean r 0.536 against 0.520 read once; -6..6 0.537 for 40 % more time
READ_TRANSPOSED = 4
READING_STEPS = 65_536  # steps of all the readings read side by side at once: ~4 kB each, ~280 MB at most


@dataclass
class GenreWeights:
    forward: list[LSTMWeights]
    backward: list[LSTMWeights]
    dense_kernel: np.ndarray
    dense_bias: np.ndarray


@dataclass
class Performer:
    """A trained StyleNet, ready to give velocities to scores, one genre at a time."""

    genres: list[str]
    interpretation: LSTMWeights
    genre_nets: dict[str, GenreWeights]
    steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER
    stats: dict = field(default_factory=dict)  # per genre: human velocity statistics of the training data
    info: dict = field(default_factory=dict)  # provenance: config, epochs, source run
    inputs: list[str] = field(default_factory=list)  # optional input channels after the score columns
    members: list[Performer] = field(default_factory=list)  # an ensemble's other networks (same genres, inputs)
    transpositions: list[int] | None = None  # semitones the score is also read at; None: as trained (below)

    def velocities(self, score: np.ndarray, genre: str, meters=None) -> np.ndarray:
        """score [T, 176] (and the piece's meter map, for a model that reads metre) -> predicted velocity
        matrix [T, 88] (velocity / 127; read it at onsets).  The score is read at each of
        `reading_transpositions` that keeps its keys on the keyboard and the predictions, moved back to
        the score's keys, are averaged; an ensemble's is also the mean of its networks'."""
        return self.readings(score, [genre], meters)[genre][0]

    def readings(self, score: np.ndarray, genres, meters=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{genre: (the mean of its readings, as `velocities` gives it; the reading in the written key alone, or
        None where the model does not read it there)}
        for several genres at once: the shared interpretation layer reads the score once for all of them
        (what `evaluate` scores every genre's net with)."""
        for genre in genres:
            if genre not in self.genre_nets:
                raise StyleNetError(f"unknown genre {genre!r}; this model knows: {', '.join(self.genres)}")
        data = encode_input(score, meters, self.inputs, self.steps_per_quarter)
        sounding = np.flatnonzero(np.asarray(score)[:, 1::2].any(axis=0))
        low, high = (int(sounding[0]), int(sounding[-1])) if len(sounding) else (0, N_KEYS - 1)
        shifts = [k for k in self.reading_transpositions() if low + k >= 0 and high + k < N_KEYS] or [0]
        total = {g: np.zeros((len(data), N_KEYS), np.float32) for g in genres}
        written = {g: np.zeros((len(data), N_KEYS), np.float32) for g in genres}
        # The readings side by side, as a batch through every LSTM (one matrix product a step for all of them),
        # in groups small enough that memory stays bounded: a two-hour piece (57,600 steps) reads one at a time.
        group = max(1, min(len(shifts), READING_STEPS // max(len(data), 1)))
        for first in range(0, len(shifts), group):
            ks = shifts[first:first + group]
            reads = np.stack([with_derived(shift_input(data, k), self.inputs) for k in ks])
            for network in (self, *self.members):
                with one_blas_thread():
                    interpreted = network.interpretation.run(reads)
                for genre in genres:
                    for k, velocities in zip(ks, network._genre_velocities(interpreted, genre)):
                        total[genre] += shift_keys(velocities, -k)
                        if k == 0:
                            written[genre] += velocities
        n = 1 + len(self.members)
        return {g: (total[g] / (len(shifts) * n), written[g] / n if 0 in shifts else None) for g in genres}

    def genre_named(self, text: str) -> str:
        """The genre `text` names, whatever its case ('Jazz' is jazz); a one-line usage error otherwise,
        with the nearest genre when it looks like a typing slip."""
        import difflib

        by_lower = {g.lower(): g for g in self.genres}
        if str(text).lower() in by_lower:
            return by_lower[str(text).lower()]
        near = difflib.get_close_matches(str(text).lower(), list(by_lower), n=1, cutoff=0.6)
        hint = f" (did you mean {by_lower[near[0]]!r}?)" if near else ""
        raise StyleNetError(f"unknown genre {text!r}{hint}; this model knows: {', '.join(self.genres)}", exit_code=2)

    def reading_transpositions(self) -> list[int]:
        """The transpositions (semitones) a score is read at: `transpositions` if set, else every second
        semitone up to READ_TRANSPOSED of the range the model was trained on (`train.transpose` 6: -4, -2,
        0, 2, 4), [0] for a model trained in the written keys.  A network trained on transposed music errs
        a little differently in each key; the mean of its readings is closer to the human (docs/results.md "Beyond
        the paper")."""
        if self.transpositions is not None:
            return list(self.transpositions)
        trained = int(((self.info.get("config") or {}).get("train") or {}).get("transpose") or 0)
        span = min(trained, READ_TRANSPOSED) // 2 * 2
        return list(range(-span, span + 1, 2))

    def _genre_velocities(self, interpreted: np.ndarray, genre: str) -> np.ndarray:
        """The interpretation layer's output [B, T, u] -> velocities [B, T, 88] of `genre`'s GenreNet."""
        net = self.genre_nets[genre]
        hidden = interpreted
        with one_blas_thread():
            for forward, backward in zip(net.forward, net.backward):
                hidden = bidirectional(forward, backward, hidden)
        return hidden @ net.dense_kernel + net.dense_bias

    @classmethod
    def ensemble(cls, performers: list[Performer], names: list[str] | None = None) -> Performer:
        """One model that averages several trained ones.  They must read the same input for the same genres,
        at the same transpositions, and have held out the same validation pieces (else one member was
        trained on what the ensemble is calibrated and chosen on); the first gives the statistics.  `names`
        (the files or runs given) name them in an error; by default their runs do."""
        names = names or [p.info.get("run", f"model {i + 1}") for i, p in enumerate(performers)]
        first = performers[0]
        for other, name in zip(performers[1:], names[1:]):
            for what, a, b in (("genres", first.genres, other.genres), ("inputs", first.inputs, other.inputs),
                               ("grid", first.steps_per_quarter, other.steps_per_quarter),
                               ("readings", first.reading_transpositions(), other.reading_transpositions()),
                               ("validation pieces", _held_out(first), _held_out(other))):
                if a != b:
                    raise StyleNetError(f"{name}: cannot join an ensemble with {names[0]}: their {what} differ")
        networks = [p for performer in performers for p in (replace(performer, members=[]), *performer.members)]
        info = {**first.info, "members": [{k: v for k, v in p.info.items() if k not in ("config", "members")}
                                          for p in networks]}
        stats = {g: {k: v for k, v in st.items() if k != "contrast"} for g, st in first.stats.items()}
        return cls(first.genres, first.interpretation, first.genre_nets, first.steps_per_quarter, stats, info,
                   list(first.inputs), networks[1:], first.transpositions)

    # ------------------------------------------------------------------------------------ conversion

    def fingerprint(self) -> str:
        """A short hash of the weights (the interpretation LSTMs and every genre's output layer, members
        included): the same for the same weights however the file was copied or loaded.  What the touch and
        expression networks' calibrations are kept with."""
        import hashlib

        digest = hashlib.sha256()
        for network in (self, *self.members):
            digest.update(np.ascontiguousarray(network.interpretation.kernel, np.float32).tobytes())
            for genre in sorted(network.genre_nets):
                digest.update(genre.encode())
                digest.update(np.ascontiguousarray(network.genre_nets[genre].dense_kernel, np.float32).tobytes())
        return digest.hexdigest()[:16]

    @classmethod
    def from_keras(cls, model, steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER, stats: dict | None = None,
                   info: dict | None = None):
        from keras import ops

        def arr(v):
            return ops.convert_to_numpy(v.value).astype(np.float32)

        def lstm(layer):
            cell = layer.cell
            return LSTMWeights(arr(cell.kernel), arr(cell.recurrent_kernel), arr(cell.bias))

        nets = {g: GenreWeights([lstm(x) for x in net.forward], [lstm(x) for x in net.backward],
                                arr(net.velocity.kernel), arr(net.velocity.bias))
                for g, net in model.genre_nets.items()}
        return cls(list(model.genres), lstm(model.interpretation), nets, steps_per_quarter, stats or {}, info or {},
                   list(model.inputs_layout))

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {f"member_{i}/{name}": array for i, member in enumerate(self.members, 1)
               for name, array in member._arrays().items()}

        def put(prefix, w: LSTMWeights):
            out[f"{prefix}/kernel"], out[f"{prefix}/recurrent"], out[f"{prefix}/bias"] = w.kernel, w.recurrent, w.bias

        put("interpretation", self.interpretation)
        for g, net in self.genre_nets.items():
            for i, (f, b) in enumerate(zip(net.forward, net.backward)):
                put(f"{g}/forward_{i}", f)
                put(f"{g}/backward_{i}", b)
            out[f"{g}/dense/kernel"], out[f"{g}/dense/bias"] = net.dense_kernel, net.dense_bias
        return out

    def save(self, path, dtype=np.float16) -> Path:
        genre_layers = len(next(iter(self.genre_nets.values())).forward)
        header = {"format": FORMAT, "genres": self.genres, "genre_layers": genre_layers,
                  "steps_per_quarter": self.steps_per_quarter, "stats": self.stats, "info": self.info,
                  "inputs": self.inputs, "members": len(self.members),
                  "transpositions": self.reading_transpositions()}
        arrays = {k: v.astype(dtype) for k, v in self._arrays().items()}
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                # uncompressed: float weights shrink by 8 % compressed, and inflating them cost every
                # `perform` 85 ms of its start
                np.savez(f, header=np.array(json.dumps(header)), **arrays)
        return Path(path)

    @classmethod
    def load(cls, path) -> "Performer":
        path = Path(path)
        try:
            with np.load(path) as f:
                header = json.loads(str(f["header"]))
                arrays = {k: f[k].astype(np.float32) for k in f.files if k != "header"}
        except OSError as exc:
            raise StyleNetError(f"{path}: cannot read model ({exc.strerror or exc})") from None
        except (ValueError, KeyError, AttributeError, EOFError):  # not an .npz archive (empty: EOFError), or no header
            raise StyleNetError(f"{path}: not a StyleNet model file (.npz written by StyleNet)") from None
        if header.get("format") != FORMAT:
            raise StyleNetError(f"{path}: not a StyleNet model (format {header.get('format')!r})")

        unknown = [name for name in header.get("inputs", []) if name not in KNOWN_INPUTS]
        if unknown:
            raise StyleNetError(f"{path}: model reads input {unknown[0]!r}, which this StyleNet does not know; "
                                "upgrade StyleNet")
        try:  # files saved before readings were recorded were calibrated read once
            readings = [int(k) for k in header.get("transpositions", [0])]
        except (TypeError, ValueError):
            raise StyleNetError(f"{path}: damaged model file (its transpositions are not whole numbers)") from None
        # models saved before the GenreNet depth had one name call it "layers" (the shipped one among them)
        genre_layers = header["genre_layers"] if "genre_layers" in header else header["layers"]

        def network(prefix: str):
            def lstm(name):
                return LSTMWeights(*(arrays[f"{prefix}{name}/{part}"] for part in ("kernel", "recurrent", "bias")))

            nets = {g: GenreWeights([lstm(f"{g}/forward_{i}") for i in range(genre_layers)],
                                    [lstm(f"{g}/backward_{i}") for i in range(genre_layers)],
                                    arrays[f"{prefix}{g}/dense/kernel"], arrays[f"{prefix}{g}/dense/bias"])
                    for g in header["genres"]}
            return cls(header["genres"], lstm("interpretation"), nets, header["steps_per_quarter"],
                       header.get("stats", {}), header.get("info", {}), list(header.get("inputs", [])),
                       transpositions=readings)

        try:
            performer = network("")
            performer.members = [network(f"member_{i}/") for i in range(1, header.get("members", 0) + 1)]
        except KeyError as exc:
            raise StyleNetError(f"{path}: damaged model file (no {exc.args[0]} weights)") from None
        return performer


def _held_out(performer: Performer):
    """What decides a model's validation pieces: its run's data settings and the seed that chose them."""
    config = performer.info.get("config") or {}
    data = dict(config.get("data") or {})
    seed = data.pop("validation_seed", None)
    return data, (config.get("train") or {}).get("seed", 0) if seed is None else seed


SHIPPED = PRETRAINED / "stylenet.npz"
RUN_DATA = "data.json"  # a run's grid and its training data's velocity statistics, written as training starts
RUN_CONTRAST = "contrast.json"  # a run's `--contrast auto` factors, written as training ends, for those weights only


def _dataset_data(config) -> tuple[int, dict]:
    """(the grid, the velocity statistics of its genres) of a run config's dataset."""
    from stylenet.data.read import dataset_steps_per_quarter, velocity_stats

    return dataset_steps_per_quarter(config.data.dataset), velocity_stats(config.data.dataset, config.data.genres)


def record_run_data(run_dir, config) -> None:
    """Write what performing with a run needs from its dataset into the run itself (once: a resumed run
    keeps its record), so that the run plays the same when the dataset has moved or been rebuilt."""
    path = Path(run_dir) / RUN_DATA
    if not path.exists():
        steps_per_quarter, stats = _dataset_data(config)
        atomic_write_text(path, json.dumps({"steps_per_quarter": steps_per_quarter, "velocity_stats": stats},
                                           indent=1) + "\n")


def run_data(run_dir, config) -> tuple[int, dict]:
    """(steps per quarter, velocity statistics) a run recorded (`record_run_data`); a run from before it
    recorded them reads its dataset, and one whose dataset is gone is refused (never a guessed grid)."""
    try:
        record = json.loads((Path(run_dir) / RUN_DATA).read_text())
        return int(record["steps_per_quarter"]), dict(record["velocity_stats"])
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StyleNetError(f"{Path(run_dir) / RUN_DATA}: unreadable ({exc.__class__.__name__}); delete it and rerun "
                            f"`stylenet train` on the run to write it again") from None
    if not (Path(config.data.dataset) / "manifest.jsonl").exists():
        raise StyleNetError(f"{run_dir}: records no grid ({RUN_DATA}) and its dataset {config.data.dataset} is gone: "
                            f"rebuild the dataset there, or perform with an exported model file")
    return _dataset_data(config)


def weights_signature(path: Path) -> str:
    """Which weights file a run's recorded contrast factors belong to (name, size, modification time)."""
    stat = Path(path).stat()
    return f"{Path(path).name}:{stat.st_size}:{stat.st_mtime_ns}"


def load_performer(model=None) -> Performer:
    """The shipped model (None), a saved model file, or a training run directory (its best weights); a list
    of several: their ensemble."""
    if isinstance(model, (list, tuple)):
        if len(model) > 1:
            return Performer.ensemble([load_performer(m) for m in model], [str(m) for m in model])
        model = model[0] if model else None
    if model is None:
        if not SHIPPED.exists():
            raise StyleNetError(f"no shipped model at {SHIPPED}; pass --model RUN_DIR_OR_FILE")
        return Performer.load(SHIPPED)
    path = Path(model)
    if path.is_dir():
        return performer_from_run(path)
    if not path.exists():
        raise StyleNetError(f"{path}: no such model file or run directory")
    return Performer.load(path)


def performer_from_run(run_dir, checkpoint: str | None = None) -> Performer:
    """Rebuild a run's Keras model from its config and best (or latest) weights.  Imports TensorFlow."""
    from stylenet.nn.checkpoint import BEST, CHECKPOINT, load_checkpoint
    from stylenet.velocity.config import load_config

    run_dir = Path(run_dir)
    candidates = [checkpoint] if checkpoint else [BEST, CHECKPOINT]
    weights = next((run_dir / c for c in candidates if (run_dir / c).exists()), None)
    if not (run_dir / "config.yaml").exists() or weights is None:
        raise StyleNetError(f"{run_dir}: not a training run (needs config.yaml and {BEST} or {CHECKPOINT})")
    from stylenet.nn.backend import import_keras

    import_keras()
    from stylenet.velocity.model import build_model

    config = load_config(run_dir / "config.yaml")
    model = build_model(config.data.genres, config.model.units, config.model.genre_layers, config.model.keep_prob,
                        config.model.inputs)
    signature = weights_signature(weights)  # before reading: a run still training may replace the file meanwhile
    meta, _ = load_checkpoint(weights, model)
    info = {"run": str(run_dir), "weights": weights.name, "weights_signature": signature, "epoch": meta.get("epoch"),
            "config": config.to_dict()}
    steps_per_quarter, stats = run_data(run_dir, config)
    performer = Performer.from_keras(model, steps_per_quarter, stats, info)
    for genre, factor in run_contrast(run_dir, signature, performer.reading_transpositions()).items():
        performer.stats.setdefault(genre, {})["contrast"] = factor
    return performer


def run_contrast(run_dir, signature: str, transpositions: list[int]) -> dict[str, float]:
    """The `--contrast auto` factors the run's training calibrated for these weights read at these
    transpositions (`velocity.train.calibrate_run`); none when absent, unreadable, or for other weights or
    another reading."""
    try:
        saved = json.loads((Path(run_dir) / RUN_CONTRAST).read_text())
        same = saved.get("weights") == signature and saved.get("transpositions") == list(transpositions)
        factors = saved["factors"] if same else {}
        return {str(genre): float(factor) for genre, factor in factors.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
