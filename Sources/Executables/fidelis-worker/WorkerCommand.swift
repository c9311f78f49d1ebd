import ArgumentParser
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

  @Option(help: "Worker name in logs and job attempts (default: worker-PID).")
  var name: String?

  @Option(name: .customLong("log-level"), help: "trace, debug, info, warning, error.")
  var logLevel = "info"

  func run() async throws {
    guard !token.isEmpty else { throw ValidationError("a worker token is needed: --token or FIDELIS_WORKER_TOKEN") }
    guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 64") }
    let parts = server.split(separator: ":")
    guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--server must be HOST:PORT") }
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    var logger = Logger(label: "fidelis.worker")
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
    var configuration = WorkerConfiguration(token: token)
    configuration.serverHost = String(parts[0])
    configuration.serverPort = port
    configuration.concurrency = concurrency
    if let name { configuration.workerId = name }
    let service = WorkerService(configuration: configuration, logger: logger)
    logger.info("worker started", metadata: ["worker": "\(configuration.workerId)", "server": "\(server)"])
    let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
  }
}
