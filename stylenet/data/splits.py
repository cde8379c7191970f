"""Which pieces a model may learn from, which it is tuned on, and which it is tested on: every hold-out rule.

Three levels, one seeded rule each, so that every tool holds out the same music:
    test        `splits.csv` for RAW_DIR's files (`read_splits`, `assign_splits`); for ASAP, `work_split` -- a hash of (seed, work), so every
                performance of a work, and every folder variant of it, lands on the same side on any
                machine (the dataset builder, the beat tracker's and the touch network's trainers, the
                expression network);
    validation  a training run's own draw among the train pieces (`held_out`: `split_validation`,
                `split_genre` for StyleNet, the composers' corpus too): all versions of a piece together,
                ASAP works as works;
    ASAP works  `asap_work`: a work's folder variants (`17-1` and `17-1_no_repeat`) are one work.
Read the test side once, for the final table; choose everything on validation.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import numpy as np

from stylenet.core.errors import StyleNetError

ASAP_TEST_SHARE = 0.1
_ASAP_VARIANT = re.compile(r"_(no_first_repeat|no_repeat|repeat|no_trio)$")


def _folder_work(folder: str) -> str:
    """The work an ASAP folder holds, as a title: `Beethoven/Piano_Sonatas/17-1_no_repeat` ->
    `Piano_Sonatas_17-1`.  A folder's variants (with or without a repeat) are one work: the same music."""
    parts = folder.replace("\\", "/").strip("/").split("/")
    return _ASAP_VARIANT.sub("", "_".join(parts[1:]) if len(parts) > 1 else parts[0])


def asap_work(folder_or_title) -> str:
    """The ASAP work a folder, a file inside it, or a `metadata.csv` title belongs to, as its title: a
    work's folder variants (`17-1` and `17-1_no_repeat`, the same music with or
    without a repeat) are one work, 'Beethoven/Piano_Sonatas/17-1_no_repeat/Lee01M.mid' ->
    'Piano_Sonatas_17-1'.  An absolute path is read relative to the ASAP root above it (the folder holding
    metadata.csv)."""
    text = str(folder_or_title).replace("\\", "/").strip("/")
    if "/" not in text:
        return _folder_work(text)
    path = Path(str(folder_or_title))
    if path.is_absolute():
        for parent in path.parents:
            if (parent / "metadata.csv").is_file():
                path = path.relative_to(parent)
                break
    parts = list(path.parts)
    if len(parts) > 1 and Path(parts[-1]).suffix.lower() in (".mid", ".midi", ".txt"):
        parts = parts[:-1]
    return _folder_work("/".join(parts))


def work_split(work: str, seed: int = 0, test_share: float = ASAP_TEST_SHARE) -> str:
    """'test' for about `test_share` of works, 'train' for the rest: a hash of (seed, work), so every
    performance of a work lands on the same side, and adding works never moves another work."""
    digest = hashlib.sha256(f"{seed}:{work}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2 ** 64 < test_share else "train"


def asap_split(folder_or_title, seed: int = 0, test_share: float = 0.1) -> str:
    """"train" or "test" for an ASAP work: `work_split` of its title (`asap_work`), a hash of
    (seed, work), so every performance of a work, and every folder variant of it, lands on the same side,
    on any machine, for the tracker and the dataset builder alike.  About `test_share` of the works are
    "test"; another `seed` draws another split."""
    return work_split(asap_work(folder_or_title), int(seed), test_share)


def asap_validation(folder_or_title, seed: int = 0, share: float = 0.15) -> bool:
    """Whether a *train* work is held out to tune on (an independent draw from `asap_split`'s)."""
    return asap_split(folder_or_title, seed=seed + 1000, test_share=share) == "test"


def held_out(names: list, fraction: float, seed: int) -> set:
    """The names a run holds out to validate on: `fraction` of them (at least one when there are two or
    more), drawn with `seed` from the sorted names -- the same draw for StyleNet's pieces and the composers'."""
    names = sorted(names)
    n_val = 0 if fraction <= 0 or len(names) < 2 else max(1, round(fraction * len(names)))
    return set(np.random.default_rng(seed).permutation(names)[:n_val].tolist())


def split_validation(entries: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out `fraction` of the pieces (all versions of a piece together), at least one if possible.

    Each source of a genre (RAW_DIR's pieces; ASAP's works, `asap/...`) is held out as if it were alone,
    so that adding ASAP to a genre leaves that genre's RAW_DIR validation pieces exactly as they were and
    runs with and without it are scored on the same pieces.  ASAP's pieces are folders, and a work's folder
    variants (Kreisleriana/1 and 1_no_first_repeat) are one work: a held-out work's other folders are left
    out of training too (they are not added to validation, so a run's validation pieces stay as drawn)."""
    held: set = set()
    for group in (False, True):
        held |= held_out([p for p in {_piece(e) for e in entries} if p.startswith("asap/") == group], fraction, seed)
    held_works = {_asap_work(p) for p in held if p.startswith("asap/")}
    train = [e for e in entries if _piece(e) not in held and _asap_work(_piece(e)) not in held_works]
    val = [e for e in entries if _piece(e) in held]
    return train, val


def _asap_work(piece: str) -> str | None:
    """The ASAP work of a piece name (`asap/<folder>`), None for a RAW_DIR piece."""
    return asap_work(piece.removeprefix("asap/")) if piece.startswith("asap/") else None


def _piece(entry: dict) -> str:
    return entry.get("piece") or entry["path"]


def split_genre(train_entries: list[dict], data_config, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, validation) entries of one genre's `train`-split pieces, as a run with this data config and
    seed (`train.seed`, unless `data.validation_seed` is set) chooses them (`evaluate --split validation`
    rebuilds the held-out half with it)."""
    if data_config.max_pieces_per_genre:
        train_entries = train_entries[:data_config.max_pieces_per_genre]
    if data_config.validation_seed is not None:
        seed = data_config.validation_seed
    return split_validation(train_entries, data_config.validation_fraction, seed)


def read_splits(csv_path: Path) -> dict[str, dict]:
    """splits.csv (path, genre, piece, split) -> {path as written: row}."""
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"path", "split"} - set(reader.fieldnames or [])
            if missing:
                raise StyleNetError(f"{csv_path}: splits CSV lacks column(s) {', '.join(sorted(missing))}",
                                    exit_code=2)
            return {row["path"].strip(): row for row in reader}
    except OSError as exc:
        raise StyleNetError(f"{csv_path}: cannot read splits CSV ({exc.strerror})", exit_code=2) from None


def assign_splits(sources: list, splits: dict[str, dict], csv_path: Path) -> int:
    """Give each source its split and piece from the CSV; return how many the CSV does not list.

    A CSV path matches a file if it names the same file relative to the CSV's folder, or if it ends with
    the file's path relative to RAW_DIR (so `raw/jazz/x.mid` in the CSV matches `jazz/x.mid`).
    """
    by_abs = {(csv_path.parent / p).resolve(): row for p, row in splits.items()}
    by_suffix = {}
    for p, row in splits.items():
        parts = p.split("/")
        for i in range(len(parts) - 1):
            by_suffix.setdefault("/".join(parts[i:]), row)
    unlisted = 0
    for source in sources:
        row = by_abs.get(source.path) or by_suffix.get(source.rel)
        if row is None:
            source.split, source.piece = "unlisted", source.rel
            unlisted += 1
        else:
            source.split = row["split"].strip() or "train"
            source.piece = (row.get("piece") or "").strip() or source.rel
    return unlisted
