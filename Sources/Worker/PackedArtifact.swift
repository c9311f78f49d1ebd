import ArtifactPieces
import Foundation
import Reports

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

  /// Packs `artifact`: deflated when it spans more than one piece.
  init(_ artifact: Artifact) {
    format = artifact.format.rawValue
    contentType = artifact.contentType
    body = artifact.data.count > ArtifactPieces.pieceBytes ? .pieces(ArtifactPieces.deflatedPieces(of: artifact.data)) : .raw(artifact.data)
  }
}
