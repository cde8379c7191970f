"""expression.data: the aligned pairs build-expression writes, read back."""

import pickle

import pytest

from stylenet.cli.main import main as stylenet
from stylenet.core.errors import StyleNetError
from stylenet.expression.data import load_rows


@pytest.mark.parametrize("content, says", [
    (b"", "empty or damaged (EOFError)"),
    (b"\x80\x05not a pickle at all", "empty or damaged"),
    (pickle.dumps({"rows": []}), "not a list of aligned performances"),
])
def test_a_split_that_cannot_be_read_is_named_in_one_line(tmp_path, content, says):
    (tmp_path / "validation.pkl").write_bytes(content)
    with pytest.raises(StyleNetError) as caught:
        load_rows(tmp_path, "validation")
    assert str(tmp_path / "validation.pkl") in str(caught.value) and says in str(caught.value)
    assert caught.value.exit_code == 2
    with pytest.raises(StyleNetError, match="no such file"):
        load_rows(tmp_path, "test")


def test_evaluate_expression_of_a_damaged_split_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "validation.pkl").write_bytes(b"")
    assert stylenet(["evaluate-expression", "--data", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "validation.pkl: cannot read it" in err and "Traceback" not in err
    assert (tmp_path / "validation.pkl").read_bytes() == b""  # left as it was
