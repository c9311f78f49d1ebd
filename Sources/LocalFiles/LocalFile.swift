import Foundation

/// A local file the user named on a command line.
public struct LocalFile: Sendable {
  /// Bytes read at a time: what an upload sends per message, what an ingestor takes per chunk.
  public static let chunkBytes = 1 << 20

  public let path: String

  public init(path: String) {
    self.path = path
  }

  /// A file that cannot be read, named in the message.
  public struct Unreadable: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var description: String { "cannot read \(path)" }
  }

  /// Throws `Unreadable` unless every file exists and can be read: checked before a
  /// connection is made or a job starts, so a typo fails at once and says which file.
  public static func requireReadable(_ paths: [String]) throws(Unreadable) {
    for path in paths where !FileManager.default.isReadableFile(atPath: path) {
      throw Unreadable(path: path)
    }
  }

  /// The file's size in bytes; nil when it cannot be read.
  public var byteCount: Int? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
  }

  /// Calls `consume` with the file's bytes, `chunkBytes` at a time, in order.
  public func readChunks(_ consume: (Data) async throws -> Void) async throws {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw Unreadable(path: path) }
    defer { try? handle.close() }
    while let chunk = try handle.read(upToCount: Self.chunkBytes), !chunk.isEmpty {
      try await consume(chunk)
    }
  }
}
