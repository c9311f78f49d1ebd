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

/// Counters that move whenever this coordinator changes a job or ends one, and the watches
/// waiting for one to move: a job's watchers and the watchers of reports wake at the change,
/// not at their next look (every 100 ms), and still read the store at least once a second
/// for what no counter covers (another process's change).
final class JobChanges: Sendable {
  private enum Key: Hashable {
    case job(String)
    case ended
  }
  private struct State {
    var versions: [Key: UInt64] = [:]
    var clock: UInt64 = 0
    var waiters: [Key: [Int: CheckedContinuation<Bool, Never>]] = [:]
    var nextWaiter = 0
  }
  private let state = Mutex(State())

  /// Notes a change of a job; `final` forgets it (its watchers see the change and stop).
  func touch(_ id: String, final: Bool = false) {
    move([.job(id)] + (final ? [.ended] : []), forgetting: final ? .job(id) : nil)
  }

  /// Moves each time this coordinator ends a job: what watchers of reports look at.
  var finished: UInt64 { version(.ended) }

  /// The job's current version (0 when unknown).
  func version(_ id: String) -> UInt64 { version(.job(id)) }

  /// Returns once job `id`'s version is no longer `seen` (at once when it has moved), at
  /// `deadline`, or when the call of `cancellation` ends, whichever comes first; true when
  /// the job changed. A job that changed and ended meanwhile is back at version 0, which
  /// its watcher may have seen before it began: only this answer tells it.
  @discardableResult
  func waitForChange(of id: String, from seen: UInt64, until deadline: ContinuousClock.Instant, cancellation: ServerContext.RPCCancellationHandle) async -> Bool {
    await wait(.job(id), from: seen, until: deadline, cancellation: cancellation)
  }

  /// As `waitForChange(of:…)`, for `finished`.
  @discardableResult
  func waitForEnd(from seen: UInt64, until deadline: ContinuousClock.Instant, cancellation: ServerContext.RPCCancellationHandle) async -> Bool {
    await wait(.ended, from: seen, until: deadline, cancellation: cancellation)
  }

  /// Waits suspended now (tests wait for a watcher to be in place before changing its job).
  var waiting: Int { state.withLock { $0.waiters.values.reduce(0) { $0 + $1.count } } }

  private func version(_ key: Key) -> UInt64 { state.withLock { $0.versions[key] ?? 0 } }

  private func move(_ keys: [Key], forgetting forgotten: Key?) {
    let woken = state.withLock { state in
      state.clock += 1
      var woken: [CheckedContinuation<Bool, Never>] = []
      for key in keys {
        state.versions[key] = key == forgotten ? nil : state.clock
        if let waiting = state.waiters.removeValue(forKey: key) { woken += waiting.values }
      }
      return woken
    }
    for waiter in woken { waiter.resume(returning: true) }
  }

  /// True when `key` moved; false at the deadline or the end of the call.
  private func wait(_ key: Key, from seen: UInt64, until deadline: ContinuousClock.Instant, cancellation: ServerContext.RPCCancellationHandle) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
      group.addTask { await self.suspend(until: key, movesFrom: seen) }
      group.addTask {
        try? await Task.sleep(until: deadline)
        return false
      }
      group.addTask {
        try? await cancellation.cancelled
        return false
      }
      let moved = await group.next() ?? false
      group.cancelAll()
      return moved
    }
  }

  /// Suspends until `key` moves from `seen` (true), or the task is cancelled (false).
  private func suspend(until key: Key, movesFrom seen: UInt64) async -> Bool {
    let id = state.withLock { state in
      defer { state.nextWaiter += 1 }
      return state.nextWaiter
    }
    return await withTaskCancellationHandler {
      await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
        // Decided under the lock `move` takes: a change is either seen here or wakes us.
        // A cancellation before this point is seen here; one after finds the waiter.
        let now: Bool? = state.withLock { state in
          if Task.isCancelled { return false }
          if (state.versions[key] ?? 0) != seen { return true }
          state.waiters[key, default: [:]][id] = waiter
          return nil
        }
        if let now { waiter.resume(returning: now) }
      }
    } onCancel: {
      let waiter = state.withLock { state in
        let waiter = state.waiters[key]?.removeValue(forKey: id)
        if state.waiters[key]?.isEmpty == true { state.waiters[key] = nil }
        return waiter
      }
      waiter?.resume(returning: false)
    }
  }
}
