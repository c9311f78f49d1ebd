import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// A process's metrics, in the Prometheus text format: a registry that swift-metrics'
/// counters, gauges, timers and recorders write into (`factory`), read by `MetricsEndpoint`.
/// Each process (and each coordinator a test starts) has its own: nothing global.
public final class MetricsRegistry: Sendable {
  public let registry = PrometheusCollectorRegistry()
  /// The factory to hand to swift-metrics' types: `Counter(label:dimensions:factory:)`.
  public let factory: PrometheusMetricsFactory

  public init(durationBuckets: [Duration]? = nil) {
    var factory = PrometheusMetricsFactory(registry: registry)
    if let durationBuckets { factory.defaultDurationHistogramBuckets = durationBuckets }
    self.factory = factory
  }

  /// The exposition text.
  public func exposition() -> [UInt8] { registry.emitToBuffer() }
}

/// Serves `GET /metrics` over HTTP/1.1 (what a Prometheus server scrapes): `refresh` runs
/// first (gauges read from the store), then the registry is written. Any other path is 404.
public struct MetricsEndpoint: Service {
  let host: String
  let port: Int
  let registry: MetricsRegistry
  let refresh: @Sendable () async -> Void
  let logger: Logger
  /// Called with the bound address once listening (port 0 picks one).
  let onListening: @Sendable (String) -> Void

  public init(
    host: String, port: Int, registry: MetricsRegistry, logger: Logger, refresh: @escaping @Sendable () async -> Void = {},
    onListening: @escaping @Sendable (String) -> Void = { _ in }
  ) {
    (self.host, self.port, self.registry, self.logger, self.refresh, self.onListening) = (host, port, registry, logger, refresh, onListening)
  }

  public func run() async throws {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .bind(host: host, port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.configureHTTPServerPipeline()
          return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
        }
      }
    let address = server.channel.localAddress
    onListening("\(address?.ipAddress ?? host):\(address?.port ?? port)")
    logger.info("metrics endpoint listening", metadata: ["address": "\(address?.ipAddress ?? host):\(address?.port ?? port)"])
    // Ends with the service group (SIGTERM): the listener is closed when the task is cancelled.
    try await withTaskCancellationHandler {
      try await withThrowingDiscardingTaskGroup { group in
        try await server.executeThenClose { connections in
          for try await connection in connections {
            group.addTask { await serve(connection) }
          }
        }
      }
    } onCancel: {
      server.channel.close(promise: nil)
    }
  }

  private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
    do {
      try await connection.executeThenClose { inbound, outbound in
        var head: HTTPRequestHead?
        for try await part in inbound {
          switch part {
          case .head(let h): head = h
          case .body: continue
          case .end:
            guard let request = head else { continue }
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            var headers = HTTPHeaders()
            var body = ByteBuffer()
            let status: HTTPResponseStatus
            if path == "/metrics" && (request.method == .GET || request.method == .HEAD) {
              await refresh()
              status = .ok
              headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
              body.writeBytes(registry.exposition())
            } else {
              status = .notFound
              headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
              body.writeString("only /metrics is served here\n")
            }
            headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            headers.add(name: "Connection", value: request.isKeepAlive ? "keep-alive" : "close")
            try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
            if request.method != .HEAD { try await outbound.write(.body(.byteBuffer(body))) }
            try await outbound.write(.end(nil))
            if !request.isKeepAlive { return }
            head = nil
          }
        }
      }
    } catch {
      logger.debug("metrics connection ended: \(error)")
    }
  }
}

/// Buckets for job durations and queue waits: a tenth of a second to an hour.
public let jobDurationBuckets: [Duration] = [.milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(900), .seconds(3600)]
/// Buckets for RPC latencies: a millisecond to a minute.
public let rpcDurationBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(60)]
