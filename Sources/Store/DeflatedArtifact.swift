import ArtifactPieces
import Foundation

/// A report file deflated piece by piece as its bytes arrive, so that the coordinator
/// receiving it holds its compressed pieces and at most one raw piece, not the file.
public struct DeflatedArtifact: Sendable {
  public let format: String
  public let contentType: String
  /// Bytes of the file so far.
  public private(set) var size = 0
  /// Bytes of its deflated pieces so far.
  public private(set) var storedBytes = 0
  /// Pieces handed to the store before the file's end (`takePieces`); `pieces` number on
  /// from there.
  public private(set) var stagedPieces = 0
  /// Bytes of the deflated pieces held, not handed to the store yet.
  public private(set) var heldBytes = 0
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
      let take = min(ArtifactPieces.pieceBytes - pending.count, rest.count)
      pending.append(rest.prefix(take))
      rest = rest.dropFirst(take)
      if pending.count == ArtifactPieces.pieceBytes { flush() }
    }
  }

  /// Whether more bytes may follow: not after a deflated piece shorter than a whole one,
  /// which ends the file (every piece but the last is whole).
  public var takesMoreBytes: Bool { lastPieceSize.map { $0 == ArtifactPieces.pieceBytes } ?? true }
  /// Size of the file's last piece so far, held or taken.
  private var lastPieceSize: Int?

  /// Takes out the pieces deflated so far, numbered from `first`, for the store to keep
  /// while the rest of the file comes; the file goes on as if they were still held.
  public mutating func takePieces() -> (first: Int, pieces: [(size: Int, deflated: Data)]) {
    let taken = (stagedPieces, pieces)
    stagedPieces += pieces.count
    pieces = []
    heldBytes = 0
    return taken
  }

  /// Adds a piece a worker deflated (`ArtifactPieces`) after checking it: nothing raw may
  /// be waiting (a piece starts at a piece boundary), the file may not have ended, and the
  /// piece must inflate to exactly `size` bytes, 1 to `pieceBytes`.
  public mutating func appendDeflated(size: Int, data: Data) throws(PieceRefusal) {
    try appendDeflated([(size, data)])
  }

  /// Adds pieces a worker deflated, in order, each checked as `appendDeflated(size:data:)`
  /// says, their inflating on every core: a million customers' report is 80 pieces, which
  /// one core took a fifth of a second to check while the job's worker waited. When a piece
  /// is refused, none of the batch is added.
  public mutating func appendDeflated(_ batch: [(size: Int, data: Data)]) throws(PieceRefusal) {
    for (i, piece) in batch.enumerated() {
      guard pending.isEmpty else { throw .afterRawBytes }
      guard i == 0 ? takesMoreBytes : batch[i - 1].size == ArtifactPieces.pieceBytes else { throw .afterShortPiece }
      guard piece.size > 0, piece.size <= ArtifactPieces.pieceBytes else { throw .size(piece.size) }
    }
    // Inflating costs a fraction of deflating; a piece that does not inflate would only be
    // found when the report is read, and then nobody could make it again. Each call writes
    // its own element.
    nonisolated(unsafe) let inflates = UnsafeMutableBufferPointer<Bool>.allocate(capacity: batch.count)
    defer { inflates.deallocate() }
    inflates.initialize(repeating: false)
    DispatchQueue.concurrentPerform(iterations: batch.count) { i in
      inflates[i] = ArtifactPieces.inflate(batch[i].data, size: batch[i].size) != nil
    }
    if let refused = inflates.firstIndex(of: false) { throw .damaged(size: batch[refused].size) }
    for piece in batch {
      pieces.append((piece.size, piece.data))
      size += piece.size
      storedBytes += piece.data.count
      heldBytes += piece.data.count
      lastPieceSize = piece.size
    }
  }

  /// Why a worker's deflated piece was refused.
  public enum PieceRefusal: Error, CustomStringConvertible, Equatable {
    case afterRawBytes, afterShortPiece, size(Int), damaged(size: Int)

    public var description: String {
      switch self {
      case .afterRawBytes: "a deflated piece may not follow raw bytes that do not fill whole pieces"
      case .afterShortPiece: "a piece of fewer than \(ArtifactPieces.pieceBytes) bytes ends its file: nothing may follow it"
      case .size(let size): "a deflated piece holds 1 to \(ArtifactPieces.pieceBytes) bytes (got \(size))"
      case .damaged(let size): "a deflated piece does not inflate to the \(size) bytes it declares"
      }
    }
  }

  /// Deflates the last, partial piece.
  public mutating func finish() {
    if !pending.isEmpty { flush() }
  }

  private mutating func flush() {
    let deflated = ArtifactPieces.deflate(pending)
    pieces.append((pending.count, deflated))
    storedBytes += deflated.count
    heldBytes += deflated.count
    lastPieceSize = pending.count
    pending = Data()
  }
}
