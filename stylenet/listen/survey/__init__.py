"""The paper's listening test and the second report's rating test: build a survey folder (build.py),
serve it and collect answers in SQLite (serve.py, page.html), score the answers (score.py)."""
