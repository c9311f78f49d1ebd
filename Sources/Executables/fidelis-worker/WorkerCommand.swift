import ArgumentParser
import Networking
import Observability
import Foundation
import Logging
import ServiceLifecycle
import Worker

/// `fidelis-worker`: leases jobs from a coordinator and runs them.
@main
struct WorkerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "fidelis-worker", abstract: "A Fidelis worker: runs analysis jobs leased from a coordinator.")

  @Option(help: "Coordinator address HOST:PORT (env FIDELIS_SERVER).")
  var server = ProcessInfo.processInfo.environment["FIDELIS_SERVER"] ?? "127.0.0.1:7443"

  @Option(help: "Worker token (env FIDELIS_WORKER_TOKEN).")
  var token = ProcessInfo.processInfo.environment["FIDELIS_WORKER_TOKEN"] ?? ""

  @Option(help: "Jobs run at once.")
  var concurrency = 1

  @Option(
    name: .customLong("job-memory-mb"),
    help: "Memory a job may add to this process before it is stopped and failed, in MiB (default: 4096, or three quarters of the host's or the container's memory when that is less).")
  var jobMemoryMB: Int?

  @Option(help: "Worker name in logs and job attempts (default: worker-PID).")
  var name: String?

  @Option(name: .customLong("otlp-endpoint"), help: "Export job traces by OTLP/gRPC to this collector, such as http://127.0.0.1:4317 (default: none).")
  var otlpEndpoint: String?

  @Option(name: .customLong("log-format"), help: "text (for people) or json (one object per line, for log shippers).")
  var logFormat: LogFormat = .text

  @Option(name: .customLong("log-level"), help: "trace, debug, info, warning, error.")
  var logLevel = "info"

  @Option(help: "Host name recorded in each job's attempts (default: this machine's name).")
  var host: String?

  @Option(name: .customLong("metrics-listen"), help: "Serve /metrics in the Prometheus text format on HOST:PORT (plain HTTP).")
  var metricsListen: String?

  @OptionGroup var tlsOptions: TLSClientOptions

  @Option(name: .customLong("tls-cert"), help: "PEM certificate of this worker, for mutual TLS (with --tls-key).")
  var tlsCert: String?

  @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.")
  var tlsKey: String?

  func run() async throws {
    returnLargeBuffersToTheSystem()
    guard !token.isEmpty else { throw ValidationError("a worker token is needed: --token or FIDELIS_WORKER_TOKEN") }
    guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 64") }
    if let jobMemoryMB, !(1...(1 << 20)).contains(jobMemoryMB) { throw ValidationError("--job-memory-mb must be between 1 and 1048576") }
    let address: (host: String, port: Int)
    do { address = try parseHostPort(server, option: "--server") } catch { throw ValidationError("\(error)") }
    logFormat.bootstrap()
    var logger = Logger(label: "fidelis.worker")
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
    var configuration = WorkerConfiguration(token: token)
    configuration.serverHost = address.host
    configuration.serverPort = address.port
    configuration.concurrency = concurrency
    configuration.jobMemoryBytes = jobMemoryMB.map { $0 << 20 } ?? JobMemoryBudget.forThisProcess()
    if let name { configuration.workerId = name }
    // Every line of this process says which worker wrote it.
    logger[metadataKey: "worker"] = "\(configuration.workerId)"
    if let metricsListen {
      do {
        let metrics = try parseHostPort(metricsListen, option: "--metrics-listen")
        (configuration.metricsHost, configuration.metricsPort) = (metrics.host, metrics.port)
      } catch {
        throw ValidationError("\(error)")
      }
    }
    if let host { configuration.host = host }
    configuration.security = try tlsOptions.security(certificate: tlsCert, key: tlsKey)
    if !configuration.security.isTLS && !isLoopbackHost(configuration.serverHost) {
      logger.warning("connecting to \(server) in PLAINTEXT: the worker token and tenants' data cross the network unencrypted; pass --tls-ca")
    }
    let service = WorkerProcess(configuration: configuration, logger: logger)
    logger.info(
      "worker started", metadata: ["worker": "\(configuration.workerId)", "server": "\(server)", "job_memory_mb": "\(configuration.jobMemoryBytes >> 20)"])
    let tracing = try JobTracing.bootstrap(serviceName: "fidelis-worker", endpoint: otlpEndpoint)
    let services: [any Service] = (tracing.map { [$0] } ?? []) + [service]
    let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
  }
}

extension LogFormat: ExpressibleByArgument {}
