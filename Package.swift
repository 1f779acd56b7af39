// swift-tools-version: 6.2
import PackageDescription

// Kiln runs on Linux only: its sandbox is made of Linux namespaces and seccomp, and its harness reads
// /proc and drives gcc and readelf.
let package = Package(
    name: "Kiln",
    products: [
        .executable(name: "kiln", targets: ["kiln"]),
        .executable(name: "kiln-bench", targets: ["kiln-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
    ],
    targets: [
        .target(name: "KilnCore"),
        .target(
            name: "KilnTask",
            dependencies: [
                "KilnCore",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "KilnSandbox",
            dependencies: [
                "KilnCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources/c")]
        ),
        .target(
            name: "KilnHarness",
            dependencies: [
                "KilnCore", "KilnTask", "KilnSandbox",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources/c"), .copy("Resources/python")]
        ),
        .target(
            name: "KilnRay",
            dependencies: [
                "KilnCore", "KilnHarness", "KilnSandbox", "KilnTask",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            resources: [.copy("Resources/python")]
        ),
        .target(
            name: "KilnTuner",
            dependencies: ["KilnCore", "KilnTask"]
        ),
        .target(
            name: "KilnAgent",
            dependencies: [
                "KilnCore", "KilnSandbox",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "KilnHTTPServing",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KilnModelServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                "KilnAgent", "KilnHTTPServing", "KilnCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KilnRun",
            dependencies: [
                "KilnCore", "KilnTask", "KilnHarness", "KilnTuner", "KilnAgent",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "KilnAgentRun",
            dependencies: [
                "KilnCore", "KilnTask", "KilnHarness", "KilnTuner", "KilnAgent", "KilnSandbox", "KilnRun",
                "KilnModelServer",
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .target(
            name: "KilnServe",
            dependencies: [
                "KilnRun", "KilnAgentRun", "KilnHarness", "KilnAgent", "KilnTask", "KilnHTTPServing",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KilnTesting",
            dependencies: [
                "KilnTask", "KilnHarness", "KilnSandbox", "KilnRun", "KilnAgent",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "kiln",
            dependencies: [
                "KilnAgentRun",
                "KilnCore", "KilnTask",
                "KilnSandbox",
                "KilnHarness",
                "KilnTuner",
                "KilnRun",
                "KilnAgent",
                "KilnModelServer",
                "KilnServe",
                "KilnRay",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "kiln-bench",
            dependencies: [
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                "KilnCore", "KilnTask", "KilnHarness", "KilnTuner", "KilnRun", "KilnAgent", "KilnAgentRun",
                "KilnModelServer", "KilnServe", "KilnSandbox", "KilnRay",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "KilnTaskTests", dependencies: ["KilnTask", "KilnTesting"]),
        .testTarget(
            name: "KilnSandboxTests",
            dependencies: ["KilnSandbox", "KilnTesting", .product(name: "Subprocess", package: "swift-subprocess")]
        ),
        .testTarget(
            name: "KilnHarnessTests",
            dependencies: ["KilnCore", "KilnTask", "KilnHarness", "KilnSandbox", "KilnTesting"]
        ),
        .testTarget(
            name: "KilnServeTests",
            dependencies: [
                "KilnServe", "KilnRun", "KilnAgent", "KilnCore", "KilnHarness", "KilnTask", "KilnTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "KilnAgentTests", dependencies: ["KilnAgent", "KilnSandbox", "KilnTesting"]),
        .testTarget(name: "KilnTunerTests", dependencies: ["KilnTask", "KilnTuner"]),
        .testTarget(
            name: "KilnRunTests",
            dependencies: [
                "KilnTask", "KilnHarness", "KilnRun", "KilnAgent", "KilnTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(name: "KilnModelServerTests", dependencies: ["KilnModelServer", "KilnAgent"]),
        .testTarget(
            name: "KilnEndToEndTests",
            dependencies: [
                "KilnTask", "KilnRay",
                "KilnTesting", "KilnAgent", "KilnModelServer", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
    ]
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    settings.append(.treatAllWarnings(as: .error))
    target.swiftSettings = settings
}
