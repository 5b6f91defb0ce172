#!/usr/bin/python3
"""A small STAC API item search over the catalog make_catalog.py wrote, for tests.

  search_server.py PORT DIR BASE_URL LOG

POST /search takes {"collections", "bbox", "datetime", "limit", "token"} and answers a
FeatureCollection of at most `limit` items with absolute asset hrefs (under BASE_URL).
Its "next" links alternate between the two forms of the STAC API: a POST with a body
to merge ({"token": ...}) and a GET of /search?token=...&limit=...&collections=...&
bbox=...&datetime=... . Every request's method and path go to LOG, one per line.
Serves on 127.0.0.1 until killed.
"""
import glob, json, os, posixpath, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

PORT, DIR, BASE, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]


def load():
    items = []
    for path in sorted(glob.glob(f"{DIR}/s2/items/*/*.json")):
        with open(path) as f:
            doc = json.load(f)
        rel = os.path.relpath(path, DIR)
        for a in doc["assets"].values():
            if "://" not in a["href"]:
                a["href"] = BASE + posixpath.normpath(posixpath.join(posixpath.dirname(rel), a["href"]))
        items.append(doc)
    return items


ITEMS = load()


def matches(doc, q):
    if q.get("collections") and doc["collection"] not in q["collections"]:
        return False
    if q.get("bbox"):
        w, s, e, n = q["bbox"]
        W, S, E, N = doc["bbox"]
        if W > e or E < w or S > n or N < s:
            return False
    if q.get("datetime"):
        lo, _, hi = q["datetime"].partition("/")
        t = doc["properties"]["datetime"]
        if lo not in ("", "..") and t < lo:
            return False
        if hi not in ("", "..") and t > hi:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, q):
        found = [d for d in ITEMS if matches(d, q)]
        start, limit = int(q.get("token") or 0), int(q.get("limit") or 10)
        page = found[start:start + limit]
        links = []
        if start + limit < len(found):
            nxt = str(start + limit)
            if (start // limit) % 2 == 0:
                links.append({"rel": "next", "href": f"http://127.0.0.1:{PORT}/search", "method": "POST",
                              "body": {"token": nxt}, "merge": True})
            else:
                query = f"token={nxt}&limit={limit}"
                if q.get("collections"):
                    query += "&collections=" + ",".join(q["collections"])
                if q.get("bbox"):
                    query += "&bbox=" + ",".join(str(v) for v in q["bbox"])
                if q.get("datetime"):
                    query += "&datetime=" + quote(q["datetime"], safe="")
                links.append({"rel": "next", "href": f"/search?{query}", "type": "application/geo+json"})
        body = json.dumps({"type": "FeatureCollection", "features": page, "links": links,
                           "numberMatched": len(found), "numberReturned": len(page)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log(self, what):
        with open(LOG, "a") as f:
            f.write(what + "\n")

    def do_POST(self):
        self.log(f"POST {self.path}")
        if urlsplit(self.path).path != "/search":
            self.send_error(404)
            return
        n = int(self.headers.get("Content-Length") or 0)
        try:
            q = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            self.send_error(400)
            return
        self.answer(q)

    def do_GET(self):
        self.log(f"GET {self.path}")
        u = urlsplit(self.path)
        if u.path != "/search":
            self.send_error(404)
            return
        p = {k: v[0] for k, v in parse_qs(u.query).items()}
        q = {"token": p.get("token"), "limit": p.get("limit"), "datetime": p.get("datetime"),
             "collections": p["collections"].split(",") if p.get("collections") else None,
             "bbox": [float(v) for v in p["bbox"].split(",")] if p.get("bbox") else None}
        self.answer(q)


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
