import ArgumentParser
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

  func run() async throws {
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
    let service = try buildCoordinator(configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      let address = try await service.listeningAddress
      // Scripts read the port from this line.
      print("listening on \(address)")
      fflush(nil)
      logger.info("listening on \(address)")
      try await tasks.waitForAll()
    }
  }
}
