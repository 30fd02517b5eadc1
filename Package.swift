// swift-tools-version:6.0
import PackageDescription

// A one-way chain of small targets (see Sources/*/README.md):
// CLdns -> DNSWire -> Zones -> Answers -> Server -> App -> gtmd
//                  \-> Config (-> Health, Geo) -/    Control -/   (Geo -> CMaxMindDB)
let package = Package(
    name: "gtmd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gtmd", targets: ["gtmd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLdns",
            pkgConfig: "ldns",
            providers: [.apt(["libldns-dev"])]
        ),
        .systemLibrary(
            name: "CMaxMindDB",
            pkgConfig: "libmaxminddb",
            providers: [.apt(["libmaxminddb-dev"])]
        ),
        .target(name: "CSockets"),
        .target(
            name: "Geo",
            dependencies: ["CMaxMindDB"],
            exclude: ["README.md"]
        ),
        .target(
            name: "DNSWire",
            dependencies: ["CLdns"],
            exclude: ["README.md"]
        ),
        .target(
            name: "Zones",
            dependencies: ["DNSWire"],
            exclude: ["README.md"]
        ),
        .target(
            name: "Health",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "Config",
            dependencies: ["DNSWire", "Geo", "Health", "Yams"],
            exclude: ["README.md"]
        ),
        .target(
            name: "Policy",
            dependencies: ["Config", "DNSWire"],
            exclude: ["README.md"]
        ),
        .target(
            name: "Answers",
            dependencies: ["DNSWire", "Zones", "Config", "Geo"],
            exclude: ["README.md"]
        ),
        .target(
            name: "Server",
            dependencies: [
                "Answers", "CSockets", "Geo",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "Control",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "App",
            dependencies: [
                "Server", "Answers", "Zones", "Config", "DNSWire", "Policy", "Health", "Control",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "gtmd",
            dependencies: [
                "App",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "TestSupport",
            dependencies: ["DNSWire"],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "DNSWireTests", dependencies: ["DNSWire", "TestSupport"]),
        .testTarget(name: "GeoTests", dependencies: ["Geo", "TestSupport"]),
        .testTarget(name: "ZonesTests", dependencies: ["Zones", "TestSupport"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "TestSupport"]),
        .testTarget(name: "AnswersTests", dependencies: ["Answers", "Zones", "Config", "DNSWire", "TestSupport"]),
        .testTarget(name: "AppTests", dependencies: [
            "App", "Policy", "Control", "Config", "DNSWire", "Health", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "Config", "DNSWire"]),
        .testTarget(name: "HealthTests", dependencies: [
            "Health", "TestSupport", .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Answers", "Geo", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport", "DNSWire"]),
    ],
    swiftLanguageModes: [.v6]
)
