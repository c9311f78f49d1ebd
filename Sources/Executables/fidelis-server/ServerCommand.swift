import ArgumentParser
import Networking
import Foundation
import Logging
import Server
import ServiceLifecycle

/// `fidelis-server`: the coordinator.
@main
struct ServerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fidelis-server",
    abstract: "The Fidelis coordinator: gRPC API, tenant store, job queue.",
    discussion: "Tokens come from FIDELIS_ADMIN_TOKEN / FIDELIS_WORKER_TOKEN, or are generated on first start into the data directory (mode 0600).")

  @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one).")
  var listen = "127.0.0.1:\(ServerConfiguration.defaultPort)"

  @Option(name: .customLong("data-dir"), help: "Directory of the SQLite store and token files.")
  var dataDir = "./fidelis-data"

  @Option(name: .customLong("lease-seconds"), help: "Lease duration without heartbeat.")
  var leaseSeconds: Double = 30

  @Option(name: .customLong("drain-seconds"), help: "Longest wait for running jobs on SIGTERM.")
  var drainSeconds: Double = 60

  @Option(name: .customLong("max-attempts"), help: "Attempts per job before it fails.")
  var maxAttempts = 3

  @Option(name: .customLong("max-queued"), help: "Default per-tenant limit of queued jobs.")
  var maxQueued = 1000

  @Option(name: .customLong("max-running"), help: "Default per-tenant limit of running jobs.")
  var maxRunning = 8

  @Option(name: .customLong("max-dataset-mb"), help: "Default per-tenant dataset size limit, in MiB.")
  var maxDatasetMB: Int64 = 1024

  @Option(name: .customLong("log-level"), help: "trace, debug, info, warning, error.")
  var logLevel = "info"

  @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve gRPC over TLS (with --tls-key).")
  var tlsCert: String?

  @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.")
  var tlsKey: String?

  @Option(name: .customLong("worker-client-ca"), help: "PEM CA of the workers' certificates: workers connect with mutual TLS to --worker-listen.")
  var workerClientCA: String?

  @Option(name: .customLong("worker-listen"), help: "Address of the workers' mutual-TLS listener, HOST:PORT (default: the --listen host, port + 1).")
  var workerListen: String?

  @Flag(name: .customLong("insecure-plaintext"), help: "Allow plaintext on an address other than loopback (a warning is logged).")
  var insecurePlaintext = false

  func run() async throws {
    returnLargeBuffersToTheSystem()
    let parts = listen.split(separator: ":")
    guard parts.count == 2, let port = Int(parts[1]), (0...65535).contains(port) else { throw ValidationError("--listen must be HOST:PORT") }
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    var logger = Logger(label: "fidelis.server")
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
    let directory = URL(fileURLWithPath: dataDir)
    let admin = try loadOrCreateToken(environment: "FIDELIS_ADMIN_TOKEN", file: directory.appendingPathComponent("admin.token"))
    let worker = try loadOrCreateToken(environment: "FIDELIS_WORKER_TOKEN", file: directory.appendingPathComponent("worker.token"))
    if let path = admin.path { logger.info("admin token in \(path)") }
    if let path = worker.path { logger.info("worker token in \(path)") }
    var configuration = ServerConfiguration(adminToken: admin.token, workerToken: worker.token)
    configuration.host = String(parts[0])
    configuration.port = port
    configuration.dataDirectory = directory
    configuration.leaseMillis = Int64(leaseSeconds * 1000)
    configuration.drainTimeoutMillis = Int64(drainSeconds * 1000)
    configuration.tenantDefaults.maxAttempts = maxAttempts
    configuration.tenantDefaults.maxQueuedJobs = maxQueued
    configuration.tenantDefaults.maxRunningJobs = maxRunning
    configuration.tenantDefaults.maxDatasetBytes = maxDatasetMB << 20
    configuration.tlsCertificatePath = tlsCert
    configuration.tlsKeyPath = tlsKey
    configuration.workerClientCAPath = workerClientCA
    configuration.allowInsecurePlaintext = insecurePlaintext
    if let workerListen {
      let parts = workerListen.split(separator: ":")
      guard parts.count == 2, let port = Int(parts[1]), (0...65535).contains(port) else { throw ValidationError("--worker-listen must be HOST:PORT") }
      guard workerClientCA != nil else { throw ValidationError("--worker-listen goes with --worker-client-ca") }
      configuration.workerHost = String(parts[0])
      configuration.workerPort = port
    }
    let service: CoordinatorService
    do {
      service = try buildCoordinator(configuration, logger: logger)
    } catch let error as ConfigurationError {
      throw ValidationError(error.description)
    }
    let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      let address = try await service.listeningAddress
      // Scripts read the ports from these lines.
      print("listening on \(address)")
      logger.info("listening on \(address)", metadata: ["tls": "\(configuration.usesTLS)"])
      if let workers = try await service.workerListeningAddress {
        print("workers listening on \(workers)")
        logger.info("workers listening on \(workers) (mutual TLS)")
      }
      fflush(nil)
      try await tasks.waitForAll()
    }
  }
}
