import Synchronization

/// Hands elements one at a time from one producing task to one consuming task: `send`
/// returns only once the consumer has taken the element, so a fast producer cannot run
/// ahead of a slow consumer (a dataset stream then holds a chunk or two in memory, not
/// the whole file).
final class Handoff<Element: Sendable>: Sendable {
  private enum State {
    case idle
    case offered(Element, CheckedContinuation<Void, Never>)
    case awaited(CheckedContinuation<Element?, any Error>)
    /// No more elements: the end of the stream, or the error that ended it.
    case finished((any Error)?)
  }

  private let state = Mutex(State.idle)

  private enum SendAction {
    case deliver(CheckedContinuation<Element?, any Error>)
    case drop
    case wait
  }

  private enum NextAction {
    case take(Element, CheckedContinuation<Void, Never>)
    case end((any Error)?)
    case wait
  }

  /// Offers `element` and waits until the consumer takes it (or the handoff is finished,
  /// or this task is cancelled: then the element is dropped).
  func send(_ element: Element) async {
    await withTaskCancellationHandler {
      await withCheckedContinuation { (producer: CheckedContinuation<Void, Never>) in
        let action = state.withLock { state -> SendAction in
          switch state {
          case .awaited(let consumer):
            state = .idle
            return .deliver(consumer)
          case .finished:
            return .drop
          case .idle:
            state = .offered(element, producer)
            return .wait
          case .offered:
            preconditionFailure("Handoff has one producer")
          }
        }
        switch action {
        case .deliver(let consumer):
          consumer.resume(returning: element)
          producer.resume()
        case .drop:
          producer.resume()
        case .wait:
          break
        }
      }
    } onCancel: {
      finish(throwing: CancellationError())
    }
  }

  /// The next element; nil at the end; throws the error the producer finished with.
  func next() async throws -> Element? {
    try await withCheckedThrowingContinuation { (consumer: CheckedContinuation<Element?, any Error>) in
      let action = state.withLock { state -> NextAction in
        switch state {
        case .offered(let element, let producer):
          state = .idle
          return .take(element, producer)
        case .finished(let error):
          return .end(error)
        case .idle:
          state = .awaited(consumer)
          return .wait
        case .awaited:
          preconditionFailure("Handoff has one consumer")
        }
      }
      switch action {
      case .take(let element, let producer):
        producer.resume()
        consumer.resume(returning: element)
      case .end(let error?):
        consumer.resume(throwing: error)
      case .end(nil):
        consumer.resume(returning: nil)
      case .wait:
        break
      }
    }
  }

  /// Ends the stream: the consumer gets nil (or `error`) once it has taken what was
  /// offered; a waiting producer is released. Later calls change nothing.
  func finish(throwing error: (any Error)? = nil) {
    let released = state.withLock { state -> (CheckedContinuation<Element?, any Error>?, CheckedContinuation<Void, Never>?) in
      switch state {
      case .finished:
        return (nil, nil)
      case .awaited(let consumer):
        state = .finished(error)
        return (consumer, nil)
      case .offered(_, let producer):
        // The element offered is dropped: the consumer is gone or the producer gave up.
        state = .finished(error)
        return (nil, producer)
      case .idle:
        state = .finished(error)
        return (nil, nil)
      }
    }
    if let consumer = released.0 {
      if let error { consumer.resume(throwing: error) } else { consumer.resume(returning: nil) }
    }
    released.1?.resume()
  }
}
