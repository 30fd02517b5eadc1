import DNSWire

extension CompiledZones {
    /// The zone `origin` as served, for `gtmd dnssec dump` and zone verifiers (ldns-verify-zone): every RRset
    /// (the services' as last injected), its RRSIGs, and the NSEC/NSEC3 chain with its RRSIGs; the SOA first.
    /// Nil when the zone is not one of these.
    public func servedZone(_ origin: DNSName) -> [ResourceRecord]? {
        guard let zi = origins.firstIndex(of: origin.lowercased) else { return nil }
        var out: [ResourceRecord] = []
        forEachNode { n in
            guard n.zone == zi else { return }
            let types = n.typeOrder.sorted {
                ($0 == RRType.SOA ? 0 : Int($0) + 1) < ($1 == RRType.SOA ? 0 : Int($1) + 1)
            }
            for t in types {
                guard let set = n.rrsets[t], !set.isEmpty else { continue }
                out += set
                out += sigs(set)
            }
        }
        if let c = chains[zi] {
            for i in c.names.indices {
                let r = chainRecord(zi, i)
                out.append(r)
                out += sigs([r])
            }
        }
        return out
    }
}
