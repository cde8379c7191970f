"""`stylenet studio` measured as a musician and as a crowd would use it (part of `make bench`).

1. first sound: from starting `stylenet studio` to both audios of a 3-minute score being ready to play
   (the process started, the page fetched, the file uploaded, performed and rendered before and after);
2. load: 50 uploads from 10 clients at once on loopback (5 each, one after another: upload, follow, fetch the
   MIDI and both audios), 5 of them broken files; every answer checked, the server's memory sampled.

    .venv/bin/python scripts/bench_studio.py [--uploads 50] [--clients 10]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylenet.core import codec, midifile, smf  # noqa: E402
from tests.helpers import http, multipart  # noqa: E402

BROKEN = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x10garbage"


def flat_score(seconds: float, seed: int) -> bytes:
    """A score as a notation program exports it: sixteenth-note onsets at 120 qpm, every velocity 80."""
    rng = np.random.default_rng(seed)
    sixteenths = int(seconds * 8)
    onsets = np.sort(rng.integers(0, sixteenths, int(seconds * 11))) * 120
    pitch = rng.integers(36, 96, len(onsets))
    score = codec.make_score(pitch, onsets, onsets + rng.choice([120, 240, 480, 960], len(onsets)),
                             np.full(len(onsets), 80), steps_per_quarter=480)
    return smf.midi_bytes(codec.score_to_midi(score, midifile.BeatGrid.constant(120.0, 480)))


def perform(url: str, name: str, data: bytes, genre: str = "jazz") -> dict:
    """Upload, follow to the end, fetch what the page would: -> {"status", "state", "error", "seconds", "sizes"}."""
    started = time.perf_counter()
    status, answer = http(url + "/api/jobs", *multipart(name, data, {"genre": genre}))
    if status != 202:
        return {"status": status, "state": "refused", "error": json.loads(answer).get("error", ""),
                "seconds": time.perf_counter() - started}
    job_id = json.loads(answer)["id"]
    while True:
        status, answer = http(f"{url}/api/jobs/{job_id}")
        job = json.loads(answer)
        if status != 200 or job["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    sizes = {}
    if job.get("state") == "done":
        for kind in ("midi", "before", "after"):
            got, body = http(f"{url}/api/jobs/{job_id}/{kind}")
            sizes[kind] = len(body) if got == 200 else -got
    return {"status": status, "state": job.get("state"), "error": job.get("error", ""), "sizes": sizes,
            "seconds": time.perf_counter() - started}


class Server:
    """`stylenet studio --port 0 --no-browser` as a process; its URL read from its first line."""

    def __init__(self):
        command = [str(Path(sys.executable).with_name("stylenet")), "studio", "--port", "0", "--no-browser"]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if "http://" not in line:
            raise SystemExit(f"the studio did not start: {line}{self.process.stderr.read()}")
        self.url = line.split()[3].rstrip("/")
        self.folder = Path(line.split("results in ", 1)[1].split(" until", 1)[0])
        self.peak, self.samples = 0, []
        self._sampling = True
        threading.Thread(target=self._sample, daemon=True).start()

    def rss_mb(self, field: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _sample(self):
        while self._sampling and self.process.poll() is None:
            try:
                self.samples.append(self.rss_mb())
            except OSError:
                break
            time.sleep(0.1)

    def stop(self) -> float:
        peak = self.rss_mb("VmHWM")
        self._sampling = False
        self.process.send_signal(signal.SIGINT)  # as a person stops it: the results are deleted
        self.process.wait(60)
        return peak


def first_sound() -> dict:
    data = flat_score(180, seed=1)
    server = Server()
    try:
        status, _ = http(server.url + "/")
        assert status == 200
        result = perform(server.url, "three_minutes.mid", data)
        result["total"] = time.perf_counter() - server.started
        result["startup"] = result["total"] - result["seconds"]
    finally:
        server.stop()
    return result


def load(uploads: int, clients: int) -> dict:
    files = [(f"piece{i}.mid", BROKEN if i % 10 == 9 else flat_score(20 + 10 * (i % 5), seed=i)) for i in range(uploads)]
    server = Server()
    results, threads = [], []
    folder_mb = None
    try:
        base = server.rss_mb()

        def client(k: int):
            for i in range(k, uploads, clients):
                name, data = files[i]
                results.append(perform(server.url, name, data, ("jazz", "pop", "classical")[i % 3]) | {"i": i})

        started = time.perf_counter()
        for k in range(clients):
            threads.append(threading.Thread(target=client, args=(k,)))
            threads[-1].start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        end_rss = server.rss_mb()
        folder_mb = sum(f.stat().st_size for f in server.folder.rglob("*") if f.is_file()) / 2 ** 20
    finally:
        peak = server.stop()
    left = server.folder.exists()
    server_errors = [r for r in results if r["status"] >= 500]
    broken = [r for r in results if files[r["i"]][1] is BROKEN]
    good = [r for r in results if files[r["i"]][1] is not BROKEN]
    return {"uploads": len(results), "wall": wall, "server_errors": len(server_errors),
            "good_done": sum(r["state"] == "done" and all(v > 0 for v in r["sizes"].values()) for r in good),
            "good": len(good), "broken_answered": sum(r["state"] == "failed" and r["error"].startswith("piece")
                                                     for r in broken), "broken": len(broken),
            "latency_median": statistics.median(r["seconds"] for r in good),
            "latency_max": max(r["seconds"] for r in good),
            "rss_start": base, "rss_end": end_rss, "rss_peak": peak, "results_mb": folder_mb, "left": left}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    first = first_sound()
    print(f"studio, first sound: `stylenet studio` started to both audios of a 3-minute score ready: "
          f"{first['total']:.1f} s (start-up and page {first['startup']:.1f} s; upload, perform, render before "
          f"and after, fetch {first['seconds']:.1f} s; state {first['state']})")
    result = load(args.uploads, args.clients)
    print(f"studio, load: {result['uploads']} uploads from {args.clients} clients on loopback in {result['wall']:.1f} s; "
          f"server errors {result['server_errors']}; {result['good_done']} of {result['good']} scores performed and "
          f"fetched (MIDI and both audios); {result['broken_answered']} of {result['broken']} broken files answered "
          f"with their one line; upload-to-fetched median {result['latency_median']:.1f} s, longest "
          f"{result['latency_max']:.1f} s; server memory {result['rss_start']:.0f} MB idle, peak {result['rss_peak']:.0f} MB, "
          f"{result['rss_end']:.0f} MB after; results on disk {result['results_mb']:.0f} MB, "
          f"{'NOT deleted' if result['left'] else 'deleted'} when the studio was stopped")
    goals = [("studio, first sound of a 3-minute score", f"{first['total']:.1f} s", "< 30 s",
              first["total"] < 30 and first["state"] == "done"),
             ("studio, server errors under load", str(result["server_errors"]), "0", result["server_errors"] == 0)]
    for what, measured, goal, met in goals:
        print(f"  {what:<42}{measured:>8}  goal {goal:<6} {'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
