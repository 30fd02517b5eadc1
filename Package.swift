// swift-tools-version:6.0
import PackageDescription

// A one-way chain of small targets (see Sources/*/README.md). Each target declares exactly what its files
// import (scripts/test.sh builds with --explicit-target-dependency-import-check error):
//
//   CLdns -> DNSWire -> Zones ---------------------------> Answers -> Server ----------------> App -> gtmd
//   CMaxMindDB -> Geo -----------------------------------/                                /
//   ConfigText (CYAML) -> Policy (HealthModel, Geo) -> Config -> Steering (Answers, Zones) -/
//   HealthModel -> Health (NIO, NIOSSL) -------------------------------------------------/
//   Control (NIO HTTP listener) --------------------------------------------------------/
//   Config -> Fleet (etcd over AsyncHTTPClient) -----------------------------------------/
//
// CLibcrypto (OpenSSL's libcrypto, loaded when DNSSEC first needs it) is DNSWire's other C dependency.
// Policy owns the service model and one unit per policy (its keys, its checks, its decision); Config reads the
// sections and hands each service's policy keys to its unit. ConfigText is the YAML reader and the duration and
// TTL grammars that every section (and the control API's `for`) shares.
// Steering, Policy, Config, ConfigText and HealthModel link neither NIO nor BoringSSL.
// Fleet and Steering do not know each other: App hands the fleet's shared decision and overrides to the
// steering loop as one more input.
let swiftSettings: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]
// Server reads sockaddr_in/sockaddr_in6 fields, which the Clang importer attributes to NIO's internal C module
// (CNIOLinux includes <netinet/in.h> first there); importing that module is not ours to do, so Server alone
// builds without MemberImportVisibility until libc's headers are modular.
let serverSwiftSettings: [SwiftSetting] = []
// Answers: the release build leaves out the run-time exclusivity checks (the compile reads and writes the
// `CompiledZones` object's arrays about 20 times per name: 5 % of a big zone's load was spent in swift_beginAccess
// and its access set). Debug builds, which every test runs, keep them, so an overlapping access still traps there.
let answersSwiftSettings: [SwiftSetting] =
    swiftSettings + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "gtmd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gtmd", targets: ["gtmd"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLdns",
            pkgConfig: "ldns",
            providers: [.apt(["libldns-dev"])]
        ),
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        .systemLibrary(
            name: "CMaxMindDB",
            pkgConfig: "libmaxminddb",
            providers: [.apt(["libmaxminddb-dev"])]
        ),
        .target(name: "CSockets", exclude: ["README.md"]),
        .target(name: "CLibcrypto", exclude: ["README.md"]),
        .target(name: "CMalloc", exclude: ["README.md"]),
        .target(
            name: "Geo",
            dependencies: ["CMaxMindDB"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DNSWire",
            dependencies: ["CLdns", "CLibcrypto"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Zones",
            dependencies: ["DNSWire"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HealthModel",
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Health",
            dependencies: [
                "CSockets", "HealthModel",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ConfigText",
            dependencies: ["CYAML", "DNSWire"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Config",
            dependencies: ["ConfigText", "DNSWire", "Geo", "HealthModel", "Policy"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Policy",
            dependencies: ["ConfigText", "DNSWire", "Geo", "HealthModel"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Answers",
            dependencies: ["DNSWire", "Zones", "Geo"],
            exclude: ["README.md"],
            swiftSettings: answersSwiftSettings
        ),
        .target(
            name: "Steering",
            dependencies: [
                "Answers", "CMalloc", "Config", "ConfigText", "DNSWire", "HealthModel", "Policy", "Zones",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Server",
            dependencies: [
                "Answers", "CSockets", "Geo",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"],
            swiftSettings: serverSwiftSettings
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
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Fleet",
            dependencies: [
                "Config", "ConfigText", "DNSWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "App",
            dependencies: [
                "Answers", "Config", "ConfigText", "Control", "DNSWire", "Fleet", "Health", "HealthModel", "Policy",
                "Server", "Steering", "Zones",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "gtmd",
            dependencies: [
                "Answers", "App", "Config", "Control", "DNSWire", "Health", "HealthModel", "Policy", "Steering",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TestSupport",
            dependencies: ["Answers", "DNSWire", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DNSWireTests",
            dependencies: ["DNSWire", "CLibcrypto", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "GeoTests", dependencies: ["Geo", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ZonesTests",
            dependencies: ["DNSWire", "Zones", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConfigTests",
            dependencies: ["Config", "ConfigText", "DNSWire", "TestSupport", "Yams"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AnswersTests",
            dependencies: ["Answers", "Zones", "Config", "DNSWire", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AppTests",
            dependencies: [
                "App", "Config", "Control", "DNSWire", "HealthModel", "Policy", "Steering", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SteeringTests",
            dependencies: [
                "Answers", "Config", "DNSWire", "HealthModel", "Policy", "Steering", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PolicyTests",
            dependencies: ["Config", "ConfigText", "DNSWire", "Geo", "Policy", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HealthTests",
            dependencies: [
                "Health", "HealthModel", "TestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Answers", "Geo", "HealthModel", "TestSupport", "CSockets",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FleetTests",
            dependencies: ["Fleet", "Config", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport", "DNSWire"], swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
