import ConfigText

/// Every key the parser accepts, by section (the `allowed:` sets of `YAMLReader.mapping`). config/example.yaml
/// documents each one; `Tests/ConfigTests/DocsTests` checks that it does.
extension ConfigLoader {
    static let topLevelKeys: Set<String> = [
        "server", "zones", "checks", "health", "pools", "services", "state_file", "regions", "geo", "control",
        "fleet",
    ]
    static let serverKeys: Set<String> = [
        "listen", "edns_buffer_size", "nsid", "version", "identity", "udp_workers", "udp_socket_buffer", "tcp", "rrl",
    ]
    static let tcpKeys: Set<String> = [
        "max_connections", "max_connections_per_client", "idle_timeout", "query_timeout",
    ]
    static let zoneKeys: Set<String> = ["origin", "file", "dnssec"]
    static let healthKeys: Set<String> = ["initial_state", "max_in_flight", "coalesce_window"]
    static let memberKeys: Set<String> = ["address", "cname", "weight", "checks"]
    static let regionKeys: Set<String> = ["latitude", "longitude", "bias"]
    static let controlKeys: Set<String> = ["listen", "token_file"]
    static let fleetKeys: Set<String> = ["name", "etcd", "node", "vantage", "quorum", "on_store_loss", "lease_ttl"]
    static let fleetEtcdKeys: Set<String> = ["endpoints", "tls", "auth", "request_timeout"]
    static let fleetTLSKeys: Set<String> = ["ca_file", "cert_file", "key_file"]
    static let fleetAuthKeys: Set<String> = ["username_file", "password_file"]

    /// Section path → the keys it accepts.
    static var knownKeys: [String: Set<String>] {
        [
            "": topLevelKeys, "server": serverKeys, "server.tcp": tcpKeys, "server.rrl": rateLimitKeys,
            "zones[]": zoneKeys, "zones[].dnssec": dnssecKeys,
            "health": healthKeys, "checks.NAME": checkKeys, "pools.NAME": poolKeys, "pools.NAME.members[]": memberKeys,
            "services.NAME": serviceKeys, "regions.NAME": regionKeys, "geo": geoKeys, "control": controlKeys,
            "fleet": fleetKeys, "fleet.etcd": fleetEtcdKeys, "fleet.etcd.tls": fleetTLSKeys,
            "fleet.etcd.auth": fleetAuthKeys,
        ]
    }
}
