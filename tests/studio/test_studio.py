"""`stylenet studio`: the jobs, the JSON interface, the server on loopback, and the page in a real browser."""

import base64
import io
import json
import threading
import time
import wave

import numpy as np
import pretty_midi
import pytest

from stylenet.studio import jobs
from stylenet.studio.app import make_app, make_server
from stylenet.studio.jobs import Controls, Studio
from tests.helpers import N, Song, headless_chrome, http, multipart, write_song

GENRES = ("classical", "jazz", "pop", "concert")


def score(seconds: float = 6.0, seed: int = 0) -> Song:
    """A flat score: chords on the beat and a melody in eighths at 120 qpm, every velocity 80."""
    rng = np.random.default_rng(seed)
    notes, tick = [], 0
    while tick < seconds * 960:
        notes += [N(48 + k * 4, tick, tick + 900, 80) for k in range(3)]
        notes += [N(int(rng.integers(64, 80)), tick + j * 240, tick + j * 240 + 230, 80) for j in range(4)]
        tick += 960
    return Song(notes)


def midi_bytes(tmp_path, song: Song, name: str = "score.mid") -> bytes:
    return write_song(tmp_path / name, song).read_bytes()


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    studio = Studio(folder=tmp_path_factory.mktemp("studio"))
    yield studio
    studio.close()


@pytest.fixture(scope="module")
def client(studio):
    from werkzeug.test import Client

    return Client(make_app(studio))


def upload(client, data: bytes, name: str = "score.mid", **controls):
    return client.post("/api/jobs", data={"file": (io.BytesIO(data), name), "genre": "jazz", **controls})


def finished(client, job_id: str, seconds: float = 60.0) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['state']} after {seconds} s")


def loudness(wav: bytes) -> float:
    import pyloudnorm

    with wave.open(io.BytesIO(wav)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, w.getnchannels())
        return pyloudnorm.Meter(w.getframerate()).integrated_loudness(frames / 32768.0)


# -- the controls -----------------------------------------------------------------------------------------

def test_controls_from_the_form_take_the_defaults_of_perform_and_name_a_bad_field():
    assert Controls.from_form({"genre": "Jazz"}, GENRES) == Controls("jazz")
    controls = Controls.from_form({"genre": "pop", "strength": "0.5", "level": "mf", "timing": "off",
                                   "articulation": "0.25", "pedal": "ADD", "timing_as": "tempo"}, GENRES)
    assert controls == Controls("pop", 0.5, "mf", 0.0, 0.25, "add", "tempo")
    for form, field in (({"genre": "rock"}, "genre"), ({"genre": "pop", "strength": "1.5"}, "strength"),
                        ({"genre": "pop", "timing": "lots"}, "timing"), ({"genre": "pop", "pedal": "half"}, "pedal"),
                        ({"genre": "pop", "timing_as": "bars"}, "timing_as"), ({"genre": "pop", "level": "200"}, "level")):
        with pytest.raises(ValueError, match=field):
            Controls.from_form(form, GENRES)


# -- a file through the studio ----------------------------------------------------------------------------

def test_a_score_comes_back_performed_with_both_audios_loudness_matched(client, tmp_path):
    data = midi_bytes(tmp_path, score())
    answer = upload(client, data, "My Song.mid")
    assert answer.status_code == 202 and answer.json["state"] in ("waiting", "working")
    job = finished(client, answer.json["id"])
    assert job["state"] == "done", job["error"]
    assert job["files"] == {"midi": "My_Song.jazz.mid", "after": "My_Song.jazz.wav", "before": "My_Song.as-written.wav"}
    assert job["summary"].startswith(f"{len(pretty_midi.PrettyMIDI(io.BytesIO(data)).instruments[0].notes)} notes; "
                                     "velocity 80±0 -> ")  # perform's own line

    performed = client.get(f"/api/jobs/{job['id']}/midi?download")
    assert performed.status_code == 200
    assert performed.headers["Content-Disposition"] == "attachment; filename=My_Song.jazz.mid"
    source = pretty_midi.PrettyMIDI(io.BytesIO(data)).instruments[0].notes
    played = pretty_midi.PrettyMIDI(io.BytesIO(performed.data)).instruments[0].notes
    assert sorted(n.pitch for n in played) == sorted(n.pitch for n in source)  # every note once
    assert len({n.velocity for n in played}) > 3  # no longer flat
    assert job["notes"]["after"]["start"] == sorted(job["notes"]["after"]["start"])  # the roll in time order
    assert len(job["notes"]["before"]["pitch"]) == len(job["notes"]["after"]["pitch"]) == len(source)
    assert set(job["notes"]["before"]["velocity"]) == {80}

    before = client.get(f"/api/jobs/{job['id']}/before").data
    after = client.get(f"/api/jobs/{job['id']}/after").data
    assert before[:4] == after[:4] == b"RIFF"
    assert abs(loudness(before) - loudness(after)) < 0.5  # both at the studio's common loudness
    assert abs(loudness(after) + 16.0) < 1.0


def test_the_studio_plays_what_perform_plays(client, tmp_path):
    import stylenet

    data = midi_bytes(tmp_path, score(seed=3))
    job = finished(client, upload(client, data, strength="0.7", timing="0.5", pedal="add").json["id"])
    studio_notes = pretty_midi.PrettyMIDI(io.BytesIO(client.get(f"/api/jobs/{job['id']}/midi").data))
    api_notes = stylenet.perform(data, genre="jazz", strength=0.7, timing=0.5, pedal="add")
    ours = [(n.pitch, n.start, n.end, n.velocity) for n in studio_notes.instruments[0].notes]
    theirs = [(n.pitch, n.start, n.end, n.velocity) for n in api_notes.instruments[0].notes]
    assert ours == theirs


def test_a_file_name_is_never_a_path(studio, client, tmp_path):
    job = finished(client, upload(client, midi_bytes(tmp_path, score(2)), "../../etc/passwd.mid").json["id"])
    assert job["state"] == "done" and job["files"]["midi"] == "passwd.jazz.mid"
    found = studio.get(job["id"])[0]
    assert found.folder.parent == studio.folder
    assert sorted(p.name for p in found.folder.iterdir()) == ["after.wav", "before.wav", "performed.mid"]


# -- bad input: one line in the page, and the studio goes on ------------------------------------------------

def test_every_bad_upload_gets_one_line_and_the_studio_goes_on(client, tmp_path, monkeypatch):
    refused = {
        "empty.mid": (b"", 400, "empty file"),
        "notes.txt": (b"just some text, not music", 400, "not a MIDI file"),
        "huge.mid": (b"MThd" + bytes(jobs.MAX_UPLOAD_BYTES + 10), 413, "4 MB limit"),
    }
    for name, (data, status, reason) in refused.items():
        answer = upload(client, data, name)
        assert answer.status_code == status and reason in answer.json["error"], answer.json
        assert "\n" not in answer.json["error"]
    no_piano = Song([N(60, 0, 480)], programs={0: 40})  # a violin
    failing = {
        "broken.mid": (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x10garbage", "unreadable MIDI"),
        "violin.mid": (midi_bytes(tmp_path, no_piano, "violin.mid"), "no piano notes"),
    }
    for name, (data, reason) in failing.items():
        job = finished(client, upload(client, data, name).json["id"])
        assert job["state"] == "failed" and job["error"].startswith(name) and reason in job["error"], job
        assert "\n" not in job["error"] and "Traceback" not in job["error"]
    monkeypatch.setattr(jobs, "MAX_MINUTES", 0.05)  # three seconds
    job = finished(client, upload(client, midi_bytes(tmp_path, score(6)), "long.mid").json["id"])
    assert job["state"] == "failed" and "the studio takes pieces up to" in job["error"]
    assert upload(client, midi_bytes(tmp_path, score(1)), "fine.mid", genre="rock").json["error"] == \
        "fine.mid: genre: must be one of classical, jazz, pop, concert, got 'rock'"
    monkeypatch.setattr(jobs, "MAX_MINUTES", 15)
    job = finished(client, upload(client, midi_bytes(tmp_path, score(1)), "after.mid").json["id"])
    assert job["state"] == "done"  # and the studio goes on


def test_a_file_is_as_long_as_its_last_event_whatever_its_piano_plays(client, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_MINUTES", 1)
    late = Song([N(60, 0, 480)], text=[(480 * 2 * 90, "the end")])  # a note, then a marker at 90 s
    job = finished(client, upload(client, midi_bytes(tmp_path, late, "late.mid"), "late.mid").json["id"])
    assert job["state"] == "failed" and job["error"].startswith("late.mid: it lasts 2 minutes"), job


def test_a_file_that_fails_half_way_leaves_nothing_behind(studio, client, tmp_path, monkeypatch):
    def broken_synthesiser(name, midi, sound):
        raise jobs.StyleNetError(f"{name}: the synthesiser could not render it (test)")

    monkeypatch.setattr(jobs, "_audio", broken_synthesiser)
    before = set(studio.folder.iterdir())
    job = finished(client, upload(client, midi_bytes(tmp_path, score(1)), "half.mid").json["id"])
    assert job["state"] == "failed" and "could not render" in job["error"]
    assert set(studio.folder.iterdir()) == before  # its performed MIDI went with it
    assert client.get(f"/api/jobs/{job['id']}/midi").status_code == 404


def test_fuzzed_files_are_answered_in_one_line_and_never_break_the_studio(client):
    """Every kind of broken and odd file the fuzzer makes (tests/midi_fuzz.py), two of each: each is refused
    or followed to done or failed with one line naming it; the server never answers 5xx."""
    import random

    from tests.midi_fuzz import GENERATORS

    rng = random.Random(5)
    for kind, make in sorted(GENERATORS.items()):
        for k in range(2):
            name = f"{kind}-{k}.mid"
            answer = upload(client, make(rng), name)
            assert answer.status_code < 500, (name, answer.json)
            job = answer.json if answer.status_code != 202 else finished(client, answer.json["id"], 120)
            message = job.get("error", "")
            assert job.get("state", "refused") in ("done", "failed", "refused"), job
            if job.get("state") != "done":
                assert message.startswith(name) and "\n" not in message and "Traceback" not in message, job


def test_too_many_waiting_files_are_refused_as_busy(client, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_WAITING", 0)
    answer = upload(client, midi_bytes(tmp_path, score(1)))
    assert answer.status_code == 503 and "busy" in answer.json["error"]


def test_old_results_are_removed_and_a_removed_one_is_gone(studio, client, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "KEEP_JOBS", 1)
    first = finished(client, upload(client, midi_bytes(tmp_path, score(1)), "first.mid").json["id"])
    folder = studio.get(first["id"])[0].folder
    second = finished(client, upload(client, midi_bytes(tmp_path, score(1)), "second.mid").json["id"])
    assert client.get(f"/api/jobs/{first['id']}").status_code == 404 and not folder.exists()
    assert client.delete(f"/api/jobs/{second['id']}").json == {"removed": second["id"]}
    assert client.get(f"/api/jobs/{second['id']}/midi").status_code == 404


def test_requests_for_another_host_or_from_another_site_are_refused(client, tmp_path):
    assert client.get("/", headers={"Host": "attacker.example"}).status_code == 403  # DNS rebinding
    answer = client.post("/api/jobs", data={"file": (io.BytesIO(midi_bytes(tmp_path, score(1))), "a.mid"),
                                            "genre": "jazz"}, headers={"Origin": "http://attacker.example"})
    assert answer.status_code == 403
    assert client.get("/api/jobs/nothing-here").status_code == 404
    page = client.get("/")
    assert page.status_code == 200 and b"StyleNet studio" in page.data and b"{{CONFIG}}" not in page.data


def test_bound_to_one_address_the_studio_answers_to_it_and_to_this_computer(studio):
    from werkzeug.test import Client

    one = Client(make_app(studio, host="192.0.2.7"))
    assert one.get("/", headers={"Host": "192.0.2.7:8765"}).status_code == 200
    assert one.get("/", headers={"Host": "localhost:8765"}).status_code == 200
    assert one.get("/", headers={"Host": "attacker.example"}).status_code == 403
    every = Client(make_app(studio, host="0.0.0.0"))  # cannot know its names; `stylenet studio` warned
    assert every.get("/", headers={"Host": "my-laptop.local:8765"}).status_code == 200


def test_without_a_soundfont_the_studio_still_performs_and_says_why_there_is_no_audio(tmp_path, monkeypatch):
    from werkzeug.test import Client

    from stylenet.core.errors import StyleNetError
    from stylenet.listen import render

    def missing(path=None):
        raise StyleNetError("/nowhere/TimGM6mb.sf2: cannot read SoundFont (No such file or directory)", exit_code=2)

    monkeypatch.setattr(render, "read_soundfont", missing)
    studio = Studio(folder=tmp_path)
    try:
        client = Client(make_app(studio))
        assert b"no audio: /nowhere/TimGM6mb.sf2" in client.get("/").data  # the page says so at once
        job = finished(client, upload(client, midi_bytes(tmp_path, score(1))).json["id"])
        assert job["state"] == "done" and job["audio"].startswith("no audio:")
        assert job["files"] == {"midi": "score.jazz.mid"}
        assert client.get(f"/api/jobs/{job['id']}/after").status_code == 404
        assert client.get(f"/api/jobs/{job['id']}/midi").status_code == 200
    finally:
        studio.close()


def test_closing_the_studio_deletes_every_result(tmp_path):
    from werkzeug.test import Client

    studio = Studio(folder=tmp_path)
    client = Client(make_app(studio))
    job = finished(client, upload(client, midi_bytes(tmp_path, score(1))).json["id"])
    assert job["state"] == "done" and any(studio.folder.iterdir())
    studio.close()
    assert not studio.folder.exists()


# -- the server on loopback ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(studio):
    server = make_server(studio, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", server
    server.shutdown()
    thread.join(5)


def test_clients_at_once_on_loopback_all_get_their_own_performance(served, tmp_path):
    url, _ = served
    files = [midi_bytes(tmp_path, score(1 + i % 3, seed=i), f"s{i}.mid") for i in range(8)]
    results, errors = {}, []

    def client_run(i: int) -> None:
        try:
            body, kind = multipart(f"s{i}.mid", files[i], {"genre": ("jazz", "pop")[i % 2]})
            status, answer = http(url + "/api/jobs", body, kind)
            assert status == 202, answer
            job_id = json.loads(answer)["id"]
            while True:
                job = json.loads(http(f"{url}/api/jobs/{job_id}")[1])
                if job["state"] in ("done", "failed"):
                    break
                time.sleep(0.05)
            assert job["state"] == "done", job["error"]
            results[i] = http(f"{url}/api/jobs/{job_id}/midi")[1]
        except Exception as exc:  # noqa: BLE001 - gathered and reported below
            errors.append(f"client {i}: {exc!r}")

    threads = [threading.Thread(target=client_run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for i, data in results.items():  # each client got its own file back, performed
        source = pretty_midi.PrettyMIDI(io.BytesIO(files[i])).instruments[0].notes
        played = pretty_midi.PrettyMIDI(io.BytesIO(data)).instruments[0].notes
        assert sorted(n.pitch for n in played) == sorted(n.pitch for n in source)


def test_a_taken_port_is_a_one_line_error(served, studio):
    from stylenet.core.errors import StyleNetError

    port = int(served[0].rsplit(":", 1)[1])
    with pytest.raises(StyleNetError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
        make_server(studio, "127.0.0.1", port)


def test_the_command_warns_when_it_listens_beyond_this_computer_and_refuses_a_bad_soundfont(tmp_path, capsys):
    from stylenet.cli.main import main

    bad = tmp_path / "not.sf2"
    bad.write_bytes(b"nothing")
    assert main(["studio", "--host", "0.0.0.0", "--no-browser", "--soundfont", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "warning: listening on 0.0.0.0" in err and "not a SoundFont 2 file" in err and "Traceback" not in err


def test_the_command_deletes_its_results_when_it_is_stopped_and_refuses_a_bad_port(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    command = [sys.executable, "-m", "stylenet", "studio", "--port", "0", "--no-browser"]
    for port in ("-5", "70000"):
        done = subprocess.run(command[:4] + ["--port", port], capture_output=True, text=True)
        assert done.returncode == 2 and "a port is a number from 0 to 65535" in done.stderr
        assert "Traceback" not in done.stderr
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    folder = Path(line.split("results in ", 1)[1].split(" until", 1)[0])
    url = line.split()[3].rstrip("/")
    body, kind = multipart("a.mid", midi_bytes(tmp_path, score(1)), {"genre": "pop"})
    assert http(url + "/api/jobs", body, kind)[0] == 202 and folder.is_dir()
    process.send_signal(signal.SIGTERM)  # as `kill` or a closed terminal stops it
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "stopped" in out and "Traceback" not in err, err
    assert not folder.exists()


# -- the page in a real browser -----------------------------------------------------------------------------

def drop(driver, name: str, data: bytes) -> None:
    """A file dropped on the page's drop zone, as a person drags it from their desktop."""
    driver.execute_script(
        "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));"
        "const dt = new DataTransfer(); dt.items.add(new File([bytes], arguments[1], {type: 'audio/midi'}));"
        "document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));",
        base64.b64encode(data).decode(), name)


def test_a_real_browser_drops_a_file_plays_both_players_and_downloads_the_performance(served, tmp_path):
    import os

    driver = headless_chrome(tmp_path, "--window-size=1100,1300", "--autoplay-policy=no-user-gesture-required")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = served
    data = midi_bytes(tmp_path, score(4), "Drop Me.mid")
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x10garbage")
    try:
        driver.get(url + "/")
        assert driver.find_element(By.ID, "go").get_attribute("disabled")
        drop(driver, "Drop Me.mid", data)
        picker = driver.find_element(By.ID, "pick")  # and a broken one chosen with the file picker
        driver.execute_script("arguments[0].hidden = false", picker)
        picker.send_keys(str(broken))
        assert "Drop Me.mid" in driver.find_element(By.ID, "staged").text
        driver.find_element(By.ID, "go").click()
        wait = WebDriverWait(driver, 90)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '.job[data-name="broken.mid"]').get_attribute(
            "data-state") == "failed")
        message = driver.find_element(By.CSS_SELECTOR, '.job[data-name="broken.mid"] .error').text
        assert message.startswith("broken.mid: unreadable MIDI"), message
        card = '.job[data-name="Drop Me.mid"]'
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, card).get_attribute("data-state") == "done")
        played = driver.execute_async_script(  # both players play, one after the other (one pauses the other)
            "const done = arguments[arguments.length - 1];"
            f"const players = [...document.querySelectorAll('{card} audio')];"
            "(async () => { const out = []; for (const a of players) { await a.play();"
            "  await new Promise(r => setTimeout(r, 700)); a.pause(); out.push([a.className, a.currentTime, a.duration]); }"
            "  return out; })().then(done, e => done(String(e)));")
        assert [p[0] for p in played] == ["before", "after"], played
        assert all(p[1] > 0.2 and p[2] > 4 for p in played), played  # playing, and as long as the piece
        assert driver.execute_script(  # the piano rolls are drawn
            f"return [...document.querySelectorAll('{card} canvas')].map(c => c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0))") == [True, True]
        if os.environ.get("STYLENET_STUDIO_SCREENSHOT"):
            driver.save_screenshot(os.environ["STYLENET_STUDIO_SCREENSHOT"])
        driver.find_element(By.CSS_SELECTOR, f"{card} a.download-midi").click()
        target = tmp_path / "downloads" / "Drop_Me.jazz.mid"
        deadline = time.monotonic() + 20
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        driver.quit()
    source = pretty_midi.PrettyMIDI(io.BytesIO(data)).instruments[0].notes
    played_notes = pretty_midi.PrettyMIDI(str(target)).instruments[0].notes
    assert sorted(n.pitch for n in played_notes) == sorted(n.pitch for n in source)
    assert len({n.velocity for n in played_notes}) > 3


def test_two_browser_tabs_perform_at_once_each_with_its_own_files(served, tmp_path):
    driver = headless_chrome(tmp_path, "--window-size=1100,1300")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url, _ = served
    wait = WebDriverWait(driver, 120)
    try:
        tabs = {}
        for name, genre in (("first.mid", "pop"), ("second.mid", "classical")):
            if tabs:
                driver.switch_to.new_window("tab")
            driver.get(url + "/")
            tabs[name] = driver.current_window_handle
            Select(driver.find_element(By.ID, "genre")).select_by_value(genre)
            drop(driver, name, midi_bytes(tmp_path, score(3, seed=len(tabs)), name))
            driver.find_element(By.ID, "go").click()  # the second starts while the first is still working
        for name, genre in (("first.mid", "pop"), ("second.mid", "classical")):
            driver.switch_to.window(tabs[name])
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'.job[data-name="{name}"]').get_attribute(
                "data-state") == "done")
            cards = driver.find_elements(By.CSS_SELECTOR, ".job")
            assert len(cards) == 1 and f"as {genre}" in cards[0].text  # each tab shows its own file only
            assert cards[0].find_element(By.CSS_SELECTOR, "a.download-midi").text.endswith(f"{name[:-4]}.{genre}.mid")
    finally:
        driver.quit()

