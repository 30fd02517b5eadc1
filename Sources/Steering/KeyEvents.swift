import Answers
import Config
import DNSWire
import FoundationEssentials
import Logging
import Zones

extension SteeringCore {
    /// Warn this long before a role's signing ends with no successor (log, metric, alert rule).
    public static let keyWarningLead: Int64 = 7 * 86_400

    /// A key event is due (timing metadata): compiles the zones again, so the DNSKEY and CDS sets and the
    /// signatures follow the keys' new states (a key that starts or stops signing re-signs what it signs; the
    /// signature cache keeps the rest), and logs and records each key that changed state.
    func rollKeys(now: Date) {
        let signers = publisher.prepared.signers
        let before = signers.mapValues { s in
            let r = s.roles
            return Dictionary(uniqueKeysWithValues: s.schedule.states(at: r.at).map { ($0.key.keyTag, $0.state) })
        }
        var prepared = publisher.prepared
        rollAutoKeys(&prepared, now: now)
        publisher = Publisher(prepared: prepared)
        for (zone, s) in prepared.signers.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            let r = s.roles
            for st in s.schedule.states(at: r.at) {
                let was = before[zone]?[st.key.keyTag]
                guard was != st.state else { continue }
                let what =
                    "\(st.key.fileName) (\(s.schedule.role(st.key).rawValue.uppercased()), key tag \(st.key.keyTag)): \(was?.rawValue ?? "-") → \(st.state.rawValue)"
                logger.notice(
                    "dnssec: key event",
                    metadata: ["zone": "\(zone)", "key": "\(what)", "dnskey.count": "\(r.published.count)"]
                )
                record(GtmdEvent(at: now, kind: .keys, action: st.state.rawValue, service: "\(zone)", reason: what))
            }
            for o in r.overstaying {
                logger.error(
                    "dnssec: no other key is active: still signing with a key past its end; make a successor",
                    metadata: ["zone": "\(zone)", "key": "\(o.fileName)"]
                )
            }
        }
    }

    /// `keys: auto` zones whose CSK reached `key_lifetime`: writes the successor into the auto folder (through
    /// `DnssecKeys.load`, as at start) and swaps in the zone's new signer. When that fails the zone keeps its
    /// signer without the automatic roll (logged as an error; a reload tries again), so the loop does not spin.
    func rollAutoKeys(_ prepared: inout Prepared, now: Date) {
        let t = Int64(now.timeIntervalSince1970)
        let due = prepared.signers.filter { $0.value.rollDue(at: t) }
        guard !due.isEmpty else { return }
        var maxTTL: [DNSName: UInt32] = [:]
        for z in prepared.zones { maxTTL[z.origin.lowercased] = z.records.map(\.record.ttl).max() ?? 0 }
        let config = prepared.config
        let loaded = DnssecKeys.load(
            config: config,
            stateFile: config.stateFile ?? StateFile.defaultPath(configFile: config.file),
            createKeys: true,
            maxTTL: maxTTL,
            now: t
        )
        for (zone, old) in due.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            if let s = loaded.signers[zone], !s.rollDue(at: t) {
                prepared.signers[zone] = s
                let notice = loaded.keysMade["\(zone)"] ?? "dnssec: successor key for \(zone)"
                logger.notice("\(notice)", metadata: ["zone": "\(zone)"])
                record(GtmdEvent(at: now, kind: .keys, action: "successor", service: "\(zone)", reason: notice))
            } else {
                let why = loaded.problems.joined(separator: "; ")
                logger.error(
                    "dnssec: the automatic key roll could not write the successor key; the current key keeps signing (reload to try again)",
                    metadata: ["zone": "\(zone)", "problem": "\(why.isEmpty ? "no signer" : why)"]
                )
                prepared.signers[zone] = ZoneSigner(
                    zone: old.zone,
                    keys: old.keys,
                    nsec3: old.nsec3,
                    validity: old.validity,
                    refresh: old.refresh,
                    dnskeyTTL: old.dnskeyTTL,
                    cds: old.cds
                )
            }
        }
    }

    /// Logs a warning, at most once a day per zone and role, when a role's signing ends with no successor
    /// within `keyWarningLead` (or has already ended and a key overstays).
    func warnKeysEnding(now: Date) {
        let t = Int64(now.timeIntervalSince1970)
        for (zone, s) in publisher.prepared.signers {
            for e in s.schedule.signingEnds(from: t) where e.at - t < Self.keyWarningLead {
                let id = "\(zone) \(e.role.rawValue)"
                if let w = keyWarnings[id], w.end == e.at, now.timeIntervalSince(w.at) < 86_400 { continue }
                keyWarnings[id] = (e.at, now)
                logger.warning(
                    "dnssec: signing ends with no successor key: make one (gtmd dnssec keygen --publish/--activate)",
                    metadata: [
                        "zone": "\(zone)", "role": "\(e.role.rawValue)", "ends": "\(KeyTiming.iso(e.at))",
                        "keys": "\(e.keys.map(\.fileName).joined(separator: ","))",
                    ]
                )
            }
        }
    }
}
