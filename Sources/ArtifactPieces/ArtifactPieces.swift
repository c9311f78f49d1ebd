import CDeflate
import Dispatch
import Foundation

/// How report files are stored: independent zlib streams (pieces) of at most `pieceBytes`
/// raw bytes each, so that a download or a segment export reads, inflates and sends one
/// piece at a time and never holds a whole file (a per-customer CSV of a million customers
/// is about 80 MB). Workers deflate their large files into the same pieces before handing them over,
/// which spares the coordinator, shared by every worker, the compression.
public enum ArtifactPieces {
  /// Uncompressed bytes per piece; every piece of a file but its last holds exactly this many.
  public static let pieceBytes = 1 << 20

  /// The fastest level: report files (CSV, HTML, JSON) still shrink 3–8×, at a cost far
  /// below the analysis that made them. libdeflate's level 1 deflates a per-customer CSV
  /// about twice as fast as zlib's, into pieces a tenth smaller, and any zlib reads them.
  static let level: Int32 = 1

  /// One piece (at most `pieceBytes`), deflated into a zlib stream.
  public static func deflate(_ input: Data) -> Data {
    // A compressor holds its hash tables (a few hundred KB at level 1) and serves one
    // thread at a time: one per piece costs little beside a MiB's deflation.
    guard let compressor = libdeflate_alloc_compressor(level) else { fatalError("libdeflate: out of memory") }
    defer { libdeflate_free_compressor(compressor) }
    let bound = libdeflate_zlib_compress_bound(compressor, input.count)
    var output = Data(count: bound)
    let written = output.withUnsafeMutableBytes { out in
      input.withUnsafeBytes { source in
        libdeflate_zlib_compress(compressor, source.baseAddress, source.count, out.baseAddress, bound)
      }
    }
    // The bound guarantees room: 0 (no room) cannot happen.
    precondition(written > 0 || input.isEmpty, "libdeflate: the compress bound was too small")
    output.count = written
    return output
  }

  /// A piece inflated back to its `size` bytes; nil when it does not inflate to exactly that
  /// (a damaged file, or a piece a worker got wrong). Pieces stored when zlib wrote
  /// them are the same format and read alike.
  public static func inflate(_ deflated: Data, size: Int) -> Data? {
    guard size >= 0, size <= pieceBytes else { return nil }
    guard let decompressor = libdeflate_alloc_decompressor() else { fatalError("libdeflate: out of memory") }
    defer { libdeflate_free_decompressor(decompressor) }
    var output = Data(count: size)
    // Without a place for the actual length, anything but exactly `size` bytes fails.
    let status = output.withUnsafeMutableBytes { out in
      deflated.withUnsafeBytes { source in
        libdeflate_zlib_decompress(decompressor, source.baseAddress, source.count, out.baseAddress, size, nil)
      }
    }
    guard status == LIBDEFLATE_SUCCESS else { return nil }
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
