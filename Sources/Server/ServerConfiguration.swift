import Foundation
import Store

/// Everything the coordinator is configured with.
public struct ServerConfiguration: Sendable {
  /// Documented default port of the coordinator.
  public static let defaultPort = 7443

  public var host = "127.0.0.1"
  /// 0 picks a free port (tests).
  public var port = ServerConfiguration.defaultPort
  public var dataDirectory = URL(fileURLWithPath: "fidelis-data")
  public var adminToken: String
  public var workerToken: String
  /// How long a lease lasts without a heartbeat.
  public var leaseMillis: Int64 = 30_000
  /// How often expired leases are taken back.
  public var reaperIntervalMillis: Int64 = 500
  /// Longest wait for running jobs when draining.
  public var drainTimeoutMillis: Int64 = 60_000
  public var tenantDefaults = TenantDefaults()
  /// Largest single message accepted (upload chunks are at most 1 MiB).
  public var maxMessageBytes = 4 << 20
  /// PEM certificate chain and private key: with both, every listener speaks TLS.
  public var tlsCertificatePath: String?
  public var tlsKeyPath: String?
  /// PEM CA that worker certificates must chain to. With it, workers connect to a listener
  /// of their own with mutual TLS (`workerHost`:`workerPort`, by default the main port + 1),
  /// and worker calls on the main listener are refused.
  public var workerClientCAPath: String?
  public var workerHost: String?
  public var workerPort: Int?
  /// Plaintext on an address other than loopback; refused unless set.
  public var allowInsecurePlaintext = false
  /// Long-lived calls a tenant may hold open at once.
  public var streamLimits = StreamLimits()
  /// How long a connection may stay open without sending the HTTP/2 preface and settings.
  public var handshakeTimeoutMillis: Int64 = 10_000
  /// Space held back in the data directory, given back so that deletes work on a full disk.
  public var diskReserveBytes: Int64 = 32 << 20
  /// Where `/metrics` is served in the Prometheus text format; nil: not served.
  public var metricsHost: String?
  public var metricsPort: Int?
  /// Queue depth and running jobs per tenant too (one series per tenant).
  public var metricsPerTenant = false

  /// True when `tlsCertificatePath` and `tlsKeyPath` are set.
  public var usesTLS: Bool { tlsCertificatePath != nil && tlsKeyPath != nil }

  /// True when workers have a mutual-TLS listener of their own.
  public var usesWorkerListener: Bool { workerClientCAPath != nil }

  public init(adminToken: String, workerToken: String) {
    self.adminToken = adminToken
    self.workerToken = workerToken
  }
}
