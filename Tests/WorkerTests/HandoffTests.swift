import Synchronization
import Testing

@testable import Worker

@Suite("Dataset handoff between the reading and the parsing task")
struct HandoffTests {
  @Test("the reader never runs more than one chunk ahead of the parser, and every chunk arrives in order")
  func backpressure() async throws {
    let handoff = Handoff<Int>()
    let sent = Counter()
    let received = try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        for i in 0..<200 {
          await handoff.send(i)
          sent.add()
        }
        handoff.finish()
      }
      var received: [Int] = []
      while let value = try await handoff.next() {
        // `send` returns only once its chunk is taken: the reader is at most this one ahead.
        #expect(sent.value <= received.count + 1)
        received.append(value)
        if value % 20 == 0 { try await Task.sleep(for: .milliseconds(1)) }
      }
      try await group.waitForAll()
      return received
    }
    #expect(received == Array(0..<200))
  }

  @Test("a read error reaches the parser; a parser that stops releases the reader")
  func errorsBothWays() async throws {
    struct ReadFailed: Error {}
    let failing = Handoff<Int>()
    await #expect(throws: ReadFailed.self) {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          await failing.send(1)
          failing.finish(throwing: ReadFailed())
        }
        while try await failing.next() != nil {}
        try await group.waitForAll()
      }
    }

    // The parser takes one chunk and stops; the reader, waiting to hand over the next, ends.
    let abandoned = Handoff<Int>()
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        for i in 0..<10 { await abandoned.send(i) }
      }
      #expect(try await abandoned.next() == 0)
      abandoned.finish()
      try await group.waitForAll()
    }
  }
}

final class Counter: Sendable {
  private let count = Atomic<Int>(0)
  var value: Int { count.load(ordering: .relaxed) }
  func add() { count.add(1, ordering: .relaxed) }
}

