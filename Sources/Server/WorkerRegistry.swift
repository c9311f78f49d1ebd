import Store
import Synchronization

/// The workers this coordinator has heard from since it started: each lease call says who
/// it is (name, host, certificate subject, slots). With the store's running attempts, what
/// `fidelis admin workers` shows.
final class WorkerRegistry: Sendable {
  struct Presence: Sendable, Equatable {
    var host: String
    var certificate: String
    var slots: Int
    var lastSeen: Int64
  }

  private let workers = Mutex<[String: Presence]>([:])

  /// A worker's name: its lease id without the slot (`eu-1/3` is a slot of `eu-1`).
  static func name(_ workerId: String) -> String {
    guard let slash = workerId.lastIndex(of: "/"), workerId[workerId.index(after: slash)...].allSatisfy(\.isNumber) else { return workerId }
    return String(workerId[..<slash])
  }

  /// Notes a lease call of the slot `workerId`.
  func seen(workerId: String, host: String, certificate: String, slots: Int, at now: Int64 = FidelisStore.now()) {
    let name = Self.name(workerId)
    workers.withLock { workers in
      let known = workers[name]
      workers[name] = Presence(host: host, certificate: certificate, slots: max(slots, known?.slots ?? 0), lastSeen: max(now, known?.lastSeen ?? 0))
    }
  }

  /// Every worker heard from, by name.
  var snapshot: [String: Presence] { workers.withLock { $0 } }

  /// The slots of each worker heard from within `milliseconds`.
  func connectedSlots(within milliseconds: Int64, now: Int64 = FidelisStore.now()) -> [Int] {
    workers.withLock { $0.values.filter { now - $0.lastSeen <= milliseconds }.map(\.slots) }
  }
}
