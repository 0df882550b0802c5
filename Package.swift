// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "keygate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "keygated", targets: ["keygated"]),
        .executable(name: "keygate", targets: ["keygate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .target(name: "KeygateCore", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "KeygateHTTP"),
        .target(name: "KeygateConfig", dependencies: ["CYAML", "KeygateCore"]),
        .target(name: "KeygateAPI", dependencies: ["KeygateCore"]),
        .target(name: "KeygateStore", dependencies: [
            "KeygateCore",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "KeygatePostgres", dependencies: [
            "KeygateCore", "KeygateConfig", "KeygateStore",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "KeygateServer", dependencies: [
            "KeygateCore", "KeygateConfig", "KeygateAPI", "KeygateStore", "KeygatePostgres", "KeygateHTTP",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "keygated", dependencies: [
            "KeygateServer", "KeygateConfig",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "keygate-fuzz", dependencies: ["KeygateHTTP", "KeygateAPI", "KeygateCore", "KeygateConfig"]),
        .target(name: "KeygateMCP", dependencies: [
            "KeygateAPI", "KeygateCore",
            .product(name: "MCP", package: "swift-sdk"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "keygate", dependencies: [
            "KeygateAPI", "KeygateConfig", "KeygateCore", "KeygateMCP",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "KeygateCoreTests", dependencies: ["KeygateCore", "KeygateAPI"]),
        .testTarget(name: "KeygateConfigTests", dependencies: ["KeygateConfig"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "KeygateStoreTests", dependencies: ["KeygateStore", "KeygateCore", "KeygatePostgres", "KeygateConfig",
                                                             .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "KeygateAPITests", dependencies: ["KeygateAPI", "KeygateCore"]),
        .testTarget(name: "KeygateMCPTests", dependencies: ["KeygateMCP", "KeygateAPI",
                                                            .product(name: "MCP", package: "swift-sdk")]),
        .testTarget(name: "KeygateServerTests", dependencies: [
            "KeygateServer", "KeygateAPI", "KeygateCore", "KeygateConfig", "KeygateStore", "KeygateHTTP",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "IntegrationTests", dependencies: ["KeygateCore", "KeygateAPI", "keygated", "keygate"],
                    exclude: ["Golden"]),
    ],
    swiftLanguageModes: [.v5]
)
