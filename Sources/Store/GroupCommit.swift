import GRDB
import Synchronization

/// Runs the write transactions of concurrent callers together, in one transaction and one
/// commit (group commit). Each caller's work runs in its own savepoint, so that one caller's
/// refusal undoes only its own changes, and each caller gets its answer once the commit that
/// holds its work is done: what was answered is stored.
///
/// There is no writer task: the first caller finds no batch running and leads, that is, runs
/// every work queued so far; when its batch is committed it hands the lead to the oldest
/// caller still waiting, who runs the next batch. One caller alone pays no delay, and under
/// load the batches grow by themselves.
final class GroupCommit: Sendable {
  /// One caller's work, and the caller while it waits: resumed with `true` to lead the
  /// next batch, `false` when its work is committed (or failed); nil while it leads.
  private struct Waiting {
    /// Runs the work in a savepoint and keeps its result.
    let run: @Sendable (Database) -> Void
    /// Fails the work when its batch could not commit.
    let fail: @Sendable (any Error) -> Void
    var caller: CheckedContinuation<Bool, Never>?
  }

  private struct State {
    var queue: [Waiting] = []
    var leading = false
  }

  private let writer: any DatabaseWriter
  private let state = Mutex(State())
  /// A batch is cut here, so that a commit and the answers it releases stay prompt.
  private let maxBatch = 64

  init(_ writer: any DatabaseWriter) {
    self.writer = writer
  }

  /// Runs `work` in a write transaction, possibly shared with other callers', and returns
  /// its result once committed. Errors thrown by `work` undo only its own changes.
  func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
    let result = Outcome<T>()
    let run: @Sendable (Database) -> Void = { db in
      do {
        var produced: T?
        try db.inSavepoint {
          produced = try work(db)
          return .commit
        }
        result.set(.success(produced!))
      } catch {
        result.set(.failure(error))
      }
    }
    let fail: @Sendable (any Error) -> Void = { error in result.set(.failure(error)) }
    let leading = await withCheckedContinuation { caller in
      // The caller is stored in the same critical section that makes the work visible, so
      // that no leader can find the work without a way to wake its caller.
      let leadNow = state.withLock { state -> Bool in
        let leadNow = !state.leading
        state.leading = true
        state.queue.append(Waiting(run: run, fail: fail, caller: leadNow ? nil : caller))
        return leadNow
      }
      if leadNow { caller.resume(returning: true) }
    }
    if leading { await runBatch() }
    // Every batch runs or fails each of its works, so the outcome is there.
    return try result.get()
  }

  /// Runs the queued work (the leader's first) in one transaction, wakes its callers, and
  /// passes the lead on to the oldest caller still waiting.
  private func runBatch() async {
    let batch = state.withLock { state -> ArraySlice<Waiting> in
      let batch = state.queue.prefix(maxBatch)
      state.queue.removeFirst(batch.count)
      return batch
    }
    let works = batch.map(\.run)
    // Awaited, not blocking: the commit runs on the database's own thread while the calls
    // that need no write go on. Not `write`, which a cancel of the leader's call would
    // interrupt, failing every caller of the batch: the batch runs to its end.
    let committed: Result<Void, any Error> = await withCheckedContinuation { continuation in
      writer.asyncWrite({ db in
        for run in works { run(db) }
      }, completion: { _, result in continuation.resume(returning: result) })
    }
    if case .failure(let error) = committed {
      for waiting in batch { waiting.fail(error) }
    }
    let nextLeader = state.withLock { state -> CheckedContinuation<Bool, Never>? in
      guard !state.queue.isEmpty else {
        state.leading = false
        return nil
      }
      let caller = state.queue[0].caller
      state.queue[0].caller = nil
      return caller
    }
    for waiting in batch { waiting.caller?.resume(returning: false) }
    nextLeader?.resume(returning: true)
  }
}

/// The result of one caller's work, written by the leader that ran it.
private final class Outcome<T: Sendable>: Sendable {
  private let value = Mutex<Result<T, any Error>>(.failure(CancellationError()))

  func set(_ result: Result<T, any Error>) { value.withLock { $0 = result } }

  func get() throws -> T { try value.withLock { $0 }.get() }
}
