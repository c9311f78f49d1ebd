import Foundation
import Synchronization
import Testing

@testable import Analytics
@testable import Reports

@Suite("Files made in pieces")
struct ArtifactPiecingTests {
  /// A compression that is easy to undo and never the identity: the bytes reversed.
  static let reversing = { @Sendable (raw: Data) -> Data in Data(raw.reversed()) }

  @Test(
    "blocks of any size become pieces of exactly the piece size but the last, each compressed, that give back the bytes written; a file of one piece stays whole",
    arguments: [(1, 0), (7, 5), (7, 7), (1000, 12), (1000, 400), (65_536, 20)])
  func piecesGiveBackTheFile(pieceBytes: Int, blocks: Int) {
    var rng = SplitMix64(seed: UInt64(pieceBytes * 31 + blocks))
    var written = Data()
    let piecing = ArtifactPiecing(pieceBytes: pieceBytes, compress: Self.reversing)
    let artifact = piecing.artifact(.csv) { sink in
      for _ in 0..<blocks {
        // Empty blocks, blocks within a piece, blocks across several.
        let count = Int(rng.next() % UInt64(3 * pieceBytes + 2))
        let block = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        written.append(contentsOf: block)
        block.withUnsafeBufferPointer(sink)
      }
    }
    #expect(artifact.format == .csv)
    guard let pieces = artifact.pieces else {
      #expect(written.count <= pieceBytes && artifact.data == written)
      return
    }
    #expect(written.count > pieceBytes && artifact.data.isEmpty)
    #expect(pieces.dropLast().allSatisfy { $0.size == pieceBytes } && (1...pieceBytes).contains(pieces.last!.size))
    let restored = pieces.reduce(into: Data()) { file, piece in
      #expect(piece.compressed.count == piece.size)
      file.append(Self.reversing(piece.compressed))
    }
    #expect(restored == written)
  }

  @Test("an analysis' per-customer CSV made in pieces, or streamed block by block, is the CSV made whole")
  func analysisCSV() throws {
    var rng = SplitMix64(seed: 3)
    var data = TransactionData()
    let customers = 3000
    data.customerIDs = CustomerIDs((0..<customers).map { "customer-\($0)@example.org" })
    for order in 0..<12_000 {
      data.orderCustomer.append(Int32(order % customers))
      data.orderDay.append(Int32(19_700 + Int(rng.next() % 400)))
      data.orderAmount.append(Double(rng.next() % 10_000) / 100)
      data.orderPromo.append(false)
    }
    data.quality.amounts = true
    let (result, results) = try Analyzer.run(data)
    let whole = try Artifact.analysis(result, customers: results, language: .en, formats: [.csv])
    let pieced = try Artifact.analysis(result, customers: results, language: .en, formats: [.csv], perCustomerCSV: .pieces(ArtifactPiecing(pieceBytes: 4096, compress: Self.reversing)))
    let pieces = try #require(pieced.first?.pieces)
    #expect(pieces.count > 10)
    #expect(pieces.reduce(into: Data()) { $0.append(Self.reversing($1.compressed)) } == whole.first?.data)
    let streamed = Mutex<(bytes: Data, blocks: Int)>((Data(), 0))
    let kept = try Artifact.analysis(
      result, customers: results, language: .en, formats: [.csv], perCustomerCSV: .streamed { block in streamed.withLock { $0.bytes.append(block); $0.blocks += 1 } })
    #expect(kept.map(\.format) == [.csv] && kept[0].data.isEmpty && kept[0].pieces == nil)
    #expect(streamed.withLock { $0.bytes } == whole.first?.data && streamed.withLock { $0.blocks } > 1)
  }
}
