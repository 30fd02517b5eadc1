import Foundation
import Testing

@testable import Health

/// Real loopback backends for the prober: one python3 process serving HTTP, several HTTPS ports (one per
/// test certificate), a closed port and a "blackhole" port whose accept queue is full. Certificates are
/// made at test time with the openssl CLI. The process exits when the test process does (its stdin closes).
final class Backend: Sendable {
    struct Ports: Codable, Sendable {
        var http: Int
        var closed: Int
        var blackhole: Int
        var https: [String: Int]
    }

    let ports: Ports
    let certDir: String
    let pid: Int32
    private let control: FileHandle

    var caFile: String { certDir + "/ca.pem" }
    func httpsPort(_ name: String) -> Int { ports.https[name]! }

    private init(ports: Ports, certDir: String, pid: Int32, control: FileHandle) {
        self.ports = ports
        self.certDir = certDir
        self.pid = pid
        self.control = control
    }

    /// The backend most tests share; started once.
    static let shared = Task { try Backend.start() }

    /// Makes `/flip/<key>` answer `status` from now on (0: hang).
    func set(_ key: String, _ status: Int) {
        control.write(Data("set \(key) \(status)\n".utf8))
    }

    func kill() {
        _ = Foundation.kill(pid, SIGKILL)
    }

    static func start() throws -> Backend {
        guard let python = Tools.python3, let openssl = Tools.openssl else {
            throw TestFailure("python3 and openssl are needed for the health backend tests")
        }
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("gtmd-health-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try makeCertificates(in: dir, openssl: openssl)
        let script = dir + "/backend.py"
        try backendScript.write(toFile: script, atomically: true, encoding: .utf8)
        let portsFile = dir + "/ports.json"

        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, dir, portsFile]
        let stdin = Pipe()
        p.standardInput = stdin
        p.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: dir + "/backend.log", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: dir + "/backend.log")
        try p.run()
        let deadline = Date().addingTimeInterval(10)
        var tries = 0
        while tries < 2000, Date() < deadline {
            if let data = FileManager.default.contents(atPath: portsFile),
                let ports = try? JSONDecoder().decode(Ports.self, from: data)
            {
                return Backend(ports: ports, certDir: dir, pid: p.processIdentifier, control: stdin.fileHandleForWriting)
            }
            if !p.isRunning { break }
            usleep(10_000)
            tries += 1
        }
        let log = (try? String(contentsOfFile: dir + "/backend.log", encoding: .utf8)) ?? ""
        _ = Foundation.kill(p.processIdentifier, SIGKILL)
        throw TestFailure("backend did not start: \(log)")
    }

    /// CA, a second (untrusted) CA, and leaf certificates: valid, expired, wrongname, soon (3 days), untrusted.
    static func makeCertificates(in dir: String, openssl: String) throws {
        let script = #"""
            set -euo pipefail
            cd "$1"
            OPENSSL="$2"
            ts() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
            mkca() {
              "$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.pem" \
                -subj "/CN=$2" -days 3650 -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
            }
            mkca ca "gtmd health test CA"
            mkca otherca "some other CA"
            mkdir -p db && : > db/index.txt && echo 1000 > db/serial
            cat > ca.cnf <<'EOF'
            [ca]
            default_ca = tca
            [tca]
            database = db/index.txt
            serial = db/serial
            new_certs_dir = db
            default_md = sha256
            policy = pol
            unique_subject = no
            [pol]
            commonName = supplied
            EOF
            leaf() { # name san start end ca
              printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\n' "$2" > "$1.ext"
              "$OPENSSL" req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" \
                -subj "/CN=$1" 2>/dev/null
              "$OPENSSL" ca -batch -config ca.cnf -cert "$5.pem" -keyfile "$5.key" -in "$1.csr" -out "$1.pem" \
                -startdate "$3" -enddate "$4" -extfile "$1.ext" -notext 2>/dev/null
            }
            SAN="DNS:localhost,IP:127.0.0.1"
            leaf valid "$SAN" "$(ts '-1 hour')" "$(ts '+90 days')" ca
            leaf expired "$SAN" "$(ts '-3 days')" "$(ts '-1 day')" ca
            leaf wrongname "DNS:wrong.example.net" "$(ts '-1 hour')" "$(ts '+90 days')" ca
            leaf soon "$SAN" "$(ts '-1 hour')" "$(ts '+3 days')" ca
            leaf untrusted "$SAN" "$(ts '-1 hour')" "$(ts '+90 days')" otherca
            """#
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", script, "make-certs", dir, openssl]
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TestFailure("making test certificates failed: \(String(decoding: errData, as: UTF8.self))")
        }
    }

    static let backendScript = #"""
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
        """#
}

enum Tools {
    static let python3: String? = find("python3")
    static let openssl: String? = find("openssl")
    static var available: Bool { python3 != nil && openssl != nil }

    static func find(_ name: String) -> String? {
        var dirs = ["/usr/bin", "/usr/local/bin", "/bin"]
        if let path = ProcessInfo.processInfo.environment["PATH"] {
            dirs += path.split(separator: ":").map(String.init)
        }
        for d in dirs where FileManager.default.isExecutableFile(atPath: d + "/" + name) {
            return d + "/" + name
        }
        return nil
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes (bounded in count too).
func eventually(
    _ timeout: Duration, _ condition: () async -> Bool
) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    var n = 0
    while n < 100_000 {
        if await condition() { return true }
        if clock.now >= end { return false }
        try? await Task.sleep(for: .milliseconds(10))
        n += 1
    }
    return false
}

/// A unique key for `/flip/<key>`.
func uniqueKey(_ prefix: String = "k") -> String {
    "\(prefix)\(UInt64.random(in: 0...UInt64.max))"
}

extension Duration {
    var secondsDouble: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
