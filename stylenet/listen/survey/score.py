"""`stylenet survey score KEY ANSWERS...`: how often respondents told the human apart (A/B, with a binomial
p-value against guessing), or how natural each source was rated (1-5), as Markdown and JSON."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylenet.core.errors import StyleNetError, skip_failure
from stylenet.core.fileio import atomic_write_text
from stylenet.listen.survey.build import KEY_FORMAT, SQLITE_MAGIC
from stylenet.listen.survey.serve import check_submission

ANSWERS_FORMAT = "survey-answers/1"
NATURAL = (1, 2)  # ratings that count as "perceived as natural" (the report's share)


@dataclass
class Submission:
    respondent: str
    answers: dict
    origin: str  # file, or database#row


def read_key(path) -> dict:
    path = Path(path)
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StyleNetError(f"{path}: cannot read ({exc.strerror or exc})", exit_code=2) from None
    except (ValueError, UnicodeDecodeError):
        raise StyleNetError(f"{path}: not JSON; expected the answer key written by `stylenet survey build`",
                            exit_code=2) from None
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT:
        raise StyleNetError(f"{path}: not an answer key written by `stylenet survey build`", exit_code=2)
    return key


def read_answers(path: Path, key: dict) -> list[Submission]:
    """One answers file (JSON downloaded from the page) or every submission of a `survey serve` database;
    submissions to other surveys in a database are left out."""
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT id, survey, respondent, answers FROM submissions ORDER BY id").fetchall()
        except sqlite3.Error as exc:
            raise StyleNetError(f"{path}: not a database written by `stylenet survey serve` ({exc})") from None
        finally:
            connection.close()
        out = []
        for row, survey_id, respondent, answers in rows:
            if survey_id != key["survey"]:
                continue
            stored = json.loads(answers)
            checked = check_submission({"survey": survey_id, "respondent": respondent,
                                        "answers": stored.get("answers")}, key)
            out.append(Submission(checked["respondent"], checked["answers"], f"{path}#{row}"))
        return out
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise StyleNetError(f"{path}: neither answers JSON nor an SQLite database") from None
    try:
        checked = check_submission(data, key)
    except ValueError as exc:
        raise StyleNetError(f"{path}: {exc}") from None
    return [Submission(checked["respondent"], checked["answers"], str(path))]


def binomial_p(correct: int, n: int) -> float | None:
    """Exact two-sided binomial test of `correct` successes in `n` against chance (50 %)."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    return float(binomtest(correct, n, 0.5, alternative="two-sided").pvalue)


def _tally(correct: list[bool]) -> dict:
    n, k = len(correct), int(sum(correct))
    return {"judgments": n, "correct": k, "share": k / n if n else None, "p": binomial_p(k, n)}


def _sources(key: dict) -> list[str]:
    """The key's sources that have items, in the order the survey was built with."""
    present = {item["source"] for item in key["items"]}
    named = [s["name"] for s in key.get("sources", []) if s["name"] in present]
    return list(dict.fromkeys(named + sorted(present)))


def score_ab(key: dict, submissions: list[Submission]) -> dict:
    """Share of judgments that picked the human's clip, per source, per pair and per respondent, each with
    an exact two-sided binomial test against 50 %."""
    items = {item["id"]: item for item in key["items"]}
    sources = _sources(key)
    judged = [(s.respondent, item_id, value == items[item_id]["human"])
              for s in submissions for item_id, value in s.answers.items()]
    per_source = {}
    for source in sources:
        pairs = [i for i in items.values() if i["source"] == source]
        per_source[source] = {"pairs": len(pairs),
                              **_tally([c for _, i, c in judged if items[i]["source"] == source])}
    per_pair = [{"id": item["id"], "source": item["source"], "genre": item.get("genre"), "piece": item["piece"],
                 "start": item["start"], "end": item["end"], **_tally([c for _, i, c in judged if i == item["id"]])}
                for item in key["items"]]
    respondents = list(dict.fromkeys(s.respondent for s in submissions))
    per_respondent = [{"respondent": r, "source": source,
                       **_tally([c for who, i, c in judged if who == r and items[i]["source"] == source])}
                      for r in respondents for source in sources]
    per_respondent = [row for row in per_respondent if row["judgments"]]
    return {"per_source": per_source, "per_pair": per_pair, "per_respondent": per_respondent}


def _ratings_summary(values: list[int]) -> dict:
    v = np.asarray(values, np.float64)
    return {"ratings": len(v), "mean": float(v.mean()) if len(v) else None,
            "variance": float(v.var(ddof=1)) if len(v) > 1 else None,
            "natural": float(np.isin(v, NATURAL).mean()) if len(v) else None,
            "counts": {str(r): int((v == r).sum()) for r in range(1, 6)}}


def score_rating(key: dict, submissions: list[Submission]) -> dict:
    """Per source: mean, sample variance (n - 1) and share rated 1-2 ("perceived as natural"), rating counts;
    per clip: mean."""
    items = {item["id"]: item for item in key["items"]}
    sources = _sources(key)
    given = [(item_id, value) for s in submissions for item_id, value in s.answers.items()]
    per_source = {source: {"clips": sum(1 for i in items.values() if i["source"] == source),
                           **_ratings_summary([v for i, v in given if items[i]["source"] == source])}
                  for source in sources}
    per_clip = [{"id": item["id"], "source": item["source"], "genre": item.get("genre"), "piece": item["piece"],
                 **_ratings_summary([v for i, v in given if i == item["id"]])} for item in key["items"]]
    return {"per_source": per_source, "per_clip": per_clip}


def score(key: dict, submissions: list[Submission]) -> dict:
    scored = score_ab(key, submissions) if key["design"] == "ab" else score_rating(key, submissions)
    return {"survey": key["survey"], "design": key["design"], "title": key.get("title"),
            "respondents": len({s.respondent for s in submissions}), "submissions": len(submissions), **scored}


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _p(x) -> str:
    return "–" if x is None else (f"{x:.3g}" if x >= 0.001 else f"{x:.1e}")


def _num(x, digits=2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def markdown(result: dict) -> str:
    lines = [f"# {result.get('title') or 'Listening test'}: scores", ""]
    lines.append(f"Survey `{result['survey']}`, design {result['design']}: {result['submissions']} submissions "
                 f"from {result['respondents']} respondents.")
    lines.append("")
    if result["design"] == "ab":
        lines += ["Each judgment picked one clip of a pair as the human's. *Correct* = it picked the human's clip; "
                  "50 % is chance, and below 50 % the other source was taken for the human more often than the "
                  "human. *p*: exact two-sided binomial test against 50 %.", "",
                  "| human vs | pairs | judgments | correct | share correct | p |", "|---|---:|---:|---:|---:|---:|"]
        for source, row in result["per_source"].items():
            lines.append(f"| {source} | {row['pairs']} | {row['judgments']} | {row['correct']} | {_pct(row['share'])} "
                         f"| {_p(row['p'])} |")
        lines += ["", "## Per pair", "", "| pair | human vs | genre | piece | excerpt (s) | judgments | correct "
                  "| share | p |", "|---:|---|---|---|---|---:|---:|---:|---:|"]
        for row in result["per_pair"]:
            lines.append(f"| {row['id']} | {row['source']} | {row['genre'] or ''} | {row['piece']} | "
                         f"{row['start']:.1f}–{row['end']:.1f} | {row['judgments']} | {row['correct']} | "
                         f"{_pct(row['share'])} | {_p(row['p'])} |")
        lines += ["", "## Per respondent", "", "| respondent | human vs | judgments | correct | share | p |",
                  "|---|---|---:|---:|---:|---:|"]
        for row in result["per_respondent"]:
            lines.append(f"| {row['respondent']} | {row['source']} | {row['judgments']} | {row['correct']} | "
                         f"{_pct(row['share'])} | {_p(row['p'])} |")
    else:
        lines += ["Ratings: 1 = surely a human … 5 = surely a computer. *Natural*: share rated 1 or 2 "
                  "(\"probability to be perceived as natural\"). Variance: sample variance (n − 1).", "",
                  "| source | clips | ratings | mean | variance | natural (1–2) | 1 | 2 | 3 | 4 | 5 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for source, row in result["per_source"].items():
            counts = " | ".join(str(row["counts"][str(r)]) for r in range(1, 6))
            lines.append(f"| {source} | {row['clips']} | {row['ratings']} | {_num(row['mean'])} | "
                         f"{_num(row['variance'])} | {_pct(row['natural'])} | {counts} |")
        if result.get("plot"):
            lines += ["", f"![ratings per source]({Path(result['plot']).name})"]
        lines += ["", "## Per clip", "", "| clip | source | genre | piece | ratings | mean |",
                  "|---:|---|---|---|---:|---:|"]
        for row in result["per_clip"]:
            lines.append(f"| {row['id']} | {row['source']} | {row['genre'] or ''} | {row['piece']} | "
                         f"{row['ratings']} | {_num(row['mean'])} |")
    return "\n".join(lines) + "\n"


def default_score_dir(key_path: Path) -> Path:
    name = key_path.name
    stem = name[:-len(".key.json")] if name.endswith(".key.json") else key_path.stem
    return key_path.parent / f"{stem}.score"


@dataclass
class ScoreReport:
    result: dict  # what score.json holds
    markdown: str  # what score.md holds
    out: Path
    submissions: int
    duplicates: int  # the same respondent's identical answers met again, counted once
    skipped: list  # "FILE: reason" of each answers file skipped


def score_files(key_file, answer_paths, out=None) -> ScoreReport:
    """Score answers (JSON files, folders of them, `survey serve` databases) against a key; writes
    score.md, score.json and, for ratings, ratings.png into `out` (default: beside the key, NAME.score/)."""
    key_path = Path(key_file)
    key = read_key(key_path)
    files = []
    for text in answer_paths:
        path = Path(text)
        files += sorted(f for f in path.rglob("*.json") if f.is_file()) if path.is_dir() else [path]
    submissions, skipped, seen, duplicates = [], [], set(), 0
    for path in files:
        found = []
        with skip_failure(path, skipped):
            if not path.is_file():
                raise StyleNetError(f"{path}: no such file")
            found = read_answers(path, key)
        for submission in found:
            fingerprint = (submission.respondent, json.dumps(submission.answers, sort_keys=True))
            if fingerprint in seen:  # the same answers sent twice (a download also sent, a double click)
                duplicates += 1
                continue
            seen.add(fingerprint)
            submissions.append(submission)
    if not submissions:
        raise StyleNetError(f"no answers to survey {key['survey']} in {' '.join(map(str, answer_paths))}")
    result = score(key, submissions)
    result["duplicates_dropped"] = duplicates
    out_dir = Path(out) if out else default_score_dir(key_path)
    if key["design"] == "rating":
        from stylenet.listen.plots import rating_bars

        counts = {s: {r: row["counts"][str(r)] for r in range(1, 6)} for s, row in result["per_source"].items()}
        result["plot"] = str(rating_bars(counts, out_dir / "ratings.png",
                                         f"{key.get('title') or 'Listening test'}: ratings per source"))
    text = markdown(result)
    atomic_write_text(out_dir / "score.md", text)
    atomic_write_text(out_dir / "score.json", json.dumps(result, indent=1) + "\n")
    return ScoreReport(result, text, out_dir, len(submissions), duplicates, skipped)
