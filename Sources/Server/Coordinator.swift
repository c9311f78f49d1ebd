import FidelisProto
import Foundation
import GRPCCore
import Logging
import Store
import Synchronization

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

  /// True when `tlsCertificatePath` and `tlsKeyPath` are set.
  public var usesTLS: Bool { tlsCertificatePath != nil && tlsKeyPath != nil }

  /// True when workers have a mutual-TLS listener of their own.
  public var usesWorkerListener: Bool { workerClientCAPath != nil }

  public init(adminToken: String, workerToken: String) {
    self.adminToken = adminToken
    self.workerToken = workerToken
  }
}

/// The coordinator's shared state: the store, the tokens, whether it is draining.
public final class Coordinator: Sendable {
  public let store: FidelisStore
  public let configuration: ServerConfiguration
  let logger: Logger
  private let drainingFlag = Atomic<Bool>(false)
  private let workerTokenHash: String
  private let adminTokenHash: String

  /// Room left on the data directory's disk.
  public let disk: DiskSpace
  /// Open watches, downloads and uploads per tenant.
  let streams: StreamSlots
  /// Moves when this coordinator changes a job: what watchers look at.
  let jobChanges = JobChanges()

  public init(store: FidelisStore, configuration: ServerConfiguration, logger: Logger) {
    self.store = store
    self.disk = DiskSpace(directory: store.dataDirectory?.url, reserveBytes: configuration.diskReserveBytes)
    self.streams = StreamSlots(limits: configuration.streamLimits)
    self.configuration = configuration
    self.logger = logger
    self.workerTokenHash = FidelisStore.hashKey(configuration.workerToken)
    self.adminTokenHash = FidelisStore.hashKey(configuration.adminToken)
  }

  /// Jobs queued (or queued again) since the start, counted after their commit: waiting
  /// leases look in the store again when it moves.
  var jobsQueued: Int { queuedCounter.load(ordering: .acquiring) }
  private let queuedCounter = Atomic<Int>(0)

  /// Counts a job just queued, once it is committed.
  func noteJobsQueued() { queuedCounter.add(1, ordering: .releasing) }

  /// True once a drain began: no new jobs are taken or leased.
  public var isDraining: Bool { drainingFlag.load(ordering: .acquiring) }

  /// Stops taking and leasing work (SIGTERM).
  public func beginDraining() { drainingFlag.store(true, ordering: .releasing) }

  // MARK: Checks at the edge

  /// Refuses a write while the disk is full, before SQLite has to.
  func requireDiskRoom() throws {
    guard !disk.isFull else {
      throw RPCError(code: .resourceExhausted, message: "the coordinator's disk is full: nothing was stored. Try again later; deleting datasets still works")
    }
  }

  /// Longest identifier the service makes (`job_` and 24 hex digits) with room to spare.
  static let longestID = 64

  /// An id from a request: one the service could have made, or NOT_FOUND without repeating
  /// more of it than an id holds (a 100 KB id once came back in the error and overflowed
  /// the response's metadata).
  static func checkID(_ id: String, _ what: String) throws {
    guard id.utf8.count <= longestID, id.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) })
    else {
      throw RPCError(code: .notFound, message: "no \(what) '\(id.prefix(longestID))\(id.count > longestID ? "…" : "")'")
    }
  }

  /// A name given by a user (tenant, dataset): 1 to 200 characters once trimmed, no NUL
  /// or other control character (a NUL once cut names short without a word).
  static func checkName(_ name: String, _ what: String, allowEmpty: Bool = false) throws -> String {
    let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
    if trimmed.isEmpty && allowEmpty { return trimmed }
    guard !trimmed.isEmpty, trimmed.count <= 200 else {
      throw RPCError(code: .invalidArgument, message: "a \(what) name must have 1 to 200 characters (got \(trimmed.count))")
    }
    guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
      throw RPCError(code: .invalidArgument, message: "a \(what) name must not contain control characters (NUL, line breaks, tabs)")
    }
    return trimmed
  }

  // MARK: Authentication

  /// The bearer token of a call, or UNAUTHENTICATED.
  static func bearer(_ metadata: Metadata) throws -> String {
    guard let value = metadata[stringValues: "authorization"].first(where: { _ in true }) else {
      throw RPCError(code: .unauthenticated, message: "missing 'authorization: Bearer <key>' metadata")
    }
    let parts = value.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
      throw RPCError(code: .unauthenticated, message: "the authorization metadata must be 'Bearer <key>'")
    }
    return String(parts[1])
  }

  /// The tenant whose API key the call carries.
  func tenant(_ metadata: Metadata) throws -> TenantRecord {
    let key = try Self.bearer(metadata)
    guard let tenant = try mapStoreErrors({ try store.tenant(forKey: key) }) else {
      throw RPCError(code: .unauthenticated, message: "unknown API key")
    }
    return tenant
  }

  /// Checks the worker token.
  func requireWorker(_ metadata: Metadata) throws {
    guard constantTimeEquals(FidelisStore.hashKey(try Self.bearer(metadata)), workerTokenHash) else {
      throw RPCError(code: .unauthenticated, message: "worker calls need the worker token")
    }
  }

  /// Checks the admin token.
  func requireAdmin(_ metadata: Metadata) throws {
    guard constantTimeEquals(FidelisStore.hashKey(try Self.bearer(metadata)), adminTokenHash) else {
      throw RPCError(code: .permissionDenied, message: "administration needs the admin token")
    }
  }
}

/// Compares two strings in time independent of where they differ.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
  let x = Array(a.utf8), y = Array(b.utf8)
  guard x.count == y.count else { return false }
  var difference: UInt8 = 0
  for i in x.indices { difference |= x[i] ^ y[i] }
  return difference == 0
}

extension Coordinator {
  /// Runs a store operation, turning its refusals into gRPC statuses with their message.
  func mapStoreErrors<T>(_ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch {
      throw rpcError(error)
    }
  }

  /// `mapStoreErrors` for the store's asynchronous writes.
  func mapStoreErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
      return try await body()
    } catch {
      throw rpcError(error)
    }
  }

  /// The status a store error answers with. A full disk is noted (health turns NOT_SERVING
  /// until space is back); any other failure of SQLite is logged for the operator and
  /// answered without SQLite's words, which name tables and files.
  func rpcError(_ error: any Error) -> RPCError {
    switch error {
    case let error as StoreError:
      switch error {
      case .notFound(let m): return RPCError(code: .notFound, message: m)
      case .failedPrecondition(let m): return RPCError(code: .failedPrecondition, message: m)
      case .resourceExhausted(let m): return RPCError(code: .resourceExhausted, message: m)
      case .leaseLost(let m): return RPCError(code: .aborted, message: m)
      case .invalidArgument(let m): return RPCError(code: .invalidArgument, message: m)
      }
    case let error as RPCError:
      return error
    default:
      if FidelisStore.isDiskFull(error) {
        if disk.noteFull() { logger.error("the data directory's disk is full: writes are refused until space is freed") }
        return RPCError(code: .resourceExhausted, message: "the coordinator's disk is full: nothing was stored. Try again later; deleting datasets still works")
      }
      logger.error("store failure: \(error)")
      return RPCError(code: .internalError, message: "the coordinator's store failed; nothing was changed, and the operator's log has the details")
    }
  }
}

// MARK: - Conversions to the API messages

extension Fidelis_V1_JobState {
  init(_ state: JobState) {
    switch state {
    case .queued: self = .queued
    case .running: self = .running
    case .succeeded: self = .succeeded
    case .failed: self = .failed
    case .cancelled: self = .cancelled
    }
  }

  var storeState: JobState? {
    switch self {
    case .queued: .queued
    case .running: .running
    case .succeeded: .succeeded
    case .failed: .failed
    case .cancelled: .cancelled
    default: nil
    }
  }
}

extension Coordinator {
  func message(_ tenant: TenantRecord) -> Fidelis_V1_Tenant {
    .with {
      $0.id = tenant.id
      $0.name = tenant.name
      $0.createdAtUnixMs = tenant.createdAt
      $0.defaultLanguage = tenant.defaultLanguage
      $0.limits = .with {
        $0.maxQueuedJobs = Int32(tenant.maxQueuedJobs)
        $0.maxRunningJobs = Int32(tenant.maxRunningJobs)
        $0.maxDatasetBytes = tenant.maxDatasetBytes
        $0.maxStorageBytes = tenant.maxStorageBytes
      }
    }
  }

  func message(_ dataset: DatasetRecord) -> Fidelis_V1_Dataset {
    .with {
      $0.id = dataset.id
      $0.name = dataset.name
      $0.sizeBytes = dataset.sizeBytes
      $0.sha256 = dataset.sha256
      $0.createdAtUnixMs = dataset.createdAt
      $0.kind = dataset.kind
    }
  }

  /// The API form of a job, with its attempts and report formats when asked.
  func message(_ job: JobRecord, details: Bool) throws -> Fidelis_V1_Job {
    var message = Fidelis_V1_Job.with {
      $0.id = job.id
      $0.datasetID = job.datasetId
      $0.kind = job.kind
      $0.options = (try? Fidelis_V1_JobOptions(serializedBytes: job.options)) ?? .init()
      $0.state = .init(job.state)
      $0.attempt = Int32(job.attempt)
      $0.maxAttempts = Int32(job.maxAttempts)
      $0.stage = job.stage
      $0.progressPercent = job.progress
      $0.error = job.error ?? ""
      $0.cancelRequested = job.cancelRequested
      $0.createdAtUnixMs = job.createdAt
      $0.startedAtUnixMs = job.startedAt ?? 0
      $0.finishedAtUnixMs = job.finishedAt ?? 0
    }
    if details {
      message.attempts = try mapStoreErrors { try store.attempts(jobId: job.id) }.map { attempt in
        .with {
          $0.number = Int32(attempt.number)
          $0.worker = attempt.worker
          $0.host = attempt.host
          $0.startedAtUnixMs = attempt.startedAt
          $0.endedAtUnixMs = attempt.endedAt ?? 0
          $0.outcome = attempt.outcome
          $0.error = attempt.error ?? ""
          $0.workerCertificate = attempt.workerCertificate ?? ""
        }
      }
      if job.state == .succeeded { message.reportFormats = try mapStoreErrors { try store.artifactFormats(jobId: job.id) } }
    }
    return message
  }
}
