import ArtifactPieces
import Foundation
import Reports
import Synchronization

/// A report file as the worker hands it over: a small one as it is, a large one already cut
/// into the deflated pieces the coordinator stores (`ArtifactPieces`), deflated on this
/// worker's cores. The coordinator serves every worker; compressing an 80 MB customer file
/// there took it most of a second per job.
struct PackedArtifact: Sendable {
  enum Body: Sendable {
    case raw(Data)
    case pieces([(size: Int, deflated: Data)])
  }

  let format: String
  let contentType: String
  let body: Body

  /// How the worker has a large file made: in the stored pieces, deflated as it is written.
  static let piecing = ArtifactPiecing(pieceBytes: ArtifactPieces.pieceBytes, compress: ArtifactPieces.deflate)

  /// Packs `artifact`: deflated when it spans more than one piece (already, when it was
  /// made with `piecing`).
  init(_ artifact: Artifact) {
    format = artifact.format.rawValue
    contentType = artifact.contentType
    if let pieces = artifact.pieces {
      body = .pieces(pieces.map { ($0.size, $0.compressed) })
    } else {
      body = artifact.data.count > ArtifactPieces.pieceBytes ? .pieces(ArtifactPieces.deflatedPieces(of: artifact.data)) : .raw(artifact.data)
    }
  }
}

/// A job's report files on their way to being packed, held here alone: each is let go as
/// soon as it is packed, where packing them from the job's own array kept every file's
/// bytes until the last was packed.
final class UnpackedArtifacts: Sendable {
  private let files: Mutex<[Artifact]>

  init(_ files: consuming [Artifact]) {
    self.files = Mutex(files)
  }

  /// Every file packed, in order; none is left here.
  func pack() -> [PackedArtifact] {
    let count = files.withLock { $0.count }
    return (0..<count).map { index in
      let file = files.withLock { files in
        defer { files[index] = Artifact(format: files[index].format, data: Data()) }
        return files[index]
      }
      return PackedArtifact(file)
    }
  }
}
