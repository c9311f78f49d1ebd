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

  /// Calls `consume` with the file's bytes, `chunkBytes` at a time, in order, each time in
  /// the same buffer: what is read locally is not copied into a fresh allocation per chunk
  /// (on a file of hundreds of megabytes, that copying and its page faults cost more than
  /// a tenth of the reading).
  public func readBuffers(_ consume: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw Unreadable(path: path) }
    defer { close(descriptor) }
    let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Self.chunkBytes)
    defer { buffer.deallocate() }
    while true {
      // A short read is not the end: only 0 is. Fill the buffer so that chunks stay whole.
      var filled = 0
      while filled < buffer.count {
        let count = read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
        if count < 0 {
          if errno == EINTR { continue }
          throw Unreadable(path: path)
        }
        if count == 0 { break }
        filled += count
      }
      if filled == 0 { return }
      try consume(UnsafeBufferPointer(rebasing: buffer[0..<filled]))
      if filled < buffer.count { return }
    }
  }
}
