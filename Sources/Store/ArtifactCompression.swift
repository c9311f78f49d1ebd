import CZlib
import Foundation

/// Report files are stored as independent zlib pieces of at most `pieceBytes` each, so that
/// a download or a segment export reads, inflates and sends one piece at a time and never
/// holds a whole file (a per-customer CSV of a million customers is about 80 MB) on the
/// coordinator.
public enum ArtifactCompression {
  /// Uncompressed bytes per stored piece.
  public static let pieceBytes = 1 << 20

  /// zlib's fastest level: report files (CSV, HTML, JSON) still shrink 4–8×, at a cost far
  /// below the analysis that made them.
  static let level: Int32 = 1

  static func deflate(_ input: Data) -> Data {
    var bound = compressBound(uLong(input.count))
    var output = Data(count: Int(bound))
    let status = output.withUnsafeMutableBytes { out in
      input.withUnsafeBytes { source in
        compress2(out.bindMemory(to: Bytef.self).baseAddress, &bound, source.bindMemory(to: Bytef.self).baseAddress, uLong(input.count), level)
      }
    }
    // compressBound guarantees room: only memory exhaustion fails, and that traps anyway.
    precondition(status == Z_OK, "zlib compress2 failed with \(status)")
    output.count = Int(bound)
    return output
  }

  /// A stored piece inflated back to its `size` bytes; nil when it does not inflate to
  /// exactly that (a damaged file).
  static func inflate(_ deflated: Data, size: Int) -> Data? {
    var length = uLongf(size)
    var output = Data(count: size)
    let status = output.withUnsafeMutableBytes { out in
      deflated.withUnsafeBytes { source in
        uncompress(out.bindMemory(to: Bytef.self).baseAddress, &length, source.bindMemory(to: Bytef.self).baseAddress, uLong(deflated.count))
      }
    }
    guard status == Z_OK, Int(length) == size else { return nil }
    return output
  }
}

/// A report file deflated piece by piece as its bytes arrive, so that the coordinator
/// receiving it holds its compressed pieces and at most one raw piece, not the file.
public struct DeflatedArtifact: Sendable {
  public let format: String
  public let contentType: String
  /// Bytes of the file so far.
  public private(set) var size = 0
  /// Bytes of its deflated pieces so far.
  public private(set) var storedBytes = 0
  private(set) var pieces: [(size: Int, deflated: Data)] = []
  private var pending = Data()

  public init(format: String, contentType: String) {
    self.format = format
    self.contentType = contentType
  }

  /// A whole file, deflated.
  public init(_ content: ArtifactContent) {
    self.init(format: content.format, contentType: content.contentType)
    append(content.data)
    finish()
  }

  /// Adds the file's next bytes; each full piece is deflated at once.
  public mutating func append(_ bytes: Data) {
    size += bytes.count
    var rest = bytes[...]
    while !rest.isEmpty {
      let take = min(ArtifactCompression.pieceBytes - pending.count, rest.count)
      pending.append(rest.prefix(take))
      rest = rest.dropFirst(take)
      if pending.count == ArtifactCompression.pieceBytes { flush() }
    }
  }

  /// Deflates the last, partial piece.
  public mutating func finish() {
    if !pending.isEmpty { flush() }
  }

  private mutating func flush() {
    let deflated = ArtifactCompression.deflate(pending)
    pieces.append((pending.count, deflated))
    storedBytes += deflated.count
    pending = Data()
  }
}
