"""HTTP/1.1 server and client used by record_sample.sh to make the sample's HTTP traffic.

Standard library only. `python3 -m http.server` answers in HTTP/1.0 and closes
every connection, so the sample would have no keep-alive, no chunked body and
no POST; this server speaks HTTP/1.1 and adds those.

    python3 data/record_sample.py serve --port 80 --root DIR
    python3 data/record_sample.py client --host ::1 --port 80
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CLIENT_UA = "kernelkit-sample/1.0 (Python http.client)"


def write_site(root: Path) -> None:
    """Write the small static site the server publishes."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "static").mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(
        "<!doctype html>\n<html><head><title>kernelkit sample</title>"
        '<link rel="stylesheet" href="/static/style.css"></head>\n'
        "<body><h1>kernelkit sample site</h1>\n"
        '<p><a href="/data/flows.json">flows</a> · <a href="/static/blob.txt">blob</a></p>\n'
        "</body></html>\n"
    )
    (root / "static" / "style.css").write_text("body { font-family: sans-serif; margin: 2em; }\n")
    flows = [
        {"src": "127.0.0.1", "dst": "127.0.0.1", "dport": 443, "sni": "www.example.com"},
        {"src": "::1", "dst": "::1", "dport": 80, "host": "www.kernelkit.test"},
    ]
    (root / "data" / "flows.json").write_text(json.dumps(flows, indent=2) + "\n")
    # Larger than one 64 KiB loopback segment, so the response spans several TCP segments.
    line = "kernelkit sample payload line {:06d} abcdefghijklmnopqrstuvwxyz0123456789\n"
    (root / "static" / "blob.txt").write_text("".join(line.format(i) for i in range(2000)))


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive by default

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/stream":
            self._chunked()
        else:
            super().do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        reply = json.dumps({"path": self.path, "received": len(body)}).encode() + b"\n"
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def _chunked(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(3):
            chunk = f"chunk {i} of a streamed response\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")


class DualStackServer(ThreadingHTTPServer):
    """Listens on [::] with IPV6_V6ONLY off, so one server answers 127.0.0.1 and ::1."""

    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve(port: int, root: Path) -> None:
    write_site(root)
    server = DualStackServer(("::", port), partial(Handler, directory=str(root)))
    print(f"serving {root} on [::]:{port}", file=sys.stderr, flush=True)
    server.serve_forever()


def client(host: str, port: int, vhost: str) -> None:
    """One keep-alive connection carrying three requests, then a clean close."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    headers = {"Host": vhost, "User-Agent": CLIENT_UA, "Accept": "*/*"}
    for method, uri, body in (
        ("GET", "/index.html", None),
        ("GET", "/data/flows.json", None),
        ("POST", "/api/echo?format=json", b'{"hello": "kernelkit"}'),
    ):
        hdrs = dict(headers)
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, uri, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        print(f"{method} http://{vhost}{uri} -> {resp.status} ({len(data)} bytes)")
    conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_serve = sub.add_parser("serve", help="run the HTTP/1.1 server")
    p_serve.add_argument("--port", type=int, default=80)
    p_serve.add_argument("--root", type=Path, required=True)
    p_client = sub.add_parser("client", help="make one keep-alive connection")
    p_client.add_argument("--host", default="127.0.0.1")
    p_client.add_argument("--port", type=int, default=80)
    p_client.add_argument("--vhost", default="www.kernelkit.test")
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        serve(args.port, args.root)
    else:
        client(args.host, args.port, args.vhost)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
