// swift-tools-version:6.0
// libFuzzer harness for gtmd (see scripts/fuzz.sh and Fuzz/README.md). A separate package so the normal
// build never links libFuzzer: Sources/{CLdns,CLibcrypto,CMalloc,CMaxMindDB,CYAML,Geo,DNSWire,Zones,Answers,HealthModel,ConfigText,Config,Policy,
// Steering}
// are symlinks to the main
// package's targets, and `Config` needs only `HealthModel` (no NIO), so the fuzz build pulls in
// nothing of NIO. Only gtmd's own targets are instrumented
// (coverage + AddressSanitizer); the dependencies are built plainly.
import PackageDescription

let instrument: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-O"])]

let package = Package(
    name: "gtmd-fuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CLdns", pkgConfig: "ldns"),
        .systemLibrary(name: "CMaxMindDB", pkgConfig: "libmaxminddb"),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1"),
        .target(name: "Geo", dependencies: ["CMaxMindDB"], exclude: ["README.md"], swiftSettings: instrument),
        .target(name: "CLibcrypto", exclude: ["README.md"]),
        .target(
            name: "DNSWire",
            dependencies: ["CLdns", "CLibcrypto"],
            exclude: ["README.md"],
            swiftSettings: instrument
        ),
        .target(name: "Zones", dependencies: ["DNSWire"], exclude: ["README.md"], swiftSettings: instrument),
        .target(
            name: "Answers",
            dependencies: ["DNSWire", "Zones", "Geo"],
            exclude: ["README.md"],
            swiftSettings: instrument
        ),
        .target(name: "HealthModel", exclude: ["README.md"], swiftSettings: instrument),
        .target(
            name: "ConfigText",
            dependencies: ["CYAML", "DNSWire"],
            exclude: ["README.md"],
            swiftSettings: instrument
        ),
        .target(
            name: "Config",
            dependencies: ["ConfigText", "DNSWire", "Geo", "HealthModel", "Policy"],
            exclude: ["README.md"],
            swiftSettings: instrument
        ),
        .target(
            name: "Policy",
            dependencies: ["ConfigText", "DNSWire", "Geo", "HealthModel"],
            exclude: ["README.md"],
            swiftSettings: instrument
        ),
        .target(
            name: "Steering",
            dependencies: [
                "Answers", "CMalloc", "Config", "DNSWire", "HealthModel", "Policy", "Zones",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"],
            swiftSettings: instrument
        ),
        .target(name: "CMalloc", exclude: ["README.md"]),
        .target(name: "CFuzz"),
        // Linked with libclang_rt.fuzzer_no_main (scripts/fuzz.sh passes its path with -Xlinker).
        .executableTarget(
            name: "gtmd-fuzz",
            dependencies: [
                "CFuzz", "DNSWire", "Zones", "Answers", "Config", "HealthModel", "Policy", "Steering",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: instrument,
            linkerSettings: [.unsafeFlags(["-sanitize=address"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
