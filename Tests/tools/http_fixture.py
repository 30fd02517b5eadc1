#!/usr/bin/env python3
"""An HTTP/1.1 server on loopback for the control client's tests (Tests/IntegrationTests/ControlClientTests.swift).

Usage: http_fixture.py [serve|hang|cut]. Prints its port on the first line of stdout, then serves until stdin
closes or 60 s pass.
  serve:  GET /status   200, JSON in three chunks (Transfer-Encoding: chunked), connection kept alive
          GET /explain  200, JSON with Content-Length, connection kept alive
  hang:   reads each request, never answers
  cut:    promises 1000 bytes, sends 10, closes
Every connection stays open after a reply (keep-alive) until the client closes it.
"""
import http.server, json, sys, threading, time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        if MODE == "hang":
            time.sleep(30)
        elif MODE == "cut":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/status":
            body = json.dumps({"chunked": True, "pieces": ["a" * 3000, "b" * 3000]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 2500):
                piece = body[i:i + 2500]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/explain"):
            body = json.dumps({"sized": True, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)


MODE = sys.argv[1] if len(sys.argv) > 1 else "serve"
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
deadline = time.time() + 60
while time.time() < deadline and sys.stdin.read(1):
    pass
server.shutdown()
