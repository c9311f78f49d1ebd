import Analytics
import Foundation
import LocalFiles

/// A local transactions file read without the lines above its header (`LeadingLines`),
/// found in its first chunk: the same chunk whether the file is read to be sent or to be
/// analysed, so that what is announced and what is read agree.
extension LocalFile {
  /// The lines above the header in the file's first chunk; nil when there are none, or the
  /// file is not a regular file (a pipe's bytes would be taken by looking: its lines are
  /// found as it is read) or cannot be read.
  public func leadingLines(columns: [String: String] = [:]) -> LeadingLines? {
    guard isRegularFile else { return nil }
    struct FirstChunkRead: Error {}
    var found: LeadingLines?
    do {
      try readBuffers { chunk in
        found = LeadingLines.find(in: chunk, columns: columns)
        throw FirstChunkRead()
      }
    } catch {}
    return found
  }

  /// `readChunks`, the lines above the header left out of the first chunk; `found` hears
  /// of them.
  public func readChunksFromHeader(
    columns: [String: String] = [:], found: (LeadingLines) -> Void = { _ in }, _ consume: (Data) async throws -> Void
  ) async throws {
    var first = true
    try await readChunks { chunk in
      guard first else { return try await consume(chunk) }
      first = false
      let leading = chunk.withUnsafeBytes { LeadingLines.find(in: $0.bindMemory(to: UInt8.self), columns: columns) }
      guard let leading else { return try await consume(chunk) }
      found(leading)
      var rest = Data(chunk)
      rest.removeSubrange(leading.range)
      try await consume(rest)
    }
  }

  /// `readBuffers`, the lines above the header left out of the first chunk; `found` hears
  /// of them.
  public func readBuffersFromHeader(
    columns: [String: String] = [:], found: (LeadingLines) -> Void = { _ in }, _ consume: (UnsafeBufferPointer<UInt8>) throws -> Void
  ) throws {
    var first = true
    try readBuffers { chunk in
      guard first else { return try consume(chunk) }
      first = false
      guard let leading = LeadingLines.find(in: chunk, columns: columns) else { return try consume(chunk) }
      found(leading)
      var rest = Array(chunk)
      rest.removeSubrange(leading.range)
      try rest.withUnsafeBufferPointer { try consume($0) }
    }
  }
}
