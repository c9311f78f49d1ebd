import GRPCCore
import Synchronization

/// The long-lived calls a tenant may hold open at once, by kind. A call over its tenant's
/// limit is refused with RESOURCE_EXHAUSTED: one tenant's two thousand watches must not
/// slow every other tenant's calls.
public struct StreamLimits: Sendable {
  /// `WatchJob` streams.
  public var watches = 32
  /// `GetReport` and `ExportSegment` streams.
  public var downloads = 8
  /// `UploadDataset` calls.
  public var uploads = 4

  public init() {}
}

/// The open long-lived calls of every tenant, counted against `StreamLimits`.
final class StreamSlots: Sendable {
  enum Kind: String, Sendable {
    case watch = "job watches"
    case download = "report downloads and segment exports"
    case upload = "uploads"
  }

  private let limits: StreamLimits
  private let open = Mutex<[String: Int]>([:])

  init(limits: StreamLimits) { self.limits = limits }

  private func limit(_ kind: Kind) -> Int {
    switch kind {
    case .watch: limits.watches
    case .download: limits.downloads
    case .upload: limits.uploads
    }
  }

  /// Runs `body` in one of the tenant's slots of `kind`; RESOURCE_EXHAUSTED when all are taken.
  func withSlot<T>(tenant: String, _ kind: Kind, _ body: () async throws -> T) async throws -> T {
    let key = tenant + "/" + kind.rawValue
    let limit = limit(kind)
    let taken = open.withLock { open -> Bool in
      let count = open[key, default: 0]
      guard count < limit else { return false }
      open[key] = count + 1
      return true
    }
    guard taken else {
      throw RPCError(code: .resourceExhausted, message: "at most \(limit) \(kind.rawValue) at once per tenant; wait for one to end")
    }
    defer {
      open.withLock { open in
        let count = open[key, default: 1] - 1
        open[key] = count > 0 ? count : nil
      }
    }
    return try await body()
  }
}

/// A counter per job that moves whenever this coordinator changes the job: watchers look at
/// it (a lock and a lookup) and read the store only when it moved, or after a second for
/// what no counter covers.
final class JobChanges: Sendable {
  private struct State {
    var versions: [String: UInt64] = [:]
    var clock: UInt64 = 0
    var finished: UInt64 = 0
  }
  private let state = Mutex(State())

  /// Notes a change of a job; `final` forgets it (its watchers see the change and stop).
  func touch(_ id: String, final: Bool = false) {
    state.withLock { state in
      state.clock += 1
      state.versions[id] = final ? nil : state.clock
      if final { state.finished += 1 }
    }
  }

  /// Moves each time this coordinator ends a job: what watchers of reports look at.
  var finished: UInt64 { state.withLock { $0.finished } }

  /// The job's current version (0 when unknown).
  func version(_ id: String) -> UInt64 { state.withLock { $0.versions[id] ?? 0 } }
}
