"""The studio's web server: one page, and a small JSON interface the page talks to.

    GET    /                          the page (page.html, with the genres and limits filled in)
    POST   /api/jobs                  one file (multipart: `file`, and the controls) -> 202 {job}
    GET    /api/jobs/<id>             where it stands -> {job}; when done, its piano rolls and downloads
    GET    /api/jobs/<id>/<kind>      midi | before | after: the performed MIDI, the audio as written and played
    DELETE /api/jobs/<id>             forget a finished file and delete its results

Built on Werkzeug (Pallets' WSGI toolkit, the ground Flask stands on): a pure-Python wheel of 2 MB whose one
dependency is MarkupSafe, with a streaming multipart parser that honours a size limit before reading the
body, and a threaded server -- what a local page needs, without a framework.  Every answer the page can get
is JSON with an `error` line a person can act on; nothing a browser sends becomes a path.  Requests whose
Host is not the address the studio listens on are refused (a web page elsewhere cannot reach it by DNS
rebinding), and so are POSTs and DELETEs from another origin.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from stylenet.studio.jobs import MAX_MINUTES, MAX_UPLOAD_BYTES, Controls, Refused, Studio

PAGE = Path(__file__).with_name("page.html")
FORM_OVERHEAD = 64 * 1024  # the controls and the multipart framing around the file
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "::", "")


def make_app(studio: Studio, host: str = "127.0.0.1"):
    """The studio's WSGI application over `studio` (which holds the jobs)."""
    from werkzeug.exceptions import HTTPException
    from werkzeug.routing import Map, Rule
    from werkzeug.utils import send_file
    from werkzeug.wrappers import Request, Response

    class StudioRequest(Request):
        max_content_length = MAX_UPLOAD_BYTES + FORM_OVERHEAD  # refused before the body is read
        max_form_memory_size = FORM_OVERHEAD

    defaults = Controls(studio.genres[0])
    page = PAGE.read_text(encoding="utf-8").replace("{{CONFIG}}", json.dumps({
        "genres": list(studio.genres), "defaults": {k: getattr(defaults, k) for k in
                                                    ("strength", "level", "timing", "articulation", "pedal",
                                                     "timing_as")},
        "genre": "jazz" if "jazz" in studio.genres else studio.genres[0],
        "maxBytes": MAX_UPLOAD_BYTES, "maxMinutes": MAX_MINUTES, "audio": studio.sound_error or None,
    }).replace("</", "<\\/"))
    routes = Map([Rule("/", endpoint="page", methods=["GET"]),
                  Rule("/api/jobs", endpoint="submit", methods=["POST"]),
                  Rule("/api/jobs/<job_id>", endpoint="job", methods=["GET", "DELETE"]),
                  Rule("/api/jobs/<job_id>/<kind>", endpoint="file", methods=["GET"])])

    def reply(body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json",
                        headers={"Cache-Control": "no-store"})

    def allowed(request) -> str:
        """'' if the request may be answered, else why not."""
        name = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        # Bound to one address, the studio answers to it and to this computer's own names; bound to every
        # address (0.0.0.0, ::) it cannot know the names it is reached by, and `stylenet studio` warned.
        if host not in ANY_ADDRESS and name.strip("[]") not in (*LOOPBACK, host.strip("[]")):
            return f"this studio answers at {'localhost' if host in LOOPBACK else host}, not at {request.host[:80]}"
        origin = request.headers.get("Origin")
        if request.method in ("POST", "DELETE") and origin and origin.split("://", 1)[-1] != request.host:
            return "a request from another site is refused"
        return ""

    def submit(request) -> Response:
        upload = request.files.get("file")
        if upload is None:
            return reply({"error": "no file in the upload (a form field named 'file')"}, 400)
        name = upload.filename or "upload.mid"
        data = upload.stream.read(MAX_UPLOAD_BYTES + 1)
        try:
            controls = Controls.from_form(request.form, studio.genres)
        except ValueError as exc:
            return reply({"error": f"{name}: {exc}"}, 400)
        try:
            job = studio.submit(name, data, controls)
        except Refused as exc:
            return reply({"error": str(exc)}, exc.status)
        return reply(job.public(), 202)

    def job_view(request, job_id: str) -> Response:
        if request.method == "DELETE":
            if studio.remove(job_id):
                return reply({"removed": job_id})
            found = studio.get(job_id)
            return reply({"error": "still being performed" if found else "no such file here"}, 409 if found else 404)
        found = studio.get(job_id)
        if found is None:
            return reply({"error": "no such file here (the studio keeps the latest files; drop it again)"}, 404)
        return reply(found[0].public(found[1]))

    def file_view(request, job_id: str, kind: str) -> Response:
        found = studio.file(job_id, kind)
        gone = reply({"error": f"no {kind[:20]} for this file (the studio keeps the latest files; drop it again)"},
                     404)
        if found is None:
            return gone
        path, name = found
        try:
            return send_file(path, request.environ, mimetype="audio/midi" if kind == "midi" else "audio/wav",
                             as_attachment="download" in request.args, download_name=name, conditional=True,
                             max_age=0)
        except FileNotFoundError:  # removed (another tab, or pushed out by newer files) since the lookup
            return gone

    views = {"page": lambda request: Response(page, mimetype="text/html", headers={"Cache-Control": "no-store"}),
             "submit": submit, "job": job_view, "file": file_view}

    @StudioRequest.application
    def app(request):
        why = allowed(request)
        if why:
            return reply({"error": why}, 403)
        try:
            endpoint, values = routes.bind_to_environ(request.environ).match()
            return views[endpoint](request, **values)
        except HTTPException as exc:
            if exc.code == 413:
                too_long = (request.content_length or 0) > StudioRequest.max_content_length
                return reply({"error": f"the upload is over the studio's {MAX_UPLOAD_BYTES // 2 ** 20} MB limit "
                                       "for one file" if too_long else "the upload's form is too large"}, 413)
            return reply({"error": exc.description or exc.name}, exc.code or 400)

    return app


def make_server(studio: Studio, host: str = "127.0.0.1", port: int = 8765):
    """A threaded Werkzeug server for the studio (call serve_forever); port 0 picks a free one."""
    from werkzeug.serving import make_server as werkzeug_server

    from stylenet.core.errors import StyleNetError

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    if not 0 <= int(port) <= 65535:
        raise StyleNetError(f"--port {port}: a port is a number from 0 to 65535 (0 picks a free one)", exit_code=2)
    try:
        return werkzeug_server(host, port, make_app(studio, host), threaded=True)
    except (OSError, OverflowError, SystemExit) as exc:  # Werkzeug exits when the port is taken
        raise StyleNetError(f"cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc}); "
                            "--port N chooses another", exit_code=2) from None
