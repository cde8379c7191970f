"""Training pieces: the validation hold-out."""

from stylenet.data.splits import split_validation


def test_validation_pieces_are_held_out_by_piece():
    entries = [{"path": f"{i}-{v}", "piece": f"tune{i}"} for i in range(20) for v in range(2)]
    train_part, val = split_validation(entries, 0.05, seed=0)
    assert len(val) == 2 and val[0]["piece"] == val[1]["piece"]
    assert not {e["piece"] for e in val} & {e["piece"] for e in train_part}


def test_adding_asap_to_a_genre_leaves_its_validation_pieces_as_they_were():
    raw = [{"path": f"{i}.mid", "piece": f"tune{i}"} for i in range(60)]
    asap = [{"path": f"asap/w{i}/p{v}.mid", "piece": f"asap/w{i}"} for i in range(40) for v in range(3)]
    _, raw_alone = split_validation(raw, 0.05, seed=0)
    _, asap_alone = split_validation(asap, 0.05, seed=0)
    _, both = split_validation(raw + asap, 0.05, seed=0)
    assert both == raw_alone + asap_alone and len(raw_alone) == 3 and len(asap_alone) == 2 * 3


def test_a_validation_seed_gives_runs_of_different_seeds_the_same_validation_pieces():
    from stylenet.data.splits import split_genre
    from stylenet.velocity.config import DataConfig

    entries = [{"path": f"{i}.mid", "piece": f"tune{i}"} for i in range(100)]
    by_seed = {seed: split_genre(entries, DataConfig(validation_fraction=0.1), seed)[1] for seed in (0, 1)}
    assert by_seed[0] != by_seed[1]  # the training seed chooses them by default
    pinned = DataConfig(validation_fraction=0.1, validation_seed=0)
    assert split_genre(entries, pinned, 1)[1] == split_genre(entries, pinned, 0)[1] == by_seed[0]


def test_asap_entries_keep_a_validation_work_out_of_train_under_any_folder(tmp_path):
    import json

    from stylenet.data.splits import asap_work
    from stylenet.velocity.pieces import asap_entries

    rows = [{"path": f"asap/Bach/Fugue/{w}{variant}/take{t}.mid", "piece": f"asap/Bach/Fugue/{w}{variant}",
             "genre": "concert", "split": "test" if w >= 40 else "train"}
            for w in range(43) for variant in ("", "_no_repeat") for t in range(2)]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, validation, test = asap_entries(tmp_path, {"data": {"validation_fraction": 0.1}})
    works = [{asap_work(e["path"].removeprefix("asap/")) for e in part} for part in (train, validation, test)]
    assert validation and not works[0] & works[1] and not works[0] & works[2] and not works[1] & works[2]
    assert len(works[2]) == 3 and len(train) + len(validation) + len(test) < len(rows)  # variants were dropped


def test_a_held_out_asap_works_other_folders_are_not_trained_on():
    from stylenet.data.splits import asap_work

    entries = [{"path": f"asap/Bach/Fugue/{w}{variant}/take.mid", "piece": f"asap/Bach/Fugue/{w}{variant}"}
               for w in range(40) for variant in ("", "_no_repeat")]
    train_part, val = split_validation(entries, 0.1, seed=0)
    held = {asap_work(e["piece"].removeprefix("asap/")) for e in val}
    assert val and not held & {asap_work(e["piece"].removeprefix("asap/")) for e in train_part}
    # the other folders leave training without joining validation: a run's validation pieces stay as drawn
    assert len({e["piece"] for e in val}) == 8 and len(train_part) + len(val) < len(entries)
