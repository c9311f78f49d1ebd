import Foundation
import Logging
import Synchronization

/// How a process writes its log lines.
public enum LogFormat: String, Sendable, CaseIterable {
  /// For people: swift-log's standard lines.
  case text
  /// For log shippers: one JSON object per line.
  case json

  /// Bootstraps swift-log's system once, for the whole process, to standard error.
  public func bootstrap() {
    switch self {
    case .text: LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    case .json: LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
    }
  }
}

/// Writes each log record as one JSON object on standard error: `time` (RFC 3339, UTC, with
/// milliseconds), `level`, `logger`, `message`, then every metadata key. A line about a job
/// also carries `trace_id`, the W3C trace id of the job (`traceID(job:)`): the lines of one
/// job share it across the coordinator and the workers, whatever host wrote them.
public struct JSONLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level = .info
  let label: String
  /// One line at a time, whichever thread logs.
  private static let output = Mutex<Void>(())

  public init(label: String) { self.label = label }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var metadata = self.metadata.merging(event.metadata ?? [:]) { $1 }
    if let error = event.error { metadata["error"] = "\(error)" }
    let line = Self.line(time: Date(), level: event.level, label: label, message: "\(event.message)", metadata: metadata)
    // A log that cannot be written (stderr on a full disk, or closed) is lost, not fatal:
    // `write(_:)` stops the process when the write fails.
    Self.output.withLock { _ in try? FileHandle.standardError.write(contentsOf: line) }
  }

  /// The JSON line of one record, its line break included.
  public static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> Data {
    var object: [String: Any] = [:]
    for (key, value) in metadata { object[key] = json(value) }
    if object["trace_id"] == nil, case .string(let job)? = metadata["job"] { object["trace_id"] = traceID(job: job) }
    object["time"] = timestamp(time)
    object["level"] = level.rawValue
    object["logger"] = label
    object["message"] = message
    var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    data.append(0x0A)
    return data
  }

  static func json(_ value: Logger.Metadata.Value) -> Any {
    switch value {
    case .string(let s): s
    case .stringConvertible(let c): c.description
    case .array(let a): a.map(json)
    case .dictionary(let d): d.mapValues(json)
    }
  }

  static func timestamp(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
  }
}

/// The W3C trace id (32 lowercase hex digits) of a job: derived from its id, so that every
/// process computes the same one without passing it along.
public func traceID(job: String) -> String {
  // FNV-1a 128 folded from two 64-bit lanes with different seeds: stable across processes
  // and versions (Swift's own hashing is seeded per process).
  func fnv(_ seed: UInt64) -> UInt64 {
    var hash = seed
    for byte in job.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x100_0000_01b3
    }
    hash ^= hash >> 33
    hash &*= 0xff51_afd7_ed55_8ccd
    hash ^= hash >> 33
    return hash
  }
  let hex = String(fnv(0xcbf2_9ce4_8422_2325), radix: 16) + ":" + String(fnv(0x84222325_cbf29ce4), radix: 16)
  let parts = hex.split(separator: ":").map { String(repeating: "0", count: 16 - $0.count) + $0 }
  return parts.joined()
}
