import ArgumentParser
import Networking
import Observability
import Foundation
import Logging
import Server
import Store
import ServiceLifecycle

/// `fidelis-server`: the coordinator, and the backup of its store.
@main
struct ServerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fidelis-server",
    abstract: "The Fidelis coordinator: gRPC API, tenant store, job queue.",
    subcommands: [Serve.self, Backup.self], defaultSubcommand: Serve.self)
}

/// `fidelis-server backup`: an online, consistent copy of the store.
struct Backup: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Copy the store into a new file, while the coordinator runs or not.",
    discussion: """
      The copy is the whole store (tenants, keys' hashes, datasets, jobs, reports) as it was at one moment, checked before it is named. \
      To restore: stop the coordinator, put the copy as fidelis.sqlite in an empty data directory (with the token files, or the same \
      FIDELIS_ADMIN_TOKEN and FIDELIS_WORKER_TOKEN), and start fidelis-server on it.
      """)

  @Option(name: .customLong("data-dir"), help: "Data directory of the store to copy.")
  var dataDir = "./fidelis-data"

  @Option(name: .customLong("to"), help: "The new file to write (never an existing one).")
  var to: String

  func run() async throws {
    do {
      let summary = try FidelisStore.backup(directory: URL(fileURLWithPath: dataDir), to: to)
      try? FileHandle.standardError.write(contentsOf: Data("backed up \(summary.tenants) tenants, \(summary.datasets) datasets, \(summary.jobs) jobs (\(summary.bytes) bytes)\n".utf8))
      print(to)
    } catch let error as StoreOpenError {
      try? FileHandle.standardError.write(contentsOf: Data("error: \(error.description)\n".utf8))
      throw ExitCode.failure
    }
  }
}

/// `fidelis-server` (`serve`): the coordinator.
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the coordinator (the default).",
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

  @Option(name: .customLong("max-storage-mb"), help: "Default per-tenant storage quota (datasets and reports), in MiB.")
  var maxStorageMB: Int64 = 10240

  @Option(name: .customLong("handshake-timeout-seconds"), help: "Close connections that send nothing for this long after connecting.")
  var handshakeTimeoutSeconds: Double = 10

  @Option(name: .customLong("disk-reserve-mb"), help: "Space held back in the data directory so that deletes work on a full disk, in MiB.")
  var diskReserveMB: Int64 = 32

  @Option(name: .customLong("max-watches"), help: "Job watches a tenant may hold open at once.")
  var maxWatches = 32

  @Option(name: .customLong("max-downloads"), help: "Report downloads and segment exports a tenant may run at once.")
  var maxDownloads = 8

  @Option(name: .customLong("max-uploads"), help: "Uploads a tenant may run at once.")
  var maxUploads = 4

  @Option(name: .customLong("otlp-endpoint"), help: "Export job traces by OTLP/gRPC to this collector, such as http://127.0.0.1:4317 (default: none).")
  var otlpEndpoint: String?

  @Option(name: .customLong("log-format"), help: "text (for people) or json (one object per line, for log shippers).")
  var logFormat: LogFormat = .text

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

  @Option(name: .customLong("metrics-listen"), help: "Serve /metrics in the Prometheus text format on HOST:PORT (plain HTTP).")
  var metricsListen: String?

  @Flag(name: .customLong("metrics-per-tenant"), help: "Also give queue depth and running jobs per tenant (a series per tenant).")
  var metricsPerTenant = false

  @Flag(name: .customLong("insecure-plaintext"), help: "Allow plaintext on an address other than loopback (a warning is logged).")
  var insecurePlaintext = false

  func run() async throws {
    reuseChunkSizedBuffers()
    let address: ListenAddress
    do { address = try ListenAddress(listen) } catch { throw ValidationError("\(error)") }
    for (name, value) in [("--max-attempts", Int64(maxAttempts)), ("--max-queued", Int64(maxQueued)), ("--max-running", Int64(maxRunning)),
      ("--max-dataset-mb", maxDatasetMB), ("--max-storage-mb", maxStorageMB), ("--max-watches", Int64(maxWatches)),
      ("--max-downloads", Int64(maxDownloads)), ("--max-uploads", Int64(maxUploads))] where value < 1 || value > 1 << 40 {
      throw ValidationError("\(name) must be a positive number (got \(value))")
    }
    guard leaseSeconds >= 1, leaseSeconds <= 3600, drainSeconds >= 0, drainSeconds <= 86_400 else {
      throw ValidationError("--lease-seconds must be between 1 and 3600, --drain-seconds between 0 and 86400")
    }
    guard handshakeTimeoutSeconds > 0, handshakeTimeoutSeconds <= 3600, diskReserveMB >= 0, diskReserveMB <= 1 << 20 else {
      throw ValidationError("--handshake-timeout-seconds must be between 0 and 3600, --disk-reserve-mb between 0 and 1048576")
    }
    logFormat.bootstrap()
    var logger = Logger(label: "fidelis.server")
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
    let directory = URL(fileURLWithPath: dataDir)
    let admin = try loadOrCreateToken(environment: "FIDELIS_ADMIN_TOKEN", file: directory.appendingPathComponent("admin.token"))
    let worker = try loadOrCreateToken(environment: "FIDELIS_WORKER_TOKEN", file: directory.appendingPathComponent("worker.token"))
    if let path = admin.path { logger.info("admin token in \(path)") }
    if let path = worker.path { logger.info("worker token in \(path)") }
    var configuration = ServerConfiguration(adminToken: admin.token, workerToken: worker.token)
    configuration.host = address.host
    configuration.port = address.port
    configuration.dataDirectory = directory
    configuration.leaseMillis = Int64(leaseSeconds * 1000)
    configuration.drainTimeoutMillis = Int64(drainSeconds * 1000)
    configuration.tenantDefaults.maxAttempts = maxAttempts
    configuration.tenantDefaults.maxQueuedJobs = maxQueued
    configuration.tenantDefaults.maxRunningJobs = maxRunning
    configuration.tenantDefaults.maxDatasetBytes = maxDatasetMB << 20
    configuration.tenantDefaults.maxStorageBytes = maxStorageMB << 20
    configuration.handshakeTimeoutMillis = Int64(handshakeTimeoutSeconds * 1000)
    configuration.diskReserveBytes = diskReserveMB << 20
    configuration.streamLimits.watches = maxWatches
    configuration.streamLimits.downloads = maxDownloads
    configuration.streamLimits.uploads = maxUploads
    configuration.tlsCertificatePath = tlsCert
    configuration.tlsKeyPath = tlsKey
    configuration.workerClientCAPath = workerClientCA
    configuration.allowInsecurePlaintext = insecurePlaintext
    if let workerListen {
      let workers: ListenAddress
      do { workers = try ListenAddress(workerListen, option: "--worker-listen") } catch { throw ValidationError("\(error)") }
      guard workerClientCA != nil else { throw ValidationError("--worker-listen goes with --worker-client-ca") }
      configuration.workerHost = workers.host
      configuration.workerPort = workers.port
    }
    if let metricsListen {
      let metrics: ListenAddress
      do { metrics = try ListenAddress(metricsListen, option: "--metrics-listen") } catch { throw ValidationError("\(error)") }
      configuration.metricsHost = metrics.host
      configuration.metricsPort = metrics.port
    }
    configuration.metricsPerTenant = metricsPerTenant
    let service: CoordinatorService
    do {
      service = try buildCoordinator(configuration, logger: logger)
    } catch let error as ConfigurationError {
      throw ValidationError(error.description)
    }
    // The exporter is listed first: a service group stops its services last to first, so
    // the coordinator's last spans still leave.
    let tracing = try JobTracing.bootstrap(serviceName: "fidelis-coordinator", endpoint: otlpEndpoint)
    let services: [any Service] = (tracing.map { [$0] } ?? []) + [service]
    let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      let address: String
      do {
        address = "\(try await service.listeningAddress)"
      } catch {
        // The listener did not start: the service group ends with the reason.
        try await tasks.waitForAll()
        throw error
      }
      // Scripts read the ports from these lines.
      print("listening on \(address)")
      logger.info("listening on \(address)", metadata: ["tls": "\(configuration.usesTLS)"])
      if let metrics = await service.metricsListeningAddress {
        print("metrics on http://\(metrics)/metrics")
      }
      if let workers = try await service.workerListeningAddress {
        print("workers listening on \(workers)")
        logger.info("workers listening on \(workers) (mutual TLS)")
      }
      fflush(nil)
      try await tasks.waitForAll()
    }
  }
}

extension LogFormat: ExpressibleByArgument {}
