import FidelisProto
import Foundation
import GRPCCore
import Logging
import Store
import Synchronization

/// The coordinator's shared state: the store, the tokens, whether it is draining.
public final class Coordinator: Sendable {
  public let store: FidelisStore
  public let configuration: ServerConfiguration
  let logger: Logger
  private let drainingFlag = Atomic<Bool>(false)
  /// Hashes of the two tokens, compared in constant time (Authentication.swift).
  let workerTokenHash: String
  let adminTokenHash: String

  /// Room left on the data directory's disk.
  public let disk: DiskSpace
  /// Open watches, downloads and uploads per tenant.
  let streams: StreamSlots
  /// Moves when this coordinator changes or ends a job: what watches wait on.
  let jobChanges = JobChanges()
  /// The workers heard from since the start.
  let workers = WorkerRegistry()
  /// What `/metrics` serves.
  let metrics: CoordinatorMetrics

  public init(store: FidelisStore, configuration: ServerConfiguration, logger: Logger) {
    self.store = store
    self.disk = DiskSpace(directory: store.dataDirectory?.url, reserveBytes: configuration.diskReserveBytes)
    self.streams = StreamSlots(limits: configuration.streamLimits)
    self.metrics = CoordinatorMetrics(perTenant: configuration.metricsPerTenant)
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

  /// The answer to a write while the disk is full.
  static let diskFull = RPCError(code: .resourceExhausted, message: "the coordinator's disk is full: nothing was stored. Try again later; deleting datasets still works")

  /// Refuses a write while the disk is full, before SQLite has to.
  func requireDiskRoom() throws {
    guard !disk.isFull else {
      throw Self.diskFull
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

  /// A page size or a limit of a listing: 1 to 1000, 0 for the default of 100.
  static func pageSize(_ value: Int32, _ field: String) throws -> Int {
    guard value >= 0, value <= 1000 else { throw RPCError(code: .invalidArgument, message: "\(field) must be between 0 and 1000 (got \(value))") }
    return value == 0 ? 100 : Int(value)
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
}
