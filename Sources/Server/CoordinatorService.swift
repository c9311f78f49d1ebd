import Networking
import Observability
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
  /// The metrics listener's address once bound.
  let metricsAddress = BoundAddress()

  final class Stopped: Sendable {
    let flag = Atomic<Bool>(false)
  }

  /// An address known once a listener is up.
  final class BoundAddress: Sendable {
    private let value = Mutex<String?>(nil)
    func set(_ address: String) { value.withLock { $0 = address } }
    var current: String? { value.withLock { $0 } }
  }

  /// The metrics listener's address (with the real port when 0 was asked), once it is up;
  /// nil without one.
  public var metricsListeningAddress: String? {
    get async {
      guard coordinator.configuration.metricsPort != nil else { return nil }
      for _ in 0..<100 {
        if let address = metricsAddress.current { return address }
        try? await Task.sleep(for: .milliseconds(20))
      }
      return metricsAddress.current
    }
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
    let configuration = coordinator.configuration
    // However the service ends, the next coordinator on this directory may start then.
    defer { coordinator.store.close() }
    try await withThrowingDiscardingTaskGroup { group in
      // A listener that cannot start (a port in use) ends the whole service with the
      // reason: the group is cancelled and every loop below stops.
      group.addTask { try await serve(server, host: configuration.host, port: configuration.port) }
      if let workerServer {
        group.addTask { try await serve(workerServer, host: configuration.workerHost ?? configuration.host, port: configuration.workerPort ?? 0) }
      }
      group.addTask { await reapExpiredLeases() }
      group.addTask { await runSchedules() }
      group.addTask { await applyRetention() }
      if let host = configuration.metricsHost, let port = configuration.metricsPort {
        let endpoint = MetricsEndpoint(
          host: host, port: port, registry: coordinator.metrics.registry, logger: logger,
          refresh: { [coordinator] in
            coordinator.metrics.refresh(store: coordinator.store, disk: coordinator.disk, workers: coordinator.workers, within: 2 * coordinator.configuration.leaseMillis)
          },
          onListening: { [metricsAddress] address in metricsAddress.set(address) })
        group.addTask {
          do {
            try await endpoint.run()
          } catch where !(error is CancellationError) {
            stopped.flag.store(true, ordering: .releasing)
            throw ConfigurationError(description: "cannot serve metrics on \(host):\(port): \(Self.describe(error))")
          }
        }
      }
      group.addTask { await checkpointContinually() }
      group.addTask { await watchDiskSpace() }
      group.addTask { await returnFreeMemoryContinually() }
      group.addTask {
        // Returns when SIGTERM/SIGINT (or the test) asks for a graceful shutdown, or throws
        // when the group is cancelled because a listener failed.
        do {
          try await gracefulShutdown()
        } catch {
          return
        }
        logger.info("draining: no new jobs; waiting for running jobs")
        await drain()
        stopped.flag.store(true, ordering: .releasing)
        server.beginGracefulShutdown()
        workerServer?.beginGracefulShutdown()
      }
    }
    logger.info("coordinator stopped")
  }

  /// Serves one listener; its failure to start says which address and why.
  func serve(_ server: GRPCServer<HTTP2ServerTransport.Posix>, host: String, port: Int) async throws {
    do {
      try await server.serve()
    } catch {
      stopped.flag.store(true, ordering: .releasing)
      throw ConfigurationError(description: "cannot listen on \(host):\(port): \(Self.describe(error))")
    }
  }

  /// The cause of a listener's failure, without the transport's wrapping.
  static func describe(_ error: any Error) -> String {
    var text = "\(error)"
    if let rpc = error as? RPCError, let cause = rpc.cause { text = "\(cause)" }
    if text.contains("Address already in use") { return "the address is already in use (another process listens on it)" }
    if text.contains("Cannot assign requested address") { return "this machine has no such address" }
    if text.contains("Permission denied") { return "permission denied (ports below 1024 need privileges)" }
    return text
  }

  /// True until the service stops or its task is cancelled.
  var isRunning: Bool { !stopped.flag.load(ordering: .acquiring) && !Task.isCancelled }

  /// Stops taking work and waits for running jobs, at most the drain timeout.
  public func drain() async {
    coordinator.beginDraining()
    let deadline = ContinuousClock.now + .milliseconds(coordinator.configuration.drainTimeoutMillis)
    while ContinuousClock.now < deadline && !Task.isCancelled {
      let running = (try? coordinator.store.runningJobCount()) ?? 0
      if running == 0 { break }
      do { try await Task.sleep(for: .milliseconds(100)) } catch { break }
    }
  }

  func reapExpiredLeases() async {
    let interval = coordinator.configuration.reaperIntervalMillis
    // A sleep that throws means cancelled: every loop here ends then (a `try?` on it would
    // spin at full speed).
    while isRunning {
      // While the disk is full no heartbeat can be written: a lease that runs out then is
      // the coordinator's fault, not the worker's. Leases are renewed when space is back.
      if coordinator.disk.isFull {
        do { try await Task.sleep(for: .milliseconds(interval)) } catch { return }
        continue
      }
      do {
        let expired = try coordinator.store.expireLeases()
        if expired.contains(where: { $0.state == .queued }) { coordinator.noteJobsQueued() }
        for job in expired {
          coordinator.jobChanges.touch(job.id, final: job.state.isFinal)
          coordinator.metrics.changed(job, leaseExpired: true)
          coordinator.logger.warning(
            "lease expired", metadata: ["tenant": "\(job.tenantId)", "job": "\(job.id)", "state": "\(job.state.rawValue)", "attempt": "\(job.attempt)"])
        }
      } catch {
        coordinator.logger.error("lease reaper failed: \(error)")
      }
      do { try await Task.sleep(for: .milliseconds(interval)) } catch { return }
    }
  }

  /// Makes the schedules' due runs, four times a second: a look at an index when none is due.
  /// Not while draining (the runs wait for the next coordinator) nor on a full disk.
  func runSchedules() async {
    while isRunning {
      if !coordinator.isDraining && !coordinator.disk.isFull {
        do {
          _ = try coordinator.runDueSchedules()
        } catch {
          coordinator.logger.error("schedules failed: \(error)")
        }
      }
      do { try await Task.sleep(for: .milliseconds(250)) } catch { return }
    }
  }

  /// Deletes what the tenants' retention no longer keeps, every few seconds.
  func applyRetention() async {
    while isRunning {
      if !coordinator.disk.isFull {
        do {
          let removed = try coordinator.store.applyRetention()
          if removed.versions + removed.reports > 0 {
            coordinator.logger.info("retention", metadata: ["versions": "\(removed.versions)", "reports": "\(removed.reports)"])
          }
        } catch {
          coordinator.logger.error("retention failed: \(error)")
        }
      }
      do { try await Task.sleep(for: .seconds(2)) } catch { return }
    }
  }

  /// Looks at the disk every second: ends a full-disk outage once there is room again (and
  /// renews the running jobs' leases, whose heartbeats could not be written meanwhile), and
  /// keeps the reserve that lets deletes work on a full disk.
  func watchDiskSpace() async {
    let disk = coordinator.disk
    while isRunning {
      let reusable = disk.isFull ? ((try? coordinator.store.reusableBytes()) ?? 0) : 0
      if disk.refresh(reusableBytes: reusable) {
        let renewed = (try? coordinator.store.renewRunningLeases(leaseMillis: coordinator.configuration.leaseMillis)) ?? 0
        coordinator.logger.warning("the disk has room again: writes are accepted; \(renewed) running job lease(s) renewed")
      } else if !disk.isFull, let free = disk.freeBytes(), free < disk.lowWaterBytes / 4 {
        // Nearly full: say so before SQLite has to.
        if disk.noteFull() { coordinator.logger.error("the data directory's disk is nearly full (\(free >> 20) MiB free): writes are refused until space is freed") }
      }
      do { try await Task.sleep(for: .seconds(1)) } catch { return }
    }
  }

  /// Hands back to the system, every few seconds, the memory that uploads and downloads
  /// freed: the coordinator keeps chunk-sized buffers for reuse (`reuseChunkSizedBuffers`),
  /// and without this its arenas would go on holding what the last burst of uploads needed
  /// (230 MB after eight at once of 44 MB each, against 105 MB when every chunk's buffer
  /// was unmapped on the spot).
  func returnFreeMemoryContinually() async {
    // Wakes every second, as the other loops do, so that a shutdown is not kept waiting.
    var seconds = 0
    while isRunning {
      do { try await Task.sleep(for: .seconds(1)) } catch { return }
      seconds += 1
      if seconds % 5 == 0 { returnFreeMemoryToTheSystem() }
    }
  }

  /// Keeps the store's write-ahead log short without making a commit wait for it.
  func checkpointContinually() async {
    while isRunning {
      do {
        try await coordinator.store.checkpoint()
      } catch {
        // Busy with the writer's own fallback checkpoint, or a passing error: next time.
        coordinator.logger.debug("checkpoint skipped: \(error)")
      }
      do { try await Task.sleep(for: .milliseconds(250)) } catch { return }
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
    guard access(path, R_OK) == 0 else { throw ConfigurationError(description: "cannot read \(path): \(String(cString: strerror(errno)))") }
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
  let store: FidelisStore
  do {
    store = try FidelisStore.open(directory: configuration.dataDirectory, defaults: configuration.tenantDefaults)
  } catch let error as StoreOpenError {
    throw ConfigurationError(description: error.description)
  }
  for note in store.startupNotes { logger.warning("\(note)") }
  let removed = try store.removeUnfinishedUploads()
  if removed > 0 { logger.info("removed \(removed) unfinished upload(s) left by a previous run") }
  let coordinator = Coordinator(store: store, configuration: configuration, logger: logger)
  func makeTransport(host: String, port: Int, clientCA: String?) -> HTTP2ServerTransport.Posix {
    HTTP2ServerTransport.Posix(
      address: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port),
      transportSecurity: transportSecurity(configuration, clientCA: clientCA),
      config: .defaults { config in
        config.rpc.maxRequestPayloadSize = configuration.maxMessageBytes
        // HTTP/2's default 64 KiB window let a client send one window per round trip: an
        // upload crawled at 88 MB/s on loopback. A window of a few chunks keeps the stream
        // full; it bounds what one call may have in flight, not what is held per connection.
        config.http2.targetWindowSize = 8 << 20
        config.http2.maxFrameSize = 1 << 20
        // Workers long-poll and keep their connection open; allow their keepalive pings.
        config.connection.keepalive.clientBehavior.allowWithoutCalls = true
        config.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls = .seconds(5)
        // A connection that never says a word is closed, not kept.
        config.channelDebuggingCallbacks.onAcceptTCPConnection = HandshakeDeadline.installer(
          timeout: .milliseconds(configuration.handshakeTimeoutMillis))
        // A message over the limit gets RESOURCE_EXHAUSTED with a reason, not a bare reset.
        config.channelDebuggingCallbacks.onAcceptHTTP2Stream = MessageSizeLimit.installer(limit: configuration.maxMessageBytes)
      })
  }
  let transport = makeTransport(host: configuration.host, port: configuration.port, clientCA: nil)
  var services: [any RegistrableRPCService] = [
    AdminService(coordinator: coordinator), DatasetService(coordinator: coordinator), JobService(coordinator: coordinator),
    ReportService(coordinator: coordinator), ScheduleService(coordinator: coordinator), HealthService(coordinator: coordinator),
  ]
  var workerServer: GRPCServer<HTTP2ServerTransport.Posix>?
  var workerTransport: HTTP2ServerTransport.Posix?
  if let ca = configuration.workerClientCAPath {
    let port = configuration.workerPort ?? (configuration.port == 0 ? 0 : configuration.port + 1)
    let listener = makeTransport(host: configuration.workerHost ?? configuration.host, port: port, clientCA: ca)
    workerTransport = listener
    workerServer = GRPCServer(
      transport: listener, services: [WorkerAPI(coordinator: coordinator, requireCertificate: true), HealthService(coordinator: coordinator)],
      interceptors: [RPCMetricsInterceptor(metrics: coordinator.metrics)])
  } else {
    services.append(WorkerAPI(coordinator: coordinator, requireCertificate: false))
  }
  // Reflection describes the services of this listener (the worker service only when
  // workers connect here).
  var offered = [
    Fidelis_V1_AdminService.descriptor, Fidelis_V1_DatasetService.descriptor, Fidelis_V1_JobService.descriptor, Fidelis_V1_ReportService.descriptor, Fidelis_V1_ScheduleService.descriptor,
    Grpc_Health_V1_Health.descriptor,
  ]
  if workerServer == nil { offered.append(Fidelis_V1_WorkerService.descriptor) }
  let reflection = try ReflectionService(services: offered)
  services += [reflection, ReflectionServiceV1Alpha(reflection: reflection)]
  let server = GRPCServer(transport: transport, services: services, interceptors: [RPCMetricsInterceptor(metrics: coordinator.metrics)])
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
  try DataDirectory.make(file.deletingLastPathComponent())
  let token = FidelisStore.newAPIKey()
  guard manager.createFile(atPath: file.path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
    throw RPCError(code: .internalError, message: "cannot write \(file.path)")
  }
  return (token, file.path)
}
