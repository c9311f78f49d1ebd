import FidelisProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import Store
import Synchronization

/// The coordinator as a long-lived service: serves gRPC, takes back expired leases, and on
/// graceful shutdown drains (NOT_SERVING, no new submits or leases, running jobs finish or
/// their leases expire) before closing the listener.
public struct CoordinatorService: Service {
  public let coordinator: Coordinator
  public let server: GRPCServer<HTTP2ServerTransport.Posix>
  public let transport: HTTP2ServerTransport.Posix
  let stopped = Stopped()

  final class Stopped: Sendable {
    let flag = Atomic<Bool>(false)
  }

  /// The address actually bound (with the real port when 0 was asked).
  public var listeningAddress: GRPCNIOTransportCore.SocketAddress {
    get async throws { try await transport.listeningAddress }
  }

  public func run() async throws {
    let logger = coordinator.logger
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await server.serve() }
      group.addTask { await reapExpiredLeases() }
      // Returns when SIGTERM/SIGINT (or the test) asks for a graceful shutdown.
      try? await gracefulShutdown()
      logger.info("draining: no new jobs; waiting for running jobs")
      await drain()
      stopped.flag.store(true, ordering: .releasing)
      server.beginGracefulShutdown()
    }
    logger.info("coordinator stopped")
  }

  /// Stops taking work and waits for running jobs, at most the drain timeout.
  public func drain() async {
    coordinator.beginDraining()
    let deadline = ContinuousClock.now + .milliseconds(coordinator.configuration.drainTimeoutMillis)
    while ContinuousClock.now < deadline {
      let running = (try? coordinator.store.runningJobCount()) ?? 0
      if running == 0 { break }
      try? await Task.sleep(for: .milliseconds(100))
    }
  }

  func reapExpiredLeases() async {
    let interval = coordinator.configuration.reaperIntervalMillis
    while !stopped.flag.load(ordering: .acquiring) {
      do {
        for job in try coordinator.store.expireLeases() {
          coordinator.logger.warning(
            "lease expired", metadata: ["tenant": "\(job.tenantId)", "job": "\(job.id)", "state": "\(job.state.rawValue)", "attempt": "\(job.attempt)"])
        }
      } catch {
        coordinator.logger.error("lease reaper failed: \(error)")
      }
      try? await Task.sleep(for: .milliseconds(interval))
    }
  }
}

/// Builds the coordinator from its configuration: store, services, transport. Shared by
/// `fidelis-server` and the tests.
public func buildCoordinator(_ configuration: ServerConfiguration, logger: Logger) throws -> CoordinatorService {
  let store = try FidelisStore.open(directory: configuration.dataDirectory, defaults: configuration.tenantDefaults)
  let removed = try store.removeUnfinishedUploads()
  if removed > 0 { logger.info("removed \(removed) unfinished upload(s) left by a previous run") }
  let coordinator = Coordinator(store: store, configuration: configuration, logger: logger)
  let transport = HTTP2ServerTransport.Posix(
    address: .ipv4(host: configuration.host, port: configuration.port),
    transportSecurity: .plaintext,
    config: .defaults { config in
      config.rpc.maxRequestPayloadSize = configuration.maxMessageBytes
      // Workers long-poll and keep their connection open; allow their keepalive pings.
      config.connection.keepalive.clientBehavior.allowWithoutCalls = true
      config.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls = .seconds(5)
    })
  let services: [any RegistrableRPCService] = [
    AdminService(coordinator: coordinator), DatasetService(coordinator: coordinator), JobService(coordinator: coordinator),
    ReportService(coordinator: coordinator), WorkerService(coordinator: coordinator), HealthService(coordinator: coordinator),
  ]
  let server = GRPCServer(transport: transport, services: services)
  return CoordinatorService(coordinator: coordinator, server: server, transport: transport)
}

/// Reads a token from the environment, or from `DIR/NAME` (mode 0600), creating it there
/// on first start. Returns the token and, when a file is used, its path.
public func loadOrCreateToken(environment name: String, file: URL) throws -> (token: String, path: String?) {
  if let value = ProcessInfo.processInfo.environment[name], !value.isEmpty { return (value, nil) }
  let manager = FileManager.default
  if let data = manager.contents(atPath: file.path), let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty {
    return (text, file.path)
  }
  try manager.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
  let token = FidelisStore.newAPIKey()
  guard manager.createFile(atPath: file.path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
    throw RPCError(code: .internalError, message: "cannot write \(file.path)")
  }
  return (token, file.path)
}
