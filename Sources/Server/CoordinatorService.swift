import Networking
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
  /// The main listener's server (tenants, admin, health; workers too without mutual TLS).
  public let server: GRPCServer<HTTP2ServerTransport.Posix>
  public let transport: HTTP2ServerTransport.Posix
  /// The workers' mutual-TLS listener, when configured.
  public let workerServer: GRPCServer<HTTP2ServerTransport.Posix>?
  public let workerTransport: HTTP2ServerTransport.Posix?
  let stopped = Stopped()

  final class Stopped: Sendable {
    let flag = Atomic<Bool>(false)
  }

  /// The address actually bound (with the real port when 0 was asked).
  public var listeningAddress: GRPCNIOTransportCore.SocketAddress {
    get async throws { try await transport.listeningAddress }
  }

  /// The workers' listener address, when they have one.
  public var workerListeningAddress: GRPCNIOTransportCore.SocketAddress? {
    get async throws { try await workerTransport?.listeningAddress }
  }

  public func run() async throws {
    let logger = coordinator.logger
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await server.serve() }
      if let workerServer { group.addTask { try await workerServer.serve() } }
      group.addTask { await reapExpiredLeases() }
      group.addTask { await checkpointContinually() }
      // Returns when SIGTERM/SIGINT (or the test) asks for a graceful shutdown.
      try? await gracefulShutdown()
      logger.info("draining: no new jobs; waiting for running jobs")
      await drain()
      stopped.flag.store(true, ordering: .releasing)
      server.beginGracefulShutdown()
      workerServer?.beginGracefulShutdown()
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
        let expired = try coordinator.store.expireLeases()
        if expired.contains(where: { $0.state == .queued }) { coordinator.noteJobsQueued() }
        for job in expired {
          coordinator.logger.warning(
            "lease expired", metadata: ["tenant": "\(job.tenantId)", "job": "\(job.id)", "state": "\(job.state.rawValue)", "attempt": "\(job.attempt)"])
        }
      } catch {
        coordinator.logger.error("lease reaper failed: \(error)")
      }
      try? await Task.sleep(for: .milliseconds(interval))
    }
  }

  /// Keeps the store's write-ahead log short without making a commit wait for it.
  func checkpointContinually() async {
    while !stopped.flag.load(ordering: .acquiring) {
      do {
        try await coordinator.store.checkpoint()
      } catch {
        // Busy with the writer's own fallback checkpoint, or a passing error: next time.
        coordinator.logger.debug("checkpoint skipped: \(error)")
      }
      try? await Task.sleep(for: .milliseconds(250))
    }
  }
}

/// A configuration the coordinator refuses to start with, said for a person.
public struct ConfigurationError: Error, CustomStringConvertible {
  public var description: String
}

/// Checks the TLS files and the plaintext rule before anything listens.
func validate(_ configuration: ServerConfiguration, logger: Logger) throws {
  if (configuration.tlsCertificatePath == nil) != (configuration.tlsKeyPath == nil) {
    throw ConfigurationError(description: "--tls-cert and --tls-key go together")
  }
  for path in [configuration.tlsCertificatePath, configuration.tlsKeyPath, configuration.workerClientCAPath].compactMap({ $0 }) {
    guard FileManager.default.isReadableFile(atPath: path) else { throw ConfigurationError(description: "cannot read \(path)") }
  }
  if configuration.usesWorkerListener && !configuration.usesTLS {
    throw ConfigurationError(description: "--worker-client-ca needs the server's own certificate: pass --tls-cert and --tls-key")
  }
  let hosts = [configuration.host] + (configuration.usesWorkerListener ? [configuration.workerHost ?? configuration.host] : [])
  if !configuration.usesTLS, let exposed = hosts.first(where: { !isLoopbackHost($0) }) {
    guard configuration.allowInsecurePlaintext else {
      throw ConfigurationError(
        description: "refusing plaintext on \(exposed), which is not loopback: API keys and purchase data would cross the network in clear. Pass --tls-cert and --tls-key, or --insecure-plaintext if this network is trusted")
    }
    logger.warning("serving PLAINTEXT on \(exposed): API keys and tenants' data cross the network unencrypted (--insecure-plaintext)")
  }
}

/// The transport security of a listener: plaintext, TLS, or TLS that requires a client
/// certificate signed by `clientCA`.
func transportSecurity(_ configuration: ServerConfiguration, clientCA: String?) -> HTTP2ServerTransport.Posix.TransportSecurity {
  guard let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath else { return .plaintext }
  let chain: [TLSConfig.CertificateSource] = [.file(path: certificate, format: .pem)]
  let privateKey: TLSConfig.PrivateKeySource = .file(path: key, format: .pem)
  guard let clientCA else { return .tls(certificateChain: chain, privateKey: privateKey) }
  return .mTLS(certificateChain: chain, privateKey: privateKey) { tls in
    tls.trustRoots = .certificates([.file(path: clientCA, format: .pem)])
    tls.clientCertificateVerification = .noHostnameVerification
  }
}

/// Builds the coordinator from its configuration: store, services, transports. Shared by
/// `fidelis-server` and the tests.
public func buildCoordinator(_ configuration: ServerConfiguration, logger: Logger) throws -> CoordinatorService {
  try validate(configuration, logger: logger)
  let store = try FidelisStore.open(directory: configuration.dataDirectory, defaults: configuration.tenantDefaults)
  let removed = try store.removeUnfinishedUploads()
  if removed > 0 { logger.info("removed \(removed) unfinished upload(s) left by a previous run") }
  let coordinator = Coordinator(store: store, configuration: configuration, logger: logger)
  func makeTransport(host: String, port: Int, clientCA: String?) -> HTTP2ServerTransport.Posix {
    HTTP2ServerTransport.Posix(
      address: .ipv4(host: host, port: port),
      transportSecurity: transportSecurity(configuration, clientCA: clientCA),
      config: .defaults { config in
        config.rpc.maxRequestPayloadSize = configuration.maxMessageBytes
        // Workers long-poll and keep their connection open; allow their keepalive pings.
        config.connection.keepalive.clientBehavior.allowWithoutCalls = true
        config.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls = .seconds(5)
      })
  }
  let transport = makeTransport(host: configuration.host, port: configuration.port, clientCA: nil)
  var services: [any RegistrableRPCService] = [
    AdminService(coordinator: coordinator), DatasetService(coordinator: coordinator), JobService(coordinator: coordinator),
    ReportService(coordinator: coordinator), HealthService(coordinator: coordinator),
  ]
  var workerServer: GRPCServer<HTTP2ServerTransport.Posix>?
  var workerTransport: HTTP2ServerTransport.Posix?
  if let ca = configuration.workerClientCAPath {
    let port = configuration.workerPort ?? (configuration.port == 0 ? 0 : configuration.port + 1)
    let listener = makeTransport(host: configuration.workerHost ?? configuration.host, port: port, clientCA: ca)
    workerTransport = listener
    workerServer = GRPCServer(
      transport: listener, services: [WorkerService(coordinator: coordinator, requireCertificate: true), HealthService(coordinator: coordinator)])
  } else {
    services.append(WorkerService(coordinator: coordinator, requireCertificate: false))
  }
  let server = GRPCServer(transport: transport, services: services)
  return CoordinatorService(coordinator: coordinator, server: server, transport: transport, workerServer: workerServer, workerTransport: workerTransport)
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
