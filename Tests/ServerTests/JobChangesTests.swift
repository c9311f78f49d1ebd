import Foundation
import GRPCCore
import Testing

@testable import Server

/// The watches' wake-ups: a wait ends at the change it waits for, not at a next look. The
/// deadlines of waits that a change must end are far: under a full test run, other tests
/// keep the cooperative threads for seconds, and a near deadline would pass first.
@Suite("Job changes")
struct JobChangesTests {
  static let call = ServerContext.RPCCancellationHandle()

  /// Seconds `body` took.
  static func seconds(_ body: () async -> Void) async -> Double {
    let start = ContinuousClock.now
    await body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
  }

  @Test("a wait ends at the job's change, at once when it moved before, and at its deadline when nothing moves")
  func wakes() async {
    let changes = JobChanges()
    changes.touch("job_a")
    let seen = changes.version("job_a")
    #expect(await changes.waitForChange(of: "job_a", from: 0, until: .now + .seconds(600), cancellation: Self.call))
    async let moved = changes.waitForChange(of: "job_a", from: seen, until: .now + .seconds(600), cancellation: Self.call)
    try? await Task.sleep(for: .milliseconds(50))
    changes.touch("job_b")  // another job: not this wait's change
    changes.touch("job_a")
    #expect(await moved)
    let quiet = await Self.seconds {
      #expect(await changes.waitForChange(of: "job_b", from: changes.version("job_b"), until: .now + .milliseconds(200), cancellation: Self.call) == false)
    }
    #expect(quiet >= 0.19)
  }

  @Test("a job that changes and ends while watched wakes its watcher, though its version is back where it was seen")
  func endedMeanwhile() async {
    let changes = JobChanges()
    #expect(changes.version("job_c") == 0)
    async let moved = changes.waitForChange(of: "job_c", from: 0, until: .now + .seconds(600), cancellation: Self.call)
    // Both changes after the watcher is in place: before it, they would leave nothing to see
    // (the watches' once-a-second read covers that).
    while changes.waiting == 0 { try? await Task.sleep(for: .milliseconds(5)) }
    let ended = changes.finished
    changes.touch("job_c")
    changes.touch("job_c", final: true)
    #expect(await moved)
    #expect(changes.version("job_c") == 0 && changes.finished != ended)
    #expect(await changes.waitForEnd(from: ended, until: .now + .seconds(600), cancellation: Self.call))
  }

  @Test("a job's end wakes every watch of reports; the end of a call ends its wait at once")
  func reportWatchesAndCalls() async {
    let changes = JobChanges()
    let finished = changes.finished
    let woken = await withTaskGroup(of: Bool.self) { group in
      for _ in 0..<20 {
        group.addTask { await changes.waitForEnd(from: finished, until: .now + .seconds(600), cancellation: Self.call) }
      }
      try? await Task.sleep(for: .milliseconds(100))
      changes.touch("job_d")  // a change that is not an end
      changes.touch("job_d", final: true)
      return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
    }
    #expect(woken == 20)
    let call = ServerContext.RPCCancellationHandle()
    let ended = await Self.seconds {
      async let moved = changes.waitForChange(of: "job_e", from: 0, until: .now + .seconds(600), cancellation: call)
      try? await Task.sleep(for: .milliseconds(50))
      call.cancel()
      #expect(await moved == false)
    }
    #expect(ended < 300)
  }
}
