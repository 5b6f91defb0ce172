#!/usr/bin/python3
"""Checks the AWS Signature V4 of every signed request, then passes it on to s3rver.

  SIGV4_SECRET=SECRET_ACCESS_KEY sigv4_proxy.py PORT UPSTREAM_PORT ACCESS_KEY_ID

s3rver 3.7 checks only the access key id of a signed request. This proxy, on
127.0.0.1:PORT, recomputes the signature (the canonical request of the AWS
documentation: method, URI as sent, query sorted by name, the signed headers,
x-amz-content-sha256 as the payload hash) with the one known key pair and answers
403 SignatureDoesNotMatch when it differs; unsigned requests and good signatures go to
s3rver on UPSTREAM_PORT unchanged. The secret comes in the environment, so that no
command line holds it. Serves until killed.
"""
import hashlib, hmac, http.client, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UPSTREAM, KEY_ID, SECRET = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], os.environ["SIGV4_SECRET"]


def signature_ok(method, target, headers):
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return True  # unsigned: s3rver decides
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    key_id, date, region, service, _ = fields["Credential"].split("/")
    if key_id != KEY_ID:
        return True  # s3rver answers InvalidAccessKeyId
    path, _, query = target.partition("?")
    pairs = sorted(tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p)
    signed = fields["SignedHeaders"].split(";")
    canonical_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    canonical = "\n".join([method, path, "&".join(f"{k}={v}" for k, v in pairs), canonical_headers,
                           fields["SignedHeaders"], headers.get("x-amz-content-sha256", "")])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers.get("x-amz-date", ""), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + SECRET).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest(), fields["Signature"])


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if not signature_ok(self.command, self.path, self.headers):
            out = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
                   b"<Message>The request signature we calculated does not match the signature you provided."
                   b"</Message></Error>")
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)
            return
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        up.request(self.command, self.path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", r.getheader("Content-Length") if self.command == "HEAD" and r.getheader("Content-Length") else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = relay


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
