import CZlib
import Dispatch
import Foundation

/// How report files are stored: independent zlib pieces of at most `pieceBytes` raw bytes
/// each, so that a download or a segment export reads, inflates and sends one piece at a
/// time and never holds a whole file (a per-customer CSV of a million customers is about
/// 80 MB). Workers deflate their large files into the same pieces before handing them over,
/// which spares the coordinator, shared by every worker, the compression.
public enum ArtifactPieces {
  /// Uncompressed bytes per piece; every piece of a file but its last holds exactly this many.
  public static let pieceBytes = 1 << 20

  /// zlib's fastest level: report files (CSV, HTML, JSON) still shrink 4–8×, at a cost far
  /// below the analysis that made them.
  static let level: Int32 = 1

  /// One piece (at most `pieceBytes`), deflated.
  public static func deflate(_ input: Data) -> Data {
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

  /// A piece inflated back to its `size` bytes; nil when it does not inflate to exactly that
  /// (a damaged file, or a piece a worker got wrong).
  public static func inflate(_ deflated: Data, size: Int) -> Data? {
    guard size >= 0, size <= pieceBytes else { return nil }
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

  /// A whole file cut into pieces and deflated, on every core; in order.
  public static func deflatedPieces(of file: Data) -> [(size: Int, deflated: Data)] {
    let count = (file.count + pieceBytes - 1) / pieceBytes
    let pieces = UnsafeMutableBufferPointer<(size: Int, deflated: Data)>.allocate(capacity: count)
    defer { pieces.deallocate() }
    pieces.initialize(repeating: (0, Data()))
    defer { _ = pieces.deinitialize() }
    let base = file.startIndex
    nonisolated(unsafe) let out = pieces
    DispatchQueue.concurrentPerform(iterations: count) { k in
      let range = (base + k * pieceBytes)..<min(file.endIndex, base + (k + 1) * pieceBytes)
      out[k] = (range.count, deflate(file.subdata(in: range)))
    }
    return Array(pieces)
  }
}
