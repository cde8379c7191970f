"""The studio's verb: `stylenet studio` serves the page where a musician drops files and hears them played."""

from __future__ import annotations

import argparse
import sys

from stylenet.cli.options import positive


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535 (0 picks a free one), got {text!r}")
    return int(text)


def register(verbs) -> dict:
    studio = verbs.add_parser(
        "studio", help="a local web page: drop MIDI files, hear before and after, download the performance",
        description="Starts a web server on this computer and opens its page in the browser: drop MIDI files, "
                    "choose the genre and how much timing, articulation and pedal to add, hear each file as "
                    "written and as performed (loudness-matched), see both piano rolls, download the performed "
                    "MIDI and audio.  Files stay on this machine; results are deleted when the studio stops.",
        epilog="examples:\n  stylenet studio\n  stylenet studio --port 9000 --no-browser",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    studio.add_argument("--port", type=_port, default=8765, help="(default: %(default)s; 0 picks a free one)")
    studio.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: %(default)s, this computer only)")
    studio.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    studio.add_argument("--model", metavar="RUN_OR_FILE", help="a StyleNet model (default: the shipped one)")
    studio.add_argument("--soundfont", metavar="SF2", help="a SoundFont for the audio (default: the best installed)")
    studio.add_argument("--workers", type=positive, default=2, metavar="N", help="files played at once (default: %(default)s)")
    return {"studio": _run_studio}


def _run_studio(args) -> int:
    import atexit
    import signal
    import threading
    import webbrowser

    from stylenet.studio.app import LOOPBACK, make_server
    from stylenet.studio.jobs import Studio

    if args.host not in LOOPBACK:
        print(f"warning: listening on {args.host}: anyone who can reach this computer on port {args.port} can use "
              "the studio (it has no login); leave --host out to keep it to this computer", file=sys.stderr)
    studio = Studio(args.model, args.soundfont, args.workers)
    atexit.register(studio.close)  # the results go however the process ends short of a kill
    server = make_server(studio, args.host, args.port)
    host = "localhost" if args.host in LOOPBACK else (f"[{args.host}]" if ":" in args.host else args.host)
    url = f"http://{host}:{server.server_port}/"
    print(f"StyleNet studio at {url}  (Ctrl-C stops it; results in {studio.folder} until then)", flush=True)
    if studio.sound_error:
        print(f"note: {studio.sound_error}", file=sys.stderr)
    if not args.no_browser:
        threading.Timer(0.3, webbrowser.open, (url,)).start()

    def stop(signum, frame):  # a terminal closed or `kill`: stop as Ctrl-C does
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)
    try:
        server.serve_forever()  # Werkzeug's returns on Ctrl-C (and on `stop` above) instead of raising
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping: the files being played finish, then every result is deleted", flush=True)
        server.server_close()
        try:
            studio.close()
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting (close deleted the results all the same)
            pass
    print("stopped")
    return 0
