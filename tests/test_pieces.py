"""Training pieces: the validation hold-out."""

from stylenet.pieces import split_validation


def test_validation_pieces_are_held_out_by_piece():
    entries = [{"path": f"{i}-{v}", "piece": f"tune{i}"} for i in range(20) for v in range(2)]
    train_part, val = split_validation(entries, 0.05, seed=0)
    assert len(val) == 2 and val[0]["piece"] == val[1]["piece"]
    assert not {e["piece"] for e in val} & {e["piece"] for e in train_part}
