import Config
import Foundation
import TestSupport
import Testing

@Suite struct GeoConfigLoading {
    static let base = """
        zones:
          - origin: lab.example
            file: ../zones/lab.example.zone
        pools:
          pa: { region: a, members: [192.0.2.1] }
          pb: { region: b, members: [192.0.2.2] }
          pc: { region: c, members: [192.0.2.3] }
        regions:
          a: { latitude: 50.11, longitude: 8.68 }
          b: { latitude: 53.35, longitude: -6.26 }
          c: { latitude: 40.71, longitude: -74.01 }

        """

    func load(_ yaml: String) -> Result<GtmdConfig, ConfigProblems> {
        ConfigLoader.parse(
            Self.base + yaml,
            file: "t.yaml",
            baseDirectory: Repo.root.appendingPathComponent("config").path
        )
    }

    func problems(_ yaml: String) -> String {
        if case .failure(let p) = load(yaml) { return p.description }
        return ""
    }

    @Test func ordersPoolsByDistanceWithLimitAndExplicitOrder() throws {
        let c = try load(
            """
            services:
              near.lab.example: { policy: nearest, pools: [pa, pb, pc], max_pools: 2, order: { c: [pc, pb, pa] } }
            geo:
              default_region: b
              networks: { a: [10.1.0.0/16], c: ["2001:db8::/32", 192.0.2.128/25] }
            """
        ).get()
        let s = c.services[0]
        #expect(s.regionOrder.map(\.region) == ["a", "b", "c"])
        #expect(s.regionOrder[0].pools == ["pa", "pb"] && s.regionOrder[0].basis == "distance")
        #expect(s.regionOrder[1].pools == ["pb", "pa"])
        #expect(s.regionOrder[2].pools == ["pc", "pb", "pa"] && s.regionOrder[2].basis == "explicit order")
        let loc = try #require(c.locator)
        #expect(loc.defaultRegion == 1 && loc.rules.count == 3 && loc.ecsMaxPrefix4 == 24 && loc.ecsMaxPrefix6 == 56)
        #expect(loc.locate(AddressBits(IPAddress.parse("10.1.2.3")!), bits: 32).region == 0)
        #expect(loc.locate(AddressBits(IPAddress.parse("2001:db8::1")!), bits: 128).region == 2)
        #expect(loc.locate(AddressBits(IPAddress.parse("8.8.8.8")!), bits: 32).region == 1)
    }

    @Test func biasShiftsTheBorder() throws {
        // Clients of region c (New York) go to b (Dublin) before a (Frankfurt) ... unless a has a big bias.
        let plain = try load("services:\n  n.lab.example: { policy: nearest, pools: [pa, pb] }\n").get()
        #expect(plain.services[0].regionOrder[2].pools == ["pb", "pa"])
        let yaml =
            Self.base.replacingOccurrences(
                of: "a: { latitude: 50.11, longitude: 8.68 }",
                with: "a: { latitude: 50.11, longitude: 8.68, bias: 50 }"
            )
            + "services:\n  n.lab.example: { policy: nearest, pools: [pa, pb] }\n"
        let biased = try ConfigLoader.parse(
            yaml,
            file: "t.yaml",
            baseDirectory: Repo.root.appendingPathComponent("config").path
        ).get()
        #expect(biased.services[0].regionOrder[2].pools == ["pa", "pb"])
    }

    typealias Bad = ConfigLoading.Bad

    static let bad: [Bad] = [
        Bad(
            yaml: "geo:\n  networks: { a: [10.1.0.1/16] }\n",
            expected: "t.yaml:13: geo.networks.a[0]: '10.1.0.1/16' has bits set beyond /16 (did you mean 10.1.0.0/16?)"
        ),
        Bad(
            yaml: "geo:\n  networks: { a: [10.1.0.0/40] }\n",
            expected: "geo.networks.a[0]: '10.1.0.0/40': prefix length must be 0...32"
        ),
        Bad(
            yaml: "geo:\n  networks: { zz: [10.1.0.0/16] }\n",
            expected: "geo.networks.zz: no region named 'zz' (defined: a, b, c)"
        ),
        Bad(
            yaml: "geo:\n  networks: { a: [10.1.0.0/16], b: [10.1.0.0/16] }\n",
            expected: "geo.networks.b[0]: 10.1.0.0/16 is already mapped under geo.networks.a"
        ),
        Bad(yaml: "geo:\n  default_region: mars\n", expected: "geo.default_region: no region named 'mars'"),
        Bad(yaml: "geo:\n  database: nope.mmdb\n", expected: "geo.database: "),
        Bad(yaml: "geo:\n  countries: { a: [DE] }\n", expected: "geo.countries: only used with geo.database"),
        Bad(yaml: "geo:\n  ecs_max_prefix_v4: 33\n", expected: "geo.ecs_max_prefix_v4: 33 is out of range 0...32"),
        Bad(yaml: "geo:\n  colour: red\n", expected: "geo.colour: unknown key"),
        Bad(
            yaml: "services:\n  n.lab.example:\n    policy: nearest\n    pools: [pa]\n    order:\n      a: [px]\n",
            expected: "t.yaml:17: services.n.lab.example.order.a: 'px' is not one of the service's pools (pa)"
        ),
        Bad(
            yaml: "services:\n  n.lab.example: { policy: nearest, pools: [pa], order: { q: [pa] } }\n",
            expected: "services.n.lab.example.order.q: no region named 'q'"
        ),
        Bad(
            yaml: "services:\n  n.lab.example: { policy: failover, pools: [pa], ecs: use }\n",
            expected: "services.n.lab.example.ecs: only used with policy nearest"
        ),
        Bad(
            yaml: "services:\n  n.lab.example: { policy: nearest, pools: [pa], ecs: maybe }\n",
            expected: "services.n.lab.example.ecs: 'maybe' is not use or ignore"
        ),
        Bad(
            yaml:
                "pools:\n  pd: { members: [192.0.2.4] }\nservices:\n  n.lab.example: { policy: nearest, pools: [pd] }\n",
            expected: "pool 'pd' has no region:"
        ),
    ]

    @Test(arguments: bad) func reportsWhereAndWhat(_ b: Bad) {
        let p = problems(b.yaml)
        #expect(p.contains(b.expected), "got: \(p)")
    }

    @Test func regionProblems() {
        let noRegions = ConfigLoader.parse(
            """
            zones: [{ origin: lab.example, file: ../zones/lab.example.zone }]
            pools:
              pa: { region: a, members: [192.0.2.1] }
            services:
              n.lab.example: { policy: nearest, pools: [pa] }
            """,
            file: "t.yaml",
            baseDirectory: Repo.root.appendingPathComponent("config").path
        )
        guard case .failure(let p) = noRegions else {
            Issue.record("loaded")
            return
        }
        #expect(p.description.contains("t.yaml:5: services.n.lab.example.policy: nearest needs regions:"), "\(p)")
        let badRegion = problems("regions:\n  x: { latitude: 95, longitude: 0 }\n")
        #expect(badRegion.contains("duplicate key") || badRegion.contains("95"), "\(badRegion)")
        let missing = ConfigLoader.parse(
            """
            zones: [{ origin: lab.example, file: ../zones/lab.example.zone }]
            pools:
              pa: { region: nowhere, members: [192.0.2.1] }
            regions:
              a: { latitude: 1 }
            """,
            file: "t.yaml",
            baseDirectory: Repo.root.appendingPathComponent("config").path
        )
        guard case .failure(let m) = missing else {
            Issue.record("loaded")
            return
        }
        #expect(m.description.contains("regions.a: needs latitude and longitude"), "\(m)")
    }
}

extension GeoConfigLoading {
    @Test func poolRegionMustExist() {
        let r = ConfigLoader.parse(
            """
            zones: [{ origin: lab.example, file: ../zones/lab.example.zone }]
            regions:
              a: { latitude: 1, longitude: 2 }
            pools:
              pd:
                region: mars
                members: [192.0.2.4]
            """,
            file: "t.yaml",
            baseDirectory: Repo.root.appendingPathComponent("config").path
        )
        guard case .failure(let p) = r else {
            Issue.record("loaded")
            return
        }
        #expect(
            p.description.contains("t.yaml:6: pools.pd.region: no region named 'mars' under regions: (defined: a)"),
            "\(p)"
        )
    }
}
