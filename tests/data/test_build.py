"""`build-dataset`: what is kept, what is rejected and why, what is written, and rebuilding."""

import csv
import json

import numpy as np

from stylenet.core import codec, midifile
from stylenet.data.build import BuildOptions, build_dataset
from stylenet.data.read import load_manifest, load_piece
from tests.helpers import (
    REAL_DATA,
    TEMPO_ZERO,
    N,
    Song,
    annotation_text,
    asap_tree,
    expressive_song,
    needs_real_data,
    real_data_rows,
    recording,
    rubato_beats,
    write_song,
)


def _rejections(out):
    with open(out / "rejected.csv", newline="") as f:
        return {row["path"]: row for row in csv.DictReader(f)}


def test_build_keeps_good_pieces_and_reports_every_rejection(raw_tree, tmp_path):
    out = tmp_path / "ds"
    report = build_dataset(raw_tree, out, jobs=1, progress=False)
    manifest = load_manifest(out)
    assert sorted(e["path"] for e in manifest) == sorted([
        "classical/Chopin/op 25 no 1.mid", "classical/bach.mid", "jazz/Trio (live) take 1.mid",
        "jazz/deep/er/Blue in Green.MID", "pop/001.mid"])
    assert {e["genre"] for e in manifest} == {"classical", "jazz", "pop"}
    rejected = _rejections(out)
    assert {p: r["category"] for p, r in rejected.items()} == {
        "pop/empty.mid": "empty", "pop/garbage.mid": "unreadable", "pop/truncated.mid": "unreadable",
        "pop/drums only.mid": "no piano notes", "pop/flat.mid": "few velocities",
        "loose.mid": "no genre folder"}
    assert "only 3 distinct velocities (need 20)" in rejected["pop/flat.mid"]["reason"]
    assert "drums only" in rejected["pop/drums only.mid"]["reason"]
    table = report.summary_table()
    assert "pop" in table and "few velocities" in table and "total" in table


def test_arrays_and_manifest_match_the_codec(raw_tree, tmp_path):
    out = tmp_path / "ds"
    build_dataset(raw_tree, out, jobs=1, progress=False)
    entry = next(e for e in load_manifest(out) if e["path"] == "classical/Chopin/op 25 no 1.mid")
    piece = midifile.load_midi(raw_tree / entry["path"])
    expected_score, expected_velocity = codec.encode(codec.quantise(piece))
    score, velocity = load_piece(out, entry)
    assert np.array_equal(score, expected_score)
    assert np.allclose(velocity, expected_velocity, atol=1e-3)  # stored as float16
    assert entry["meters"] == ["3/4"] and entry["steps"] == len(score) and entry["split"] == "train"
    assert entry["notes"] == 60 and entry["distinct_velocities"] >= 20 and len(entry["sha256"]) == 64
    # the merged piano MIDI holds the same music
    merged = codec.quantise(midifile.load_midi(out / entry["midi"]))
    assert merged == codec.quantise(piece)
    bach = next(e for e in load_manifest(out) if e["path"] == "classical/bach.mid")
    assert bach["tempo_changes"] == 2


def test_rebuild_skips_unchanged_and_redoes_changed(raw_tree, tmp_path):
    out = tmp_path / "ds"
    first = build_dataset(raw_tree, out, jobs=1, progress=False)
    assert first.reused == 0
    second = build_dataset(raw_tree, out, jobs=1, progress=False)
    assert second.reused == len(first.kept) + len(first.rejected)
    assert [e["path"] for e in second.kept] == [e["path"] for e in first.kept]
    write_song(raw_tree / "pop" / "001.mid", expressive_song(50, seed=9))
    third = build_dataset(raw_tree, out, jobs=1, progress=False)
    assert third.reused == second.reused - 1
    assert next(e for e in third.kept if e["path"] == "pop/001.mid")["notes"] == 50
    # changing an option that changes the arrays rebuilds everything
    fourth = build_dataset(raw_tree, out, options=BuildOptions(steps_per_quarter=8), jobs=1, progress=False)
    assert fourth.reused == 0 and all(e["steps_per_quarter"] == 8 for e in fourth.kept)


def test_splits_csv_sets_split_and_piece(raw_tree, tmp_path):
    splits = tmp_path / "splits.csv"
    splits.write_text("path,genre,piece,split\n"
                      "raw/jazz/Trio (live) take 1.mid,jazz,Trio,test\n"
                      "raw/jazz/deep/er/Blue in Green.MID,jazz,BIG,train\n"
                      "raw/pop/001.mid,pop,001,train\n"
                      "raw/classical/bach.mid,classical,Bach,test\n")
    out = tmp_path / "ds"
    build_dataset(raw_tree, out, splits, jobs=1, progress=False)
    by_path = {e["path"]: e for e in load_manifest(out)}
    assert by_path["jazz/Trio (live) take 1.mid"]["split"] == "test"
    assert by_path["jazz/Trio (live) take 1.mid"]["piece"] == "Trio"
    assert by_path["classical/bach.mid"]["split"] == "test"
    assert by_path["pop/001.mid"]["split"] == "train"
    assert by_path["classical/Chopin/op 25 no 1.mid"]["split"] == "unlisted"
    assert json.loads((out / "build.json").read_text())["unlisted_in_splits"] >= 1


def test_time_signature_keeps_only_pieces_in_that_meter(raw_tree, tmp_path):
    out = tmp_path / "ds"
    build_dataset(raw_tree, out, options=BuildOptions(time_signature="4/4"), jobs=1, progress=False)
    assert "classical/Chopin/op 25 no 1.mid" not in {e["path"] for e in load_manifest(out)}
    assert _rejections(out)["classical/Chopin/op 25 no 1.mid"]["category"] == "meter"


def test_process_pool_gives_the_same_dataset(raw_tree, tmp_path):
    build_dataset(raw_tree, tmp_path / "a", jobs=1, progress=False)
    build_dataset(raw_tree, tmp_path / "b", jobs=2, progress=False)
    a, b = load_manifest(tmp_path / "a"), load_manifest(tmp_path / "b")
    assert a == b
    for entry in a:
        sa, va = load_piece(tmp_path / "a", entry)
        sb, vb = load_piece(tmp_path / "b", entry)
        assert np.array_equal(sa, sb) and np.array_equal(va, vb)
    assert not list((tmp_path / "b").rglob(".*.tmp")) and not list((tmp_path / "b").rglob(".*.npz"))


def test_build_dataset_rejects_a_file_that_meets_a_bug_and_retries_it_next_build(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    for i in range(3):
        write_song(raw / "jazz" / f"{i}.mid", expressive_song(30 + i, seed=i))
    (raw / "jazz" / "tempo0.mid").write_bytes(TEMPO_ZERO)
    real_encode = codec.encode

    def encode_fails_on_the_second_piece(score, *args):
        if score.n_notes == 31:
            raise ZeroDivisionError("float division by zero")
        return real_encode(score, *args)

    monkeypatch.setattr(codec, "encode", encode_fails_on_the_second_piece)
    report = build_dataset(raw, tmp_path / "ds", jobs=1, progress=False)
    with open(tmp_path / "ds" / "rejected.csv", newline="") as f:
        rejected = {row["path"]: row for row in csv.DictReader(f)}
    assert sorted(e["path"] for e in report.kept) == ["jazz/0.mid", "jazz/2.mid"]
    assert rejected["jazz/1.mid"]["category"] == "internal error"
    assert "ZeroDivisionError" in rejected["jazz/1.mid"]["reason"] and "please report" in rejected["jazz/1.mid"]["reason"]
    assert rejected["jazz/tempo0.mid"]["category"] == "unreadable"
    assert "tempo event of 0 microseconds" in rejected["jazz/tempo0.mid"]["reason"]
    monkeypatch.setattr(codec, "encode", real_encode)
    again = build_dataset(raw, tmp_path / "ds", jobs=1, progress=False)
    assert sorted(e["path"] for e in load_manifest(tmp_path / "ds")) == ["jazz/0.mid", "jazz/1.mid", "jazz/2.mid"]
    assert again.reused == 3  # the two kept pieces and the bad file's rejection; the bug's victim ran again


@needs_real_data
def test_a_real_subset_builds_with_its_splits_and_known_rejections(tmp_path):
    rows = real_data_rows()
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
            link.symlink_to(REAL_DATA / r["path"])
    out = tmp_path / "ds"
    report = build_dataset(raw, out, REAL_DATA / "splits.csv", jobs=2, progress=False)
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


# ------------------------------------------------------------------------------------------ ASAP and beats


def test_asap_performances_join_as_one_genre_read_on_their_beats_split_by_work(tmp_path, raw_tree):
    asap = asap_tree(tmp_path / "asap")
    out = tmp_path / "ds"
    options = BuildOptions(asap=str(asap), asap_genre="concert")
    report = build_dataset(raw_tree, out, None, options, jobs=1, progress=False)
    concert = [e for e in load_manifest(out) if e["genre"] == "concert"]
    assert len(concert) == 12 * 3 - 1 and all(e["beats"] for e in concert)
    assert {e["genre"] for e in load_manifest(out)} == {"classical", "concert", "jazz", "pop"}
    broken = [r for r in report.rejected if r["category"] == "beats"]
    assert [r["path"] for r in broken] == ["asap/Composer0/Work 0/Take1.mid"]
    assert broken[0]["reason"].startswith("Take1_annotations.txt: line 1: expected a time in seconds")
    by_work = {}
    for e in concert:
        by_work.setdefault(e["piece"], set()).add(e["split"])
    assert all(len(sides) == 1 for sides in by_work.values())  # a work never straddles the split
    assert {s for sides in by_work.values() for s in sides} <= {"train", "test"}
    # on its beats: 2/4, the first downbeat on a bar line, a note every half beat = every 2 steps
    entry = next(e for e in concert if e["path"] == "asap/Composer1/Work 1/Take0.mid")
    score, _ = load_piece(out, entry)
    onsets = np.flatnonzero(score[:, 0::2].any(axis=1))
    assert np.all(np.diff(onsets) == 2) and entry["meters"] == ["2/4"]


def test_work_split_is_seeded_stable_and_about_a_tenth():
    from stylenet.data.splits import work_split

    works = [f"Composer/Work {i}" for i in range(2000)]
    sides = [work_split(w) for w in works]
    assert 0.08 < sides.count("test") / len(works) < 0.12
    assert sides == [work_split(w) for w in works]
    assert sides != [work_split(w, seed=1) for w in works]


def test_beats_option_reads_every_file_on_the_annotation_beside_it(tmp_path):
    raw = tmp_path / "raw"
    times = rubato_beats(12)
    rng = np.random.default_rng(0)
    recording(raw / "classical" / "take.mid", times, np.arange(0, 11, 0.25), velocities=rng.integers(20, 110, 44))
    (raw / "classical" / "take_annotations.txt").write_text(annotation_text(times, ["db"] + ["b"] * 11))
    recording(raw / "classical" / "bare.mid", times, np.arange(0, 11, 0.25), velocities=rng.integers(20, 110, 44))
    report = build_dataset(raw, tmp_path / "ds", None, BuildOptions(beats=True), jobs=1, progress=False)
    assert [e["path"] for e in report.kept] == ["classical/take.mid"]
    assert report.rejected[0]["category"] == "beats" and "cannot read beat annotations" in report.rejected[0]["reason"]
    score, _ = load_piece(tmp_path / "ds", report.kept[0])
    assert np.all(np.diff(np.flatnonzero(score[:, 0::2].any(axis=1))) == 1)


def test_an_asap_work_that_is_also_a_raw_test_piece_is_tested_never_learned(tmp_path):
    from stylenet.data.splits import work_split

    raw = tmp_path / "raw"
    work = next(f"Composer0/Work {i}" for i in range(100) if work_split(f"Composer0/Work {i}") == "train")
    shared_score = expressive_song(80, seed=11)
    write_song(raw / "classical" / "same.mid", shared_score)
    write_song(raw / "classical" / "other.mid", expressive_song(80, seed=12))
    splits = tmp_path / "splits.csv"
    splits.write_text("path,genre,piece,split\nraw/classical/same.mid,classical,Same,test\n"
                      "raw/classical/other.mid,classical,Other,train\n")
    asap = asap_tree(tmp_path / "asap", works=2, takes=2, folders=[work, "Composer1/Work 1"])
    write_song(asap / work / "midi_score.mid", shared_score)
    report = build_dataset(raw, tmp_path / "ds", splits, BuildOptions(asap=str(asap)), jobs=1, progress=False)
    assert report.same_work == {f"asap/{work}": "classical/same.mid"}
    takes = [e for e in report.kept if e["piece"] == f"asap/{work}"]
    assert takes and all(e["split"] == "test" and e["same_work"] == "classical/same.mid" for e in takes)
    other = [e for e in report.kept if e["piece"] == "asap/Composer1/Work 1"]
    assert other and all("same_work" not in e for e in other)


def test_pitch_patterns_tell_one_work_from_another(tmp_path):
    from stylenet.data.build import pitch_patterns, same_work_share

    def patterns(song):
        path = write_song(tmp_path / "song.mid", song)
        return pitch_patterns(codec.encode(codec.quantise(midifile.load_midi(path)))[0])

    a, b = expressive_song(80, seed=1), expressive_song(80, seed=2)
    louder = Song([N(n.pitch, n.on, n.off, min(127, n.velocity + 20)) for n in a.notes])
    assert same_work_share(patterns(a), patterns(louder)) == 1.0
    assert same_work_share(patterns(a), patterns(b)) < 0.05
