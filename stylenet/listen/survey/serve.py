"""`stylenet survey serve FOLDER`: the survey page on a local web server, answers stored in SQLite.

Binds 127.0.0.1 unless told otherwise, accepts one bounded JSON submission per POST, and checks every
answer against the survey it claims to answer before storing it."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from stylenet.core.errors import StyleNetError

MAX_SUBMISSION_BYTES = 1 << 20
DATA_TAG = re.compile(r'<script type="application/json" id="survey-data">(.*?)</script>', re.S)


SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received TEXT NOT NULL,
    survey TEXT NOT NULL,
    respondent TEXT NOT NULL,
    answers TEXT NOT NULL,
    client TEXT
);
CREATE TRIGGER IF NOT EXISTS submissions_never_change BEFORE UPDATE ON submissions
BEGIN SELECT RAISE(ABORT, 'a stored submission is never changed'); END;
CREATE TRIGGER IF NOT EXISTS submissions_never_vanish BEFORE DELETE ON submissions
BEGIN SELECT RAISE(ABORT, 'a stored submission is never deleted'); END;
"""


def default_db(folder: Path) -> Path:
    folder = Path(folder)
    return folder.parent / f"{folder.resolve().name}.answers.sqlite"


def page_data(folder) -> dict:
    """The survey's public description (id, design, items and their audio) as the page holds it."""
    page = Path(folder) / "index.html"
    try:
        text = page.read_text(encoding="utf-8")
    except OSError as exc:
        raise StyleNetError(f"{page}: cannot read ({exc.strerror or exc}); is {folder} a survey folder "
                            "written by `stylenet survey build`?", exit_code=2) from None
    match = DATA_TAG.search(text)
    if not match:
        raise StyleNetError(f"{page}: not a survey page written by `stylenet survey build`", exit_code=2)
    return json.loads(match.group(1).replace("<\\/", "</"))


def check_submission(data, survey: dict) -> dict:
    """A submission as the page sends it, checked against the survey (page data or key).
    -> {"respondent", "answered", "answers"}; ValueError with a reason otherwise."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("survey") != survey["survey"]:
        raise ValueError(f"answers to survey {data.get('survey')!r}, not to this survey ({survey['survey']})")
    answers = data.get("answers")
    if not isinstance(answers, dict) or not answers:
        raise ValueError("no answers")
    ids = {item["id"] for item in survey["items"]}
    checked = {}
    for item_id, value in answers.items():
        if item_id not in ids:
            raise ValueError(f"answer to unknown item {item_id!r}")
        if survey["design"] == "ab":
            if value not in ("a", "b"):
                raise ValueError(f"item {item_id}: answer must be 'a' or 'b', got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise ValueError(f"item {item_id}: rating must be a whole number from 1 to 5, got {value!r}")
        checked[item_id] = value
    respondent = " ".join(str(data.get("respondent") or "").split())[:200] or "anonymous"
    return {"respondent": respondent, "answered": str(data.get("answered") or "")[:40], "answers": checked}


def open_db(path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30)
    connection.executescript(SCHEMA)
    return connection


def store(db, survey_id: str, submission: dict, client: str = "") -> int:
    """Insert one submission as a new row; returns its number.  Rows are never updated or deleted."""
    connection = open_db(db)
    try:
        with connection:
            cursor = connection.execute(
                "INSERT INTO submissions (received, survey, respondent, answers, client) VALUES (?, ?, ?, ?, ?)",
                (datetime.now(timezone.utc).isoformat(timespec="seconds"), survey_id, submission["respondent"],
                 json.dumps({"answered": submission["answered"], "answers": submission["answers"]}), client))
        return int(cursor.lastrowid)
    finally:
        connection.close()


def make_server(folder, db=None, host: str = "127.0.0.1", port: int = 8000, log=None):
    """A ThreadingHTTPServer for a survey folder (call serve_forever); GET serves the folder's files (no
    listings), POST /answers stores a submission.  `log(line)` hears of each stored submission and of a
    failure to store one; the server's `db`, `survey` and `folder` say what it serves."""
    log = log or (lambda line: None)
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    folder = Path(folder)
    survey = page_data(folder)
    db = Path(db) if db else default_db(folder)
    if db.resolve().parent == folder.resolve() or folder.resolve() in db.resolve().parents:
        raise StyleNetError(f"{db}: the database must not be inside the survey folder (it would be served)",
                            exit_code=2)
    try:
        open_db(db).close()
    except sqlite3.Error as exc:
        raise StyleNetError(f"{db}: cannot open the answers database ({exc})", exit_code=2) from None

    class Handler(SimpleHTTPRequestHandler):
        server_version = "survey"
        sys_version = ""

        def list_directory(self, path):
            self.send_error(404, "Not found")
            return None

        def log_message(self, format, *args):  # quiet: one line per stored submission instead
            pass

        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            if self.path.split("?", 1)[0] != "/answers":
                return self.reply(404, {"error": "not found"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_SUBMISSION_BYTES:
                return self.reply(413 if length > 0 else 400, {"error": "bad or missing Content-Length"})
            try:
                submission = check_submission(json.loads(self.rfile.read(length)), survey)
            except (ValueError, UnicodeDecodeError) as exc:
                return self.reply(400, {"error": str(exc)[:300]})
            try:
                row = store(db, survey["survey"], submission, self.client_address[0])
            except sqlite3.Error as exc:
                log(f"could not store a submission: {exc}")
                return self.reply(500, {"error": "the server could not store the answers"})
            log(f"stored submission {row}: {submission['respondent']}, {len(submission['answers'])} answers")
            return self.reply(201, {"stored": row})

    try:
        server = ThreadingHTTPServer((host, port), partial(Handler, directory=str(folder)))
    except OSError as exc:
        raise StyleNetError(f"cannot listen on {host}:{port} ({exc.strerror or exc})", exit_code=2) from None
    server.db, server.survey, server.folder = db, survey, folder
    return server
