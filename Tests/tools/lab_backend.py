#!/usr/bin/env python3
"""A lab health backend: answers GET/HEAD /healthz with 200 "ok" (everything else 404).

Usage: lab_backend.py ADDRESS PORT [SLOW_SECONDS]
SIGUSR1 makes it slow (wait SLOW_SECONDS before each answer), SIGUSR2 fast again: lab/drlab.py's "slow"
region on kernels without netem, switched without a moment of "connection refused".
Used by scripts/run-lab.sh (127.0.0.11:8081 and 127.0.0.12:8081) and by the failover tests.
Stop it (SIGTERM/SIGKILL) to fail the region; start it again to recover.
"""
import http.server
import signal
import socketserver
import sys
import time


SLOW = 0.0      # the delay SIGUSR1 switches on
DELAY = 0.0     # the delay in force


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "gtmd-lab-backend/1"

    def _reply(self, body):
        if DELAY > 0:
            time.sleep(DELAY)
        ok = self.path.split("?")[0] == "/healthz"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return ok

    def do_GET(self):
        body = b"ok\n"
        if self._reply(body):
            self.wfile.write(body)

    def do_HEAD(self):
        self._reply(b"ok\n")

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global SLOW
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: lab_backend.py ADDRESS PORT [SLOW_SECONDS]")
    addr, port = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) == 4:
        SLOW = float(sys.argv[3])

    def set_delay(d):
        global DELAY
        DELAY = d
    signal.signal(signal.SIGUSR1, lambda *_: set_delay(SLOW))
    signal.signal(signal.SIGUSR2, lambda *_: set_delay(0.0))
    # A parent that blocks these signals (a test runner's threads) passes its mask on: unblock them here.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGUSR2})
    srv = Server((addr, port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"lab backend listening on {addr}:{port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
