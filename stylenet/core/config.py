"""One configuration object, read from YAML into typed dataclasses, checked field by field.

    data:   which built dataset, which genres, how validation pieces are held out
    model:  the network's size (the paper: 176 units, 3 bidirectional layers per genre, keep-prob 0.8)
    train:  optimisation and bookkeeping (the paper: batch 4, Adam 1e-3, clip 10, windows of 200 steps)

`stylenet compose train` reads a `ComposeConfig` the same way (sections data, autoencoder, token_lstm, train
and the `composer` it trains).

Every mistake is reported as one line naming the field and what to do, e.g.
`configs/x.yaml: train.epocs: unknown key (did you mean 'epochs'?)`.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from pathlib import Path

from stylenet.core.errors import StyleNetError


class ConfigError(StyleNetError):
    def __init__(self, message: str):
        super().__init__(message, exit_code=2)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value, tp, where: str):
    """Check `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # PyYAML follows YAML 1.1, which reads 1e-3 (no dot) as text
            return float(value)
        except ValueError:
            pass
    if tp in (int, float, str, bool) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def _build(cls, raw, where: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(names)})"
            raise ConfigError(f"{where}.{key}: unknown key{hint}".lstrip("."))
    kwargs = {}
    for name in names:
        if name not in raw:
            continue
        tp = hints[name]
        path = f"{where}.{name}".lstrip(".")
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, raw[name], path)
        else:
            kwargs[name] = _coerce(raw[name], tp, path)
    return cls(**kwargs)


def require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def check_run_keeping(t, validation_fraction: float) -> None:
    """The train.* fields both `stylenet train` and `stylenet compose train` keep their runs by."""
    require(t.checkpoint_minutes > 0, "train.checkpoint_minutes: must be > 0")
    require(t.plot_every >= 1, "train.plot_every: must be >= 1")
    require(t.max_batches_per_epoch is None or t.max_batches_per_epoch >= 1,
          "train.max_batches_per_epoch: must be >= 1 or null")
    require(t.patience is None or t.patience >= 1, "train.patience: must be >= 1 or null")
    require(t.patience is None or validation_fraction > 0,
          "train.patience: needs a validation set (data.validation_fraction > 0)")


def parse_override(text: str) -> tuple[list[str], object]:
    """'train.epochs=3' -> (['train', 'epochs'], 3); the value is read as YAML."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected SECTION.KEY=VALUE, e.g. train.epochs=3")
    return key.strip().split("."), yaml.safe_load(value)


def from_dict(cls, check, raw: dict, overrides, source: str):
    """A config of dataclass `cls` from YAML's dict with `--set` overrides applied, checked by `check`."""
    raw = dict(raw or {})
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else None
            if node is None:
                raise ConfigError(f"--set {text}: {part} is not a section")
        node[path[-1]] = value
    try:
        config = _build(cls, raw, "")
        check(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


def read_yaml(path, sections: str) -> dict:
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected sections {sections} at the top level")
    return raw or {}


def dump_config(config) -> str:
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def refuse_changed_fields(run_dir, config, fixed, checkpoint: str) -> None:
    """A run directory belongs to one experiment: raise a ConfigError naming the first field in `fixed` (paths
    such as ("train", "seed")) whose value differs from the run's saved config.yaml.  A field missing from an
    older run's file had its default value then.  Nothing to compare before the run's first `checkpoint`."""
    import yaml

    run_dir = Path(run_dir)
    saved = run_dir / "config.yaml"
    if not (saved.exists() and (run_dir / checkpoint).exists()):
        return
    old, new, defaults = yaml.safe_load(saved.read_text()) or {}, config.to_dict(), type(config)().to_dict()
    for path in fixed:
        was, now = _at(old, path), _at(new, path)
        if was is _MISSING:
            was = _at(defaults, path)
        if was != now:
            raise ConfigError(f"{'.'.join(path)}: {run_dir} was trained with {was!r}, not {now!r}; "
                              "use a new run directory or the old value")


_MISSING = object()


def _at(tree: dict, path):
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree
