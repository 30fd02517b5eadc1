import json, os, socket, ssl, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

certdir, portsfile = sys.argv[1], sys.argv[2]
state = {}
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 20

    def log_message(self, *args):
        pass

    def send(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def route(self):
        path = self.path.split("?")[0]
        parts = [p for p in path.split("/") if p]
        head = parts[0] if parts else ""
        if path == "/ok":
            return self.send(200, b"hello from the gtmd test backend\n")
        if head == "status":
            code = int(parts[1])
            return self.send(code, b"status %d\n" % code)
        if path == "/body":
            return self.send(200, b"something else entirely\n")
        if path == "/hang":
            time.sleep(60)
            return
        if path == "/close":
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except Exception:
                pass
            self.close_connection = True
            return
        if path == "/echo":
            text = "%s %s\n" % (self.command, self.path)
            text += "".join("%s: %s\n" % (k, v) for k, v in self.headers.items())
            return self.send(200, text.encode())
        if path == "/big":
            return self.send(200, b"x" * (200 * 1024) + b"NEEDLE")
        if head == "flip":
            with lock:
                code = state.get(parts[1], 200)
            if code == 0:
                time.sleep(60)
                return
            return self.send(code, b"flip %d\n" % code)
        if head == "late-body":
            # Headers first, the body 50 ms later: whether that write reached an open connection is kept
            # under the key, for /late-result/<key> (200: written, 500: the prober had reset the connection).
            body = b"late body\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            time.sleep(0.05)
            try:
                self.wfile.write(body)
                self.wfile.flush()
                code = 200
            except OSError:
                code = 500
            with lock:
                state["late:" + parts[1]] = code
            self.close_connection = True
            return
        if head == "late-result":
            with lock:
                code = state.get("late:" + parts[1], 404)
            return self.send(code, b"")
        if head == "slow":
            time.sleep(int(parts[1]) / 1000.0)
            return self.send(200, b"slow\n")
        return self.send(404, b"not found\n")

    do_GET = route
    do_HEAD = route

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    ctx = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ctx is not None:
            sock = self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        pass

def serve(ctx=None):
    s = Server(("127.0.0.1", 0), Handler)
    s.ctx = ctx
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s.server_address[1]

ports = {"http": serve(), "https": {}}
for name in ["valid", "expired", "wrongname", "soon", "untrusted"]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(certdir, name + ".pem"), os.path.join(certdir, name + ".key"))
    ports["https"][name] = serve(ctx)

closed = socket.socket()
closed.bind(("127.0.0.1", 0))
ports["closed"] = closed.getsockname()[1]
closed.close()

# Never accepts; once its queue is full, new SYNs are dropped and connects hang.
hole = socket.socket()
hole.bind(("127.0.0.1", 0))
hole.listen(0)
ports["blackhole"] = hole.getsockname()[1]
fillers = []
for _ in range(3):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", ports["blackhole"]))
    except BlockingIOError:
        pass
    fillers.append(c)
time.sleep(0.05)

tmp = portsfile + ".tmp"
with open(tmp, "w") as f:
    json.dump(ports, f)
os.rename(tmp, portsfile)

for line in sys.stdin:
    words = line.split()
    if len(words) == 3 and words[0] == "set":
        with lock:
            state[words[1]] = int(words[2])
os._exit(0)
