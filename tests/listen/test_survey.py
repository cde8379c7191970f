import json
import os
import re
import sqlite3
import struct
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from stylenet.cli.main import main
from stylenet.listen.clips import CHORD_GAP, Notes, Window, attack_boundaries, choose_window, cut
from stylenet.listen.survey.build import KEY_FORMAT
from stylenet.listen.survey.score import binomial_p
from stylenet.listen.survey.serve import make_server, page_data, store
from tests.helpers import N, Song, headless_chrome, random_performer, write_song

GENRES = ("classical", "jazz", "pop")
PIECE_NAMES = {"classical": ["Zanzibarnocturne", "Quixoticetude", "Marbleprelude"],
               "jazz": ["Blueplumstomp", "Velvetwaltz", "Copperbossa"], "pop": ["Neonharbour", "Glasslantern", "Paperkites"]}


def long_song(seed: int, seconds: float = 24.0) -> Song:
    """Chords, a melody and the sustain pedal, ~`seconds` long at 120 qpm, many velocities."""
    rng = np.random.default_rng(seed)
    notes, tick, controls = [], 0, []
    while tick < seconds * 960:
        for k in range(3):
            notes.append(N(48 + k * 4 + int(rng.integers(0, 5)), tick + 10 * k, tick + 900,
                           int(rng.integers(20, 120))))
        for j in range(4):
            on = tick + j * 240
            notes.append(N(int(rng.integers(64, 84)), on, on + 220, int(rng.integers(20, 120))))
        controls += [(tick, 0, 64, 127), (tick + 900, 0, 64, 0)]
        tick += 960
    return Song(notes, controls=controls)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A built dataset's layout (manifest + human piano parts), three test pieces and one train piece a genre."""
    root = tmp_path_factory.mktemp("dataset")
    lines, seed = [], 0
    for genre in GENRES:
        for i, name in enumerate(PIECE_NAMES[genre] + [f"Trainonly{genre}"]):
            midi = f"midi/{genre}/{name}-0a1b2c3d.mid"
            write_song(root / midi, long_song(seed), fmt=0)
            seed += 1
            lines.append(json.dumps({"path": f"{genre}/{name}.mid", "genre": genre, "piece": name,
                                     "split": "train" if i == 3 else "test", "midi": midi}))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return random_performer(GENRES).save(tmp_path_factory.mktemp("model") / "m.npz")


def build_ab(dataset, model_file, out, seed=1, pairs=2, extra=()):
    code = main(["survey", "build", str(dataset), "-o", str(out), "--pairs", str(pairs), "--baselines", "random",
                 "flat", "--model", str(model_file), "--seconds", "4", "--seed", str(seed), "-q", *extra])
    assert code == 0
    return json.loads(Path(f"{out}.key.json").read_text())


# ------------------------------------------------------------------------------------------ clip cutting

def notes_of(rows, controls=()) -> Notes:
    """rows: (pitch, start, end, velocity)"""
    pitch, start, end, velocity = zip(*rows)
    return Notes(pitch, start, end, velocity, list(controls))


def test_clips_hold_the_notes_struck_inside_the_window_from_their_attack():
    rows = []
    for i in range(120):  # a melody in eighths over rolled three-note chords every bar, legato overlaps
        t = i * 0.25
        rows.append((70 + i % 7, t, t + 0.3, 60))
        if i % 8 == 0:
            rows += [(48 + k * 4, t + 0.012 * k, t + 1.9, 50) for k in range(3)]
    rows.append((40, 12.1, 19.0, 70))  # a long note held across several onsets
    notes = notes_of(rows, [(0.0, 64, 127), (5.0, 64, 0), (9.5, 64, 100), (14.0, 64, 0)])
    bounds = attack_boundaries(notes.start)
    for seed in range(40):
        window = choose_window(notes, 10.0, np.random.default_rng(seed))
        assert np.isclose(bounds, window.start).any()
        assert np.isclose(bounds, window.end).any() or window.end == notes.end.max()  # next attack, or the end
        assert window.seconds >= 10.0 - 1e-9
        clip = cut(notes, window)
        inside = (notes.start >= window.start) & (notes.start < window.end)
        assert len(clip) == int(inside.sum())  # every note struck inside, nothing else
        assert np.allclose(np.sort(clip.start + window.start), np.sort(notes.start[inside]))
        assert clip.start.min() == pytest.approx(0.0) and clip.end.max() <= window.seconds + 1e-9
        # no attack is cut: the window never opens inside a rolled chord
        assert not np.any((notes.start < window.start) & (notes.start > window.start - CHORD_GAP))
        # prefers a clean start: no earlier note still held (the long note and the chords allow some)
        assert not np.any((notes.start < window.start) & (notes.end > window.start + 0.1))


def test_the_pedal_starts_as_it_was_and_is_lifted_at_the_end():
    notes = notes_of([(60, t, t + 0.4, 64) for t in np.arange(0, 30, 0.5)],
                     [(0.0, 64, 127), (3.2, 64, 0), (3.3, 64, 127), (20.0, 64, 0)])
    clip = cut(notes, Window(5.0, 15.0))
    assert clip.controls[0] == (0.0, 64, 127)  # down since 3.3 s
    assert clip.controls[-1] == (10.0, 64, 0)
    assert all(0.0 <= t <= 10.0 for t, _, _ in clip.controls)


def test_notes_held_past_the_window_are_released_at_its_end():
    notes = notes_of([(60, 0.0, 0.5, 64), (62, 1.0, 9.0, 64), (64, 4.0, 4.5, 64), (65, 6.0, 6.5, 64)])
    clip = cut(notes, Window(1.0, 6.0))
    assert clip.pitch.tolist() == [62, 64]
    assert clip.end.tolist() == [5.0, 3.5]


def test_a_piece_shorter_than_the_excerpt_is_played_whole():
    notes = notes_of([(60, 0.5, 1.0, 64), (64, 1.0, 3.0, 64)])
    window = choose_window(notes, 10.0, np.random.default_rng(0))
    assert window == Window(0.5, 3.0)
    assert len(cut(notes, window)) == 2


# ------------------------------------------------------------------------------------------ build and blinding

def forbidden_words(key, folder_sources=()) -> set[str]:
    words = {"stylenet", "random", "flat", *folder_sources}
    for item in key["items"]:
        words |= {item["piece"], Path(item["file"]).stem}
    return {w.lower() for w in words}


def riff_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    chunks, position = [], 12
    while position + 8 <= len(data):
        tag, size = data[position:position + 4], struct.unpack("<L", data[position + 4:position + 8])[0]
        chunks.append(tag)
        position += 8 + size + (size & 1)
    return chunks


def test_ab_survey_folder_tells_no_answer(tmp_path, dataset, model_file):
    out = tmp_path / "survey" / "ab"
    key = build_ab(dataset, model_file, out, pairs=3)
    key_path = tmp_path / "survey" / "ab.key.json"
    assert key["format"] == KEY_FORMAT and key_path.is_file() and out not in key_path.parents
    assert sorted(i["source"] for i in key["items"]) == ["flat"] * 3 + ["random"] * 3 + ["stylenet"] * 3
    assert {i["human"] for i in key["items"]} == {"a", "b"}
    assert not any(i["piece"].startswith("Trainonly") for i in key["items"])  # the test split only
    assert {i["genre"] for i in key["items"] if i["source"] == "stylenet"} == set(GENRES)  # every genre heard
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.relative_to(out).parts[0] for p in files} == {"index.html", "audio"}
    words = forbidden_words(key)
    page = (out / "index.html").read_text().lower()
    for path in files:  # read every file of the folder: no source, piece or source-file name anywhere
        name = str(path.relative_to(out)).lower()
        content = path.read_bytes().lower()
        for word in words:
            assert word not in name, (path, word)
            if path.suffix == ".html" or len(word) >= 6:
                assert word.encode() not in content, (path, word)
        if path.suffix == ".wav":
            assert riff_chunks(path.read_bytes()) == [b"fmt ", b"data"]  # no metadata chunk at all
            assert re.fullmatch(r"[0-9a-f]{10}\.wav", path.name)
    for genre in GENRES:
        assert genre not in page
    assert len({p.stat().st_mtime for p in files}) == 1  # one time for all: writing order tells nothing
    data = page_data(out)
    assert [i["id"] for i in data["items"]] == [i["id"] for i in key["items"]]
    for item, shown in zip(key["items"], data["items"]):
        assert shown == {"id": item["id"], "clips": item["clips"]}  # nothing but the audio
        a, b = (out / c for c in item["clips"])
        assert a.stat().st_size == b.stat().st_size  # the two versions of a pair last exactly as long


def test_the_page_is_the_same_whatever_the_answers(tmp_path, dataset, model_file):
    """Two surveys built with other seeds have other answers, and pages that differ only in the random
    file names and survey id: the page cannot carry the answer."""
    keys, pages = [], []
    for seed in (1, 2):
        out = tmp_path / f"s{seed}"
        keys.append(build_ab(dataset, model_file, out, seed=seed, pairs=3))
        page = (out / "index.html").read_text()
        page = page.replace(keys[-1]["survey"], "SURVEY")
        tokens = list(dict.fromkeys(re.findall(r"audio/[0-9a-f]{10}\.wav", page)))
        for i, token in enumerate(tokens):
            page = page.replace(token, f"audio/CLIP{i}.wav")
        pages.append(page)
    answers = [[(i["source"], i["human"]) for i in key["items"]] for key in keys]
    assert answers[0] != answers[1]
    assert pages[0] == pages[1]


def test_rating_survey_takes_any_folder_as_a_source(tmp_path, dataset, model_file, capsys):
    comps = tmp_path / "compositions"
    for i in range(3):
        write_song(comps / f"Ownpiecenumber{i}.mid", long_song(100 + i, 8))
    out = tmp_path / "rating"
    assert main(["survey", "build", str(dataset), "-o", str(out), "--design", "rating", "--items", "2",
                 "--sources", "human", "stylenet", "flat", f"generated={comps}", "--model", str(model_file),
                 "--seconds", "4", "-q", "--format", "opus"]) == 0
    key = json.loads((tmp_path / "rating.key.json").read_text())
    assert sorted(i["source"] for i in key["items"]) == sorted(["human", "stylenet", "flat", "generated"] * 2)
    assert len({i["piece"] for i in key["items"]}) == 8  # no piece heard twice
    words = forbidden_words(key, ["generated", "compositions"])
    for path in (p for p in out.rglob("*") if p.is_file()):
        content = path.read_bytes().lower()
        for word in words:
            assert word not in str(path.relative_to(out)).lower()
            if path.suffix == ".html" or len(word) >= 6:
                assert word.encode() not in content, (path, word)
        if path.suffix == ".opus":
            assert content.startswith(b"oggs")
    assert "8 clips" in capsys.readouterr().out


def test_build_refuses_to_clobber_or_to_put_the_key_inside(tmp_path, dataset, model_file, capsys):
    out = tmp_path / "ab"
    build_ab(dataset, model_file, out, pairs=1)
    assert main(["survey", "build", str(dataset), "-o", str(out), "--model", str(model_file), "-q"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["survey", "build", str(dataset), "-o", str(tmp_path / "x"), "--key", str(tmp_path / "x" / "k.json"),
                 "--model", str(model_file), "-q"]) == 2
    assert "must not be inside the survey folder" in capsys.readouterr().err
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    assert main(["survey", "build", str(dataset), "-o", str(other), "--force", "--model", str(model_file),
                 "-q"]) == 2
    assert "not a survey folder" in capsys.readouterr().err and (other / "mine.txt").exists()
    assert main(["survey", "build", str(tmp_path), "-o", str(tmp_path / "y"), "--model", str(model_file)]) == 2
    assert "not a built dataset" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*building*"))


# ------------------------------------------------------------------------------------------ scoring

def test_binomial_p_values_match_hand_computed_ones():
    assert binomial_p(2, 10) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert binomial_p(8, 10) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert binomial_p(0, 10) == pytest.approx(2 / 1024)
    assert binomial_p(5, 10) == pytest.approx(1.0)
    assert binomial_p(1, 5) == pytest.approx(2 * (1 + 5) / 32)
    assert binomial_p(3, 7) == pytest.approx(1.0)
    assert binomial_p(0, 0) is None


def ab_key():
    humans = ["a", "b", "a", "b", "a", "a"]
    items = [{"id": str(i + 1), "clips": [f"audio/{i}a.wav", f"audio/{i}b.wav"],
              "source": "stylenet" if i < 5 else "flat", "human": h, "piece": f"p{i}", "genre": "jazz",
              "file": f"jazz/p{i}.mid", "start": 1.0, "end": 11.0} for i, h in enumerate(humans)]
    return {"format": KEY_FORMAT, "survey": "s1", "design": "ab", "title": "T",
            "sources": [{"name": n} for n in ("human", "stylenet", "flat")], "items": items}


def answers_file(path, survey, respondent, answers) -> Path:
    path.write_text(json.dumps({"format": "survey-answers/1", "survey": survey, "respondent": respondent,
                                "answers": answers}))
    return path


def test_ab_scores_per_source_pair_and_respondent(tmp_path, capsys):
    key = tmp_path / "t.key.json"
    key.write_text(json.dumps(ab_key()))
    r1 = answers_file(tmp_path / "r1.json", "s1", "ann", {"1": "b", "2": "a", "3": "b", "4": "a", "5": "a", "6": "a"})
    db = tmp_path / "t.answers.sqlite"
    store(db, "s1", {"respondent": "bo", "answered": "", "answers": {"1": "a", "2": "a", "3": "b", "4": "a",
                                                                      "5": "b", "6": "a"}})
    store(db, "other", {"respondent": "x", "answered": "", "answers": {"1": "a"}})  # another survey: left out
    assert main(["survey", "score", str(key), str(r1), str(db)]) == 0
    result = json.loads((tmp_path / "t.score" / "score.json").read_text())
    stylenet = result["per_source"]["stylenet"]
    assert (stylenet["judgments"], stylenet["correct"], stylenet["share"]) == (10, 2, 0.2)
    assert stylenet["p"] == pytest.approx(112 / 1024)
    flat = result["per_source"]["flat"]
    assert (flat["judgments"], flat["correct"], flat["p"]) == (2, 2, pytest.approx(0.5))
    pairs = {row["id"]: row for row in result["per_pair"]}
    assert (pairs["1"]["correct"], pairs["1"]["p"]) == (1, pytest.approx(1.0))
    assert (pairs["2"]["correct"], pairs["2"]["p"]) == (0, pytest.approx(0.5))
    ann = next(r for r in result["per_respondent"] if r["respondent"] == "ann" and r["source"] == "stylenet")
    assert (ann["judgments"], ann["correct"], ann["p"]) == (5, 1, pytest.approx(12 / 32))
    assert result["respondents"] == 2
    md = (tmp_path / "t.score" / "score.md").read_text()
    assert "| stylenet | 5 | 10 | 2 | 20.0 % | 0.109 |" in md
    assert md in capsys.readouterr().out


def test_rating_scores_mean_variance_and_share_natural(tmp_path, capsys):
    items = [{"id": str(i), "clips": [f"audio/{i}.wav"], "source": s, "piece": f"p{i}", "genre": None,
              "file": f"p{i}.mid", "start": 0.0, "end": 10.0}
             for i, s in zip(range(1, 5), ["human", "human", "stylenet", "stylenet"])]
    key = tmp_path / "r.key.json"
    key.write_text(json.dumps({"format": KEY_FORMAT, "survey": "s2", "design": "rating", "items": items,
                               "sources": [{"name": "human"}, {"name": "stylenet"}]}))
    f1 = answers_file(tmp_path / "a1.json", "s2", "r1", {"1": 1, "2": 2, "3": 4, "4": 5})
    f2 = answers_file(tmp_path / "a2.json", "s2", "r2", {"1": 2, "2": 5, "3": 3, "4": 5})
    again = answers_file(tmp_path / "a1-again.json", "s2", "r1", {"1": 1, "2": 2, "3": 4, "4": 5})
    f3 = answers_file(tmp_path / "a3.json", "s2", "r3", {"1": 1})
    wrong = answers_file(tmp_path / "zz.json", "elsewhere", "r9", {"1": 3})
    assert main(["survey", "score", str(key), str(f1), str(f2), str(again), str(f3), str(wrong)]) == 1
    captured = capsys.readouterr()
    assert "skipped:" in captured.err and "zz.json" in captured.err
    result = json.loads((tmp_path / "r.score" / "score.json").read_text())
    human, model = result["per_source"]["human"], result["per_source"]["stylenet"]
    # human: 1, 2, 2, 5, 1 -> mean 2.2, sample variance 10.8 / 4, rated 1-2: 4 of 5
    assert (human["ratings"], human["mean"], human["variance"], human["natural"]) == (
        5, pytest.approx(2.2), pytest.approx(2.7), pytest.approx(0.8))
    # stylenet: 4, 3, 5, 5 -> mean 4.25, sample variance 2.75 / 3, none rated 1-2
    assert (model["ratings"], model["mean"], model["variance"], model["natural"]) == (
        4, pytest.approx(4.25), pytest.approx(2.75 / 3), 0.0)
    assert human["counts"] == {"1": 2, "2": 2, "3": 0, "4": 0, "5": 1}
    assert result["duplicates_dropped"] == 1
    assert (tmp_path / "r.score" / "ratings.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| human | 2 | 5 | 2.20 | 2.70 | 80.0 % | 2 | 2 | 0 | 0 | 1 |" in (tmp_path / "r.score" / "score.md").read_text()


# ------------------------------------------------------------------------------------------ serve

@pytest.fixture()
def served(tmp_path, dataset, model_file):
    out = tmp_path / "ab"
    key = build_ab(dataset, model_file, out, pairs=1)
    server = make_server(out, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server, key
    server.shutdown()
    server.server_close()


def post(url, payload):
    request = urllib.request.Request(f"{url}/answers", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get_status(url) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_serve_stores_every_submission_and_never_overwrites_one(served):
    url, server, key = served
    assert get_status(url + "/") == 200 and get_status(url + "/" + key["items"][0]["clips"][0]) == 200
    assert get_status(url + "/audio/") == 404  # no listings
    assert get_status(url + "/../ab.key.json") == 404
    answers = {item["id"]: "a" for item in key["items"]}
    submission = {"format": "survey-answers/1", "survey": key["survey"], "respondent": "ann", "answers": answers}
    assert post(url, submission) == (201, {"stored": 1})
    assert post(url, submission) == (201, {"stored": 2})  # sent twice: two rows, the first untouched
    status, reply = post(url, {**submission, "survey": "nope"})
    assert status == 400 and "not to this survey" in reply["error"]
    status, reply = post(url, {**submission, "answers": {"1": "c"}})
    assert status == 400
    with sqlite3.connect(server.db) as connection:
        rows = connection.execute("SELECT id, respondent, answers FROM submissions").fetchall()
        assert [(r[0], r[1], json.loads(r[2])["answers"]) for r in rows] == [(1, "ann", answers), (2, "ann", answers)]
        with pytest.raises(sqlite3.DatabaseError, match="never changed"):
            connection.execute("UPDATE submissions SET respondent = 'x'")
        with pytest.raises(sqlite3.DatabaseError, match="never deleted"):
            connection.execute("DELETE FROM submissions")
    assert server.folder.resolve() not in server.db.resolve().parents  # the answers are not served


# ------------------------------------------------------------------------------------------ a real browser

def test_a_real_browser_answers_every_item_and_the_database_holds_them(served, tmp_path):
    driver = headless_chrome(tmp_path, "--window-size=1000,1100")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, server, key = served
    try:
        driver.get(url + "/")
        assert driver.find_element(By.ID, "send").get_attribute("disabled")  # nothing answered yet
        driver.find_element(By.ID, "respondent").send_keys("Selenium")
        clicked = {}
        for i, item in enumerate(key["items"]):  # plays nothing; answers every item
            value = "ab"[i % 2]
            driver.find_element(By.CSS_SELECTOR, f'input[name="item-{item["id"]}"][value="{value}"]').click()
            clicked[item["id"]] = value
        durations = driver.execute_script(
            "return Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(done => {"
            "a.preload = 'metadata'; a.onloadedmetadata = () => done(a.duration); a.onerror = () => done(-1);"
            "a.load(); })));")
        assert all(d > 3 for d in durations), durations  # the browser can decode every clip
        if os.environ.get("STYLENET_SURVEY_SCREENSHOT"):
            driver.save_screenshot(os.environ["STYLENET_SURVEY_SCREENSHOT"])
        driver.find_element(By.ID, "send").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-stored"))
        assert "Thank you" in driver.find_element(By.ID, "status").text
    finally:
        driver.quit()
    with sqlite3.connect(server.db) as connection:
        rows = connection.execute("SELECT survey, respondent, answers FROM submissions").fetchall()
    assert len(rows) == 1
    survey, respondent, answers = rows[0]
    assert (survey, respondent, json.loads(answers)["answers"]) == (key["survey"], "Selenium", clicked)


def test_survey_build_with_a_model_file_never_imports_tensorflow(tmp_path, dataset, model_file):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    args = ["survey", "build", str(dataset), "-o", str(tmp_path / "s"), "--pairs", "1", "--model", str(model_file),
            "--seconds", "3", "-q"]
    code = (f"import sys; from stylenet.cli.main import main; rc = main({args!r}); "
            "print('RC', rc, 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert "RC 0 False" in result.stdout, result.stderr


def test_ab_pairs_any_two_folders_by_name(tmp_path, capsys):
    """`--pair performed=DIR score=DIR`: the paper's A/B test on one's own files, e.g. a score rendered as is
    against perform's output of it (named <name>.<genre>.mid); the first folder plays the human."""
    scores, performed = tmp_path / "scores", tmp_path / "performed"
    for i in range(3):
        song = long_song(200 + i, 8)
        write_song(scores / f"Tune{i}.mid", song)
        moved = Song([N(n.pitch, n.on + 17 * (k % 3), n.off + 17 * (k % 3), 30 + (7 * k) % 90)
                      for k, n in enumerate(song.notes)])
        write_song(performed / f"Tune{i}.jazz.mid", moved)
    write_song(scores / "Orphan.mid", long_song(300, 8))  # no partner: never asked about
    out = tmp_path / "ab"
    assert main(["survey", "build", "-o", str(out), "--pair", f"performed={performed}", f"score={scores}",
                 "--items", "3", "--seconds", "3", "-q"]) == 0
    key = json.loads((tmp_path / "ab.key.json").read_text())
    assert [i["source"] for i in key["items"]] == ["score"] * 3
    assert sorted(i["piece"] for i in key["items"]) == ["Tune0", "Tune1", "Tune2"]
    assert all(i["human"] in ("a", "b") for i in key["items"])
    assert len(list((out / "audio").iterdir())) == 6
    assert "3 pairs (3 performed vs score)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["survey", "build", "-o", str(tmp_path / "x"), "--pair", f"performed={performed}"])
    assert main(["survey", "build", "-o", str(tmp_path / "y"), "--pair", f"a={performed}", f"b={tmp_path}"]) == 2
