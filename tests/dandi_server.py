"""A loopback HTTP server speaking the DANDI API routes the dandi client uses, serving files with Range.

Routes: /server-info and /api/info/ (instance discovery), /api/dandisets/{id}/,
/api/dandisets/{id}/versions/{v}/assets/ (paginated, ?path= prefix),
/api/dandisets/{id}/versions/{v}/assets/{asset_id}/ (metadata with contentUrl and digest),
/api/assets/{asset_id}/download/ (302 to the blob) and /blobs/{asset_id} (bytes, Range requests).

The server runs in its own process: served from a thread of the test process, a garbage
collection in the server thread can finalise an h5py object and wait for h5py's global lock
while the main thread holds it inside ``h5py.File`` waiting for this server's bytes (a deadlock
seen in the suite). ``FakeDandi.requests`` asks the server process for its counters.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STAMP = "2024-01-01T00:00:00Z"


class FakeDandi:
    """The test side: publish files with ``add``, then ``start`` the server process."""

    def __init__(self):
        self.dandisets: dict[str, dict] = {}
        self._proc: subprocess.Popen | None = None
        self.base = self.api_url = None

    def add(self, dandiset: str, files: dict[str, str], version: str = "0.240101.0000"):
        """Publish ``{asset_path: local_file}`` as ``dandiset`` at ``version`` (draft too)."""
        assets = []
        for path, local in files.items():
            aid = hashlib.md5(f"{dandiset}/{path}".encode()).hexdigest()
            assets.append(
                {
                    "asset_id": aid,
                    "blob": "blob-" + aid,
                    "zarr": None,
                    "path": path,
                    "size": os.path.getsize(local),
                    "created": STAMP,
                    "modified": STAMP,
                    "_file": local,
                }
            )
        self.dandisets[dandiset] = {"version": version, "assets": assets}

    def start(self):
        self._proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._proc.stdin.write(json.dumps(self.dandisets) + "\n")
        self._proc.stdin.flush()
        port = self._proc.stdout.readline().strip()  # the server prints its port once it listens
        if not port:
            raise RuntimeError("the loopback DANDI server did not start")
        self.base = f"http://127.0.0.1:{port}"
        self.api_url = self.base + "/api"
        return self

    @property
    def requests(self) -> Counter:
        """How many requests of each kind (info, api, blob) the server has answered."""
        with urllib.request.urlopen(self.base + "/_requests", timeout=10) as r:
            return Counter(json.load(r))

    def stop(self):
        self._proc.stdin.close()  # the server exits when its stdin closes
        self._proc.wait(timeout=10)


class _Server:
    """The server process's side: answers the routes from the published dandisets."""

    def __init__(self, dandisets: dict[str, dict]):
        self.dandisets = dandisets
        self.requests: Counter = Counter()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.api_url = self.base + "/api"

    def _version(self, ident, name):
        d = self.dandisets[ident]
        return {
            "version": name,
            "name": f"Dandiset {ident}",
            "asset_count": len(d["assets"]),
            "size": sum(a["size"] for a in d["assets"]),
            "created": STAMP,
            "modified": STAMP,
            "status": "Valid",
        }

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, obj, status=200):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _asset(self, aid):
                for d in fake.dandisets.values():
                    for a in d["assets"]:
                        if a["asset_id"] == aid:
                            return a
                return None

            def _blob(self, asset):
                size = asset["size"]
                rng = self.headers.get("Range")
                start, stop = 0, size - 1
                if rng:
                    m = re.match(r"bytes=(\d+)-(\d*)", rng)
                    start = int(m.group(1))
                    stop = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
                self.send_response(206 if rng else 200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(stop - start + 1))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{stop}/{size}")
                self.end_headers()
                if self.command != "HEAD":
                    with open(asset["_file"], "rb") as fh:
                        fh.seek(start)
                        self.wfile.write(fh.read(stop - start + 1))

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                path, query = url.path, urllib.parse.parse_qs(url.query)
                if path == "/_requests":
                    return self._json(dict(fake.requests))
                if path in ("/server-info", "/api/info/"):
                    fake.requests["info"] += 1
                    return self._json(
                        {
                            "version": "1.0",
                            "services": {"api": {"url": fake.api_url}, "webui": {"url": fake.base}},
                            "cli-minimal-version": "0.0.0",
                            "cli-bad-versions": [],
                        }
                    )
                if m := re.fullmatch(r"/blobs/(\w+)", path):
                    fake.requests["blob"] += 1
                    asset = self._asset(m.group(1))
                    return self._blob(asset) if asset else self._json({"detail": "Not found."}, 404)
                if m := re.fullmatch(r"/api/assets/(\w+)/download/", path):
                    self.send_response(302)
                    self.send_header("Location", f"{fake.base}/blobs/{m.group(1)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                fake.requests["api"] += 1
                if m := re.fullmatch(r"/api/dandisets/(\d+)/", path):
                    if m.group(1) not in fake.dandisets:
                        return self._json({"detail": "Not found."}, 404)
                    ident = m.group(1)
                    return self._json(
                        {
                            "identifier": ident,
                            "created": STAMP,
                            "modified": STAMP,
                            "contact_person": "Test Person",
                            "embargo_status": "OPEN",
                            "most_recent_published_version": fake._version(ident, fake.dandisets[ident]["version"]),
                            "draft_version": fake._version(ident, "draft"),
                        }
                    )
                m = re.fullmatch(r"/api/dandisets/(\d+)/versions/([^/]+)/assets/(?:(\w+)/)?", path)
                if m:
                    ident, version, aid = m.groups()
                    d = fake.dandisets.get(ident)
                    if d is None or version not in (d["version"], "draft"):
                        return self._json({"detail": "Not found."}, 404)
                    if aid:
                        a = self._asset(aid)
                        return self._json(
                            {
                                "identifier": aid,
                                "path": a["path"],
                                "contentSize": a["size"],
                                "encodingFormat": "application/x-nwb",
                                "digest": {"dandi:dandi-etag": hashlib.md5(aid.encode()).hexdigest() + "-1"},
                                "contentUrl": [f"{fake.api_url}/assets/{aid}/download/", f"{fake.base}/blobs/{aid}"],
                            }
                        )
                    prefix = query.get("path", [""])[0]
                    results = [
                        {k: v for k, v in a.items() if not k.startswith("_")}
                        for a in d["assets"]
                        if a["path"].startswith(prefix)
                    ]
                    return self._json({"count": len(results), "next": None, "results": results})
                return self._json({"detail": "Not found."}, 404)

        return Handler


def main():
    import threading

    server = _Server(json.loads(sys.stdin.readline()))
    threading.Thread(target=server.httpd.serve_forever, daemon=True).start()
    print(server.httpd.server_address[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin (or dies)
    server.httpd.shutdown()
    server.httpd.server_close()


if __name__ == "__main__":
    main()
