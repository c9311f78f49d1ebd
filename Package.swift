// swift-tools-version:6.1
import PackageDescription

let package = Package(
  name: "Fidelis",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "fidelis-server", targets: ["fidelis-server"]),
    .executable(name: "fidelis-worker", targets: ["fidelis-worker"]),
    .executable(name: "fidelis", targets: ["fidelis"]),
    .executable(name: "fidelis-bench", targets: ["fidelis-bench"]),
    .library(name: "Analytics", targets: ["Analytics"]),
    .library(name: "Reports", targets: ["Reports"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    // Traces exported by OTLP over gRPC only: the HTTP exporter would bring an HTTP client.
    .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPGRPC"]),
  ],
  targets: [
    // Generated from proto/ by scripts/generate-proto; nothing else lives here.
    .target(
      name: "FidelisProto",
      dependencies: [
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]
    ),
    // Pure computation: no I/O, no gRPC, no SQLite.
    .target(name: "Analytics", dependencies: ["CPrefetch"]),
    .target(name: "Reports", dependencies: ["Analytics"]),
    // What a job is: its kinds, and its options checked and turned into analysis options.
    .target(name: "Jobs", dependencies: ["FidelisProto", "Analytics", "Reports", "LocalFiles"]),
    // Reading the files a user names: in chunks, with one readable-file check.
    .target(name: "LocalFiles", dependencies: ["CZlib"]),
    // Report files as independent deflated pieces: how the store keeps them and workers send them.
    .target(name: "ArtifactPieces", dependencies: ["CDeflate"]),
    .target(
      name: "Store",
      dependencies: [
        "ArtifactPieces",
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Crypto", package: "swift-crypto"),
      ]
    ),
    .systemLibrary(name: "CDeflate", path: "Sources/CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
    .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(name: "CPrefetch", path: "Sources/CPrefetch"),
    .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
    .target(
      name: "Server",
      dependencies: [
        "FidelisProto", "Store", "Jobs", "Networking", "Reports", "Analytics", "Observability",
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP2", package: "swift-nio-http2"),
        .product(name: "NIOHPACK", package: "swift-nio-http2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    // Network settings of the three programs: how the CLI and the workers reach the
    // coordinator (addresses, TLS, mutual TLS), the loopback rule, buffer settings.
    // The /metrics endpoint of the coordinator and the workers.
    .target(
      name: "Observability",
      dependencies: [
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "OTel", package: "swift-otel"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "Instrumentation", package: "swift-distributed-tracing"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .target(
      name: "Networking",
      dependencies: [
        "LocalFiles",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
      ]
    ),
    .target(
      name: "Worker",
      dependencies: [
        "FidelisProto", "Analytics", "ArtifactPieces", "Jobs", "Networking", "Reports", "Observability", "CMalloc",
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .target(
      name: "Client",
      dependencies: [
        "FidelisProto", "Jobs", "Networking", "Reports", "LocalFiles",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .executableTarget(
      name: "fidelis-server",
      dependencies: [
        "Server", "Store", "Networking", "Observability", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Executables/fidelis-server"
    ),
    .executableTarget(
      name: "fidelis-worker",
      dependencies: [
        "Worker", "Networking", "Observability", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/Executables/fidelis-worker"
    ),
    .executableTarget(
      name: "fidelis",
      dependencies: ["Client", "Networking"],
      path: "Sources/Executables/fidelis"
    ),
    // Stage timings and K-Means from given centres, for scripts/bench-analytics and the
    // scikit-learn comparison; Analytics only, so its release build is quick.
    .executableTarget(
      name: "fidelis-bench",
      dependencies: ["Analytics", "LocalFiles"],
      path: "Sources/Executables/fidelis-bench"
    ),
    // Load generator of scripts/bench-jobs: concurrent SubmitJob calls, timed.
    .executableTarget(
      name: "fidelis-loadtest",
      dependencies: [
        "FidelisProto", "Networking",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
      ],
      path: "Sources/Executables/fidelis-loadtest"
    ),
    .testTarget(name: "AnalyticsTests", dependencies: ["Analytics"]),
    // Fixtures, golden files and the seed reports are read from the source tree by path.
    .testTarget(name: "ReportsTests", dependencies: ["Reports", "Analytics"], exclude: ["Fixtures", "Golden", "Seeds"]),
    .testTarget(name: "StoreTests", dependencies: ["Store", "ArtifactPieces", .product(name: "GRDB", package: "GRDB.swift")]),
    .testTarget(name: "WorkerTests", dependencies: ["Worker"]),
    .testTarget(name: "ObservabilityTests", dependencies: ["Observability", .product(name: "Logging", package: "swift-log")]),
    .testTarget(name: "ClientTests", dependencies: ["Client"]),
    .testTarget(
      name: "NetworkingTests",
      dependencies: ["Networking", .product(name: "GRPCCore", package: "grpc-swift-2"), .product(name: "ArgumentParser", package: "swift-argument-parser")]
    ),
    // Runs jobs on the fixtures of ReportsTests, read from the source tree by path.
    .testTarget(name: "JobsTests", dependencies: ["Jobs", "Analytics", "Reports", "FidelisProto", "LocalFiles"]),
    .testTarget(
      name: "ServerTests",
      dependencies: [
        "Server", "Analytics", "FidelisProto", .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]),
    .testTarget(
      name: "EndToEndTests",
      dependencies: [
        "Server", "Worker", "FidelisProto", "Jobs",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
  ]
)
