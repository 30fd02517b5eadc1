import ArgumentParser
import Control
import FoundationEssentials
import Glibc
import Steering

/// `gtmd events`: the event history of the running gtmd as a table (`GET /v1/events`), or followed live
/// (`-f`: the event stream, `GET /v1/events/stream`).
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Show the event history: switches, health changes, overrides, reloads (GET /v1/events).",
        discussion: """
            Examples:
              gtmd events --config config/lab.yaml --since 1h
              gtmd events --config config/lab.yaml --service www.lab.example -f
            """
    )
    @Option(name: .long, help: "Config file (YAML), for the control address.") var config: String?
    @OptionGroup var target: ControlTarget
    @Option(name: .long, help: "Only events since: an RFC 3339 time or a duration ago (90s, 15m, 1h, 2d).")
    var since: String?
    @Option(name: .long, help: "Only this service's events (and those of its pools' members).") var service: String?
    @Option(
        name: .long,
        help: "Only these kinds, comma-separated: switch, health, service, override, reload, server, fleet, keys."
    )
    var kind: String?
    @Option(name: .long, help: "At most this many (the newest).") var limit: Int?
    @Flag(name: [.short, .customLong("follow")], help: "Keep printing new events as they happen (Ctrl-C stops).")
    var follow = false
    @Flag(name: .long, help: "Print JSON (one event per line with -f).") var json = false

    var query: String {
        var items: [URLQueryItem] = []
        if let since { items.append(URLQueryItem(name: "since", value: since)) }
        if let service { items.append(URLQueryItem(name: "service", value: service)) }
        if let kind { items.append(URLQueryItem(name: "kind", value: kind)) }
        if let limit { items.append(URLQueryItem(name: "limit", value: String(limit))) }
        guard !items.isEmpty else { return "" }
        var comps = URLComponents()
        comps.queryItems = items
        return "?" + (comps.percentEncodedQuery ?? "").replacing("+", with: "%2B")
    }

    func run() async throws {
        let client = try target.client(config: try loadConfig(config), withToken: false)
        if follow { return try await followStream(client) }
        let body = try await call(client, "GET", "/v1/events" + query)
        if json {
            print(body, terminator: "")
            return
        }
        struct List: Decodable { var events: [GtmdEvent] }
        guard let list = try? ControlJSON.decoder.decode(List.self, from: Data(body.utf8)) else {
            print(body, terminator: "")
            return
        }
        if list.events.isEmpty {
            print("no events")
            return
        }
        print(EventTable.header)
        for e in list.events { print(EventTable.line(e)) }
    }

    func followStream(_ client: ControlClient) async throws {
        if !json { print(EventTable.header) }
        do {
            try await client.stream("/v1/events/stream" + query) { data in
                if json {
                    print(data)
                } else if let e = try? ControlJSON.decoder.decode(GtmdEvent.self, from: Data(data.utf8)) {
                    print(EventTable.line(e))
                }
                fflush(nil)
            }
        } catch let e as ControlClientError {
            printError("gtmd: \(e)")
            throw ExitCode(2)
        }
        printError("gtmd: the event stream ended (gtmd stopped?)")
        throw ExitCode(2)
    }
}
