// floor: the start-up floor of a Swift program that answers DNS (bench/startup.py, peer `swift-floor`).
//
//   floor -p PORT [-s 127.0.0.1]
//
// Built by startup.py with gtmd's release link (the Swift runtime static, lld, DT_RELR, no exported symbols),
// so its start is what any Swift server pays before its own work: exec, the dynamic loader, the runtime's
// start. It binds one UDP socket and answers every question with the question and one A record 127.0.0.11
// (www.lab.example's), from one thread, with no zone, no config and no checks: a floor, not a server.
// Loopback only. Stops on SIGTERM (the default action).
import Glibc

var port: UInt16 = 0
var address = "127.0.0.1"
let args = CommandLine.arguments
var i = 1
while i + 1 < args.count {
  switch args[i] {
  case "-p": port = UInt16(args[i + 1]) ?? 0
  case "-s": address = args[i + 1]
  default: break
  }
  i += 2
}
guard port != 0 else {
  fputs("usage: floor -p PORT [-s 127.0.0.1]\n", stderr)
  exit(2)
}
let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
var local = sockaddr_in()
local.sin_family = sa_family_t(AF_INET)
local.sin_port = port.bigEndian
local.sin_addr.s_addr = inet_addr(address)
let bound = withUnsafePointer(to: &local) {
  $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
}
guard fd >= 0, bound == 0 else {
  perror("floor: bind \(address):\(port)")
  exit(1)
}
// The answer: a pointer to the question's name, A, IN, TTL 30, 127.0.0.11.
let record: [UInt8] = [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, 11]
var buffer = [UInt8](repeating: 0, count: 512 + record.count)
var peer = sockaddr_storage()
while true {
  var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
  let n = withUnsafeMutablePointer(to: &peer) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, 512, 0, $0, &peerLength) }
  }
  guard n >= 17 else { continue }
  // The end of the question: its name's labels, then type and class.
  var end = 12
  while end < n, buffer[end] != 0, buffer[end] < 64 { end += Int(buffer[end]) + 1 }
  end += 5
  guard end <= n, buffer[end - 5] == 0 else { continue }
  buffer[2] = 0x84  // QR, AA, opcode QUERY
  buffer[3] = 0
  buffer[6] = 0
  buffer[7] = 1  // one answer
  buffer[8] = 0
  buffer[9] = 0
  buffer[10] = 0
  buffer[11] = 0  // no authority, no additional: an OPT in the query is dropped
  for (k, byte) in record.enumerated() { buffer[end + k] = byte }
  _ = withUnsafePointer(to: &peer) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buffer, end + record.count, 0, $0, peerLength) }
  }
}
