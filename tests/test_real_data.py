"""Integration over the real files in ../shared/data (skipped where that folder is absent)."""

import csv
from pathlib import Path

import numpy as np
import pytest

from stylenet import codec
from stylenet.dataset import build_dataset, load_manifest, load_piece

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "raw").is_dir(), reason="../shared/data not present")


def _rows():
    with open(DATA / "splits.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_real_subset_builds_with_splits_and_known_rejections(tmp_path):
    rows = _rows()
    chosen = []
    for genre in ("classical", "jazz", "pop"):
        chosen += [r for r in rows if r["genre"] == genre][:4]
    chosen += [r for r in rows if r["path"].endswith(("jazz/Caravan2.mid", "jazz/afine-1.MID"))]
    chosen += [r for r in rows if " " in r["path"]][:2]  # names with spaces
    raw = tmp_path / "raw"
    for r in chosen:
        link = raw / r["path"].split("/", 1)[1]
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(DATA / r["path"])
    out = tmp_path / "ds"
    report = build_dataset(raw, out, DATA / "splits.csv", jobs=2, progress=False)
    kept = {e["path"]: e for e in load_manifest(out)}
    rejected = {e["path"]: e["category"] for e in report.rejected}
    assert rejected.get("jazz/Caravan2.mid") == "few velocities"
    assert rejected.get("jazz/afine-1.MID") == "no piano notes"
    assert len(kept) + len(rejected) == len({r["path"] for r in chosen})
    truth = {r["path"].split("/", 1)[1]: r for r in rows}
    for path, entry in kept.items():
        assert entry["split"] == truth[path]["split"] and entry["piece"] == truth[path]["piece"]
        score, velocity = load_piece(out, entry)
        assert score.shape == (entry["steps"], 176) and velocity.shape == (entry["steps"], 88)
        # every onset cell carries a real velocity; every silent cell carries none
        onset = score[:, 0::2] == 1
        assert np.all(velocity[onset] > 0) and np.all(velocity[score[:, 1::2] == 0] == 0)
        assert onset.sum() == entry["notes"]


def test_real_file_apply_keeps_every_event_but_velocity(tmp_path):
    import io

    import mido

    path = DATA / next(r["path"] for r in _rows() if r["genre"] == "jazz")
    piece = codec.load_midi(path)
    _, velocity = codec.encode(codec.quantise(piece))
    out = mido.MidiFile(file=io.BytesIO(codec.apply_velocities(piece, velocity * 0.5)))
    original = mido.MidiFile(path)
    for a, b in zip(original.tracks, out.tracks):
        assert len(a) == len(b)
        for ma, mb in zip(a, b):
            if ma.type == "note_on" and ma.velocity and ma != mb:
                assert ma.copy(velocity=mb.velocity) == mb
            else:
                assert ma == mb
