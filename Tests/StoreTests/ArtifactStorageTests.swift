import ArtifactPieces
import Foundation
import GRDB
import Testing

@testable import Store

/// Report files are stored as deflated pieces and read back one piece at a time.
@Suite("Report file storage")
struct ArtifactStorageTests {
  /// A per-customer CSV of `rows` rows: compressible, as real ones are.
  static func customerCSV(rows: Int) -> Data {
    var text = "customer_id,segment,lifecycle_group,cluster,cluster_name,recency_days,frequency,monetary\n"
    for i in 0..<rows { text += "C\(i),Champions,active,\(i % 4),loyal regulars,\(i % 365),\(1 + i % 9),\(i % 1000).\(i % 100)\n" }
    return Data(text.utf8)
  }

  /// A store with one succeeded job whose files are `files`.
  static func storeWithReport(_ files: [ArtifactContent]) async throws -> (FidelisStore, tenant: TenantRecord, job: String) {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    let job = try await store.submitJob(tenantId: t.id, dataset: d, kind: "analysis", options: Data(), idempotencyKey: nil).job
    let lease = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    _ = try await store.completeJob(jobId: job.id, leaseId: lease.leaseId, artifacts: files)
    return (store, t, job.id)
  }

  static func readWhole(_ store: FidelisStore, _ artifact: StoredArtifact) throws -> Data {
    var data = Data()
    for number in 0..<artifact.pieces { data.append(try store.artifactPiece(artifact, number: number)) }
    return data
  }

  @Test("a 4 MB CSV is kept in 1 MiB pieces that read back to the same bytes; quotas count the deflated bytes, listings the file's")
  func pieces() async throws {
    let csv = Self.customerCSV(rows: 80_000)
    #expect(csv.count > 4_000_000)
    let (store, tenant, job) = try await Self.storeWithReport([
      (format: "csv", contentType: "text/csv", data: csv), (format: "md", contentType: "text/markdown", data: Data("# Report".utf8)),
    ])
    let artifact = try store.artifact(tenantId: tenant.id, jobId: job, format: "csv")
    #expect(artifact.size == Int64(csv.count) && artifact.contentType == "text/csv")
    #expect(artifact.pieces == (csv.count + ArtifactPieces.pieceBytes - 1) / ArtifactPieces.pieceBytes)
    #expect(try Self.readWhole(store, artifact) == csv)
    #expect(try store.artifactPiece(artifact, number: 0).count == ArtifactPieces.pieceBytes)
    let stored = try await store.writer.read { db in try Int64.fetchOne(db, sql: "SELECT SUM(length(data)) FROM artifactPiece WHERE jobId = ?", arguments: [job])! }
    #expect(stored < Int64(csv.count) / 3, "stored \(stored) of \(csv.count)")
    let used = try store.storageUse(tenant).used
    #expect(used < Int64(csv.count) / 3 + 1000)
    let listed = try #require(try store.reports(tenantId: tenant.id).first)
    #expect(listed.size == Int64(csv.count + "# Report".utf8.count))
    #expect(try Self.readWhole(store, store.artifact(tenantId: tenant.id, jobId: job, format: "md")) == Data("# Report".utf8))
  }

  @Test("a report's internal file is kept, counted in its size and read by workers, but neither listed nor served to people")
  func internalFiles() async throws {
    let index = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
    let (store, tenant, job) = try await Self.storeWithReport([
      (format: "md", contentType: "text/markdown", data: Data("# Report".utf8)), (format: "_groups", contentType: "application/octet-stream", data: index),
    ])
    #expect(throws: StoreError.notFound("job \(job) has no '_groups' report (it has: md)")) {
      try store.artifact(tenantId: tenant.id, jobId: job, format: "_groups")
    }
    let artifact = try store.artifact(tenantId: tenant.id, jobId: job, format: "_groups", includingInternal: true)
    #expect(try Self.readWhole(store, artifact) == index)
    #expect(try store.artifactFormats(jobId: job) == ["md"])
    let listed = try #require(try store.reports(tenantId: tenant.id).first)
    #expect(listed.formats == ["md"] && listed.size == Int64(index.count + "# Report".utf8.count))
    // Another tenant's worker lease cannot reach it either: the tenant is part of the lookup.
    let (other, _) = try store.createTenant(name: "U")
    #expect(throws: StoreError.self) { try store.artifact(tenantId: other.id, jobId: job, format: "_groups", includingInternal: true) }
  }

  @Test("a file deflated as it arrives, in chunks of any size, is the file deflated whole", arguments: [1000, 65_536, 1 << 20, 3 << 20])
  func arriving(_ chunk: Int) {
    let csv = Self.customerCSV(rows: 50_000)
    var arriving = DeflatedArtifact(format: "csv", contentType: "text/csv")
    for start in stride(from: 0, to: csv.count, by: chunk) { arriving.append(csv[start..<min(start + chunk, csv.count)]) }
    arriving.finish()
    let whole = DeflatedArtifact((format: "csv", contentType: "text/csv", data: csv))
    #expect(arriving.size == csv.count && arriving.storedBytes == whole.storedBytes)
    #expect(arriving.pieces.map(\.size) == whole.pieces.map(\.size))
    #expect(arriving.pieces.map(\.deflated) == whole.pieces.map(\.deflated))
  }

  @Test("pieces a worker deflated are kept as they are; a damaged, oversized or misplaced piece is refused and changes nothing")
  func workerPieces() throws {
    let csv = Self.customerCSV(rows: 50_000)
    let pieces = ArtifactPieces.deflatedPieces(of: csv)
    #expect(pieces.count == (csv.count + ArtifactPieces.pieceBytes - 1) / ArtifactPieces.pieceBytes)
    var received = DeflatedArtifact(format: "csv", contentType: "text/csv")
    for piece in pieces { try received.appendDeflated(size: piece.size, data: piece.deflated) }
    received.finish()
    let whole = DeflatedArtifact((format: "csv", contentType: "text/csv", data: csv))
    #expect(received.size == csv.count && received.pieces.map(\.size) == whole.pieces.map(\.size))
    #expect(received.pieces.map(\.deflated) == whole.pieces.map(\.deflated))
    #expect(!received.takesMoreBytes, "the short last piece ends the file")
    #expect(throws: DeflatedArtifact.PieceRefusal.afterShortPiece) { try received.appendDeflated(size: pieces[0].size, data: pieces[0].deflated) }

    var fresh = DeflatedArtifact(format: "csv", contentType: "text/csv")
    var damaged = pieces[0].deflated
    damaged[damaged.startIndex + damaged.count / 2] ^= 0xFF
    #expect(throws: DeflatedArtifact.PieceRefusal.damaged(size: pieces[0].size)) { try fresh.appendDeflated(size: pieces[0].size, data: damaged) }
    #expect(throws: DeflatedArtifact.PieceRefusal.damaged(size: pieces[0].size - 1)) { try fresh.appendDeflated(size: pieces[0].size - 1, data: pieces[0].deflated) }
    #expect(throws: DeflatedArtifact.PieceRefusal.size(0)) { try fresh.appendDeflated(size: 0, data: Data()) }
    #expect(throws: DeflatedArtifact.PieceRefusal.size(ArtifactPieces.pieceBytes + 1)) { try fresh.appendDeflated(size: ArtifactPieces.pieceBytes + 1, data: pieces[0].deflated) }
    #expect(fresh.size == 0 && fresh.storedBytes == 0 && fresh.pieces.isEmpty)
    fresh.append(Data("customer_id\n".utf8))
    #expect(throws: DeflatedArtifact.PieceRefusal.afterRawBytes) { try fresh.appendDeflated(size: pieces[0].size, data: pieces[0].deflated) }
  }

  @Test("pieces checked together on every core are kept as one by one; a batch with a damaged or misplaced piece adds none of it")
  func workerPiecesTogether() throws {
    let csv = Self.customerCSV(rows: 50_000)
    let pieces = ArtifactPieces.deflatedPieces(of: csv).map { (size: $0.size, data: $0.deflated) }
    var one = DeflatedArtifact(format: "csv", contentType: "text/csv")
    for piece in pieces { try one.appendDeflated(size: piece.size, data: piece.data) }
    var together = DeflatedArtifact(format: "csv", contentType: "text/csv")
    try together.appendDeflated(Array(pieces.prefix(2)))
    try together.appendDeflated(Array(pieces.dropFirst(2)))
    try together.appendDeflated([])
    #expect(together.size == one.size && together.storedBytes == one.storedBytes && together.pieces.map(\.deflated) == one.pieces.map(\.deflated))
    #expect(throws: DeflatedArtifact.PieceRefusal.afterShortPiece) { try together.appendDeflated([pieces[0]]) }

    var fresh = DeflatedArtifact(format: "csv", contentType: "text/csv")
    var damaged = pieces[1]
    damaged.data[damaged.data.startIndex + damaged.data.count / 2] ^= 0xFF
    #expect(throws: DeflatedArtifact.PieceRefusal.damaged(size: pieces[1].size)) { try fresh.appendDeflated([pieces[0], damaged, pieces[2]]) }
    #expect(throws: DeflatedArtifact.PieceRefusal.afterShortPiece) { try fresh.appendDeflated([pieces.last!, pieces[0]]) }
    #expect(throws: DeflatedArtifact.PieceRefusal.size(0)) { try fresh.appendDeflated([pieces[0], (0, Data())]) }
    #expect(fresh.size == 0 && fresh.storedBytes == 0 && fresh.pieces.isEmpty)
    fresh.append(Data("customer_id\n".utf8))
    #expect(throws: DeflatedArtifact.PieceRefusal.afterRawBytes) { try fresh.appendDeflated([pieces[0]]) }
  }

  /// The test rows of `zlibWritten`.
  static let zlibText = Data((0..<200).map { "C\($0),Champions,active,\($0 % 4),loyal regulars,\($0 % 365)\n" }.joined().utf8)

  /// `zlibText` as Python's `zlib.compress(text, 6)` wrote it: the stream of a piece stored
  /// before pieces were written with libdeflate.
  static let zlibWritten = Data(
    base64Encoded: """
      eJyN2TuOHEcURFG/VqEFjNGR/7RrJQOBkAiMRIGUBGj3jCh5U2Vc/xkJXgSn+/T5ejt/f//jr6/f/vzx9v7r31///fL2evv49t/7
      xy/fv/z2z8f79x9vr+PU/Uyfz3Sc5X5WPp+V46z3s/r5rB5nA29rx9nB2/pxDvC2cZwTvG0e5wJvW8e5wdu2/3kfMtwep3R4CHF7
      nlxCDyluD5Rb6CHGPa1r6CHH/Y3uoYcg9ze6iB6S3N/oJnqIcn+jq+ghy/2N7qKHMPc3ukwhAykuU8hESjaCRuIyhcykuEwhQyku
      U8hUissUMpbiMoXMpbhMIYMpLlPIZIrLVLKZ6jKVbKa6TCWbqfn/i2ymukwlm6kuU8lmqstUspnqMpVsprpMJZupLlPJZqrLNLKZ
      5jKNbKa5TCObaS7TyGZa/ragPy4u08hmmss0spnmMo1sprlMI5tpLtPIZprLdLKZ7jKdbKa7TCeb6S7TyWa6y3SymZ6/+2Qz3WU6
      2Ux3mU42012mk810l+lkM91lBtnMcJlBNjNcZpDNDJcZZDPDZQbZzHCZQTYz8pkMfShzmUE2M1xmkM0MlxlkM8NlJtnMdJlJNjNd
      ZpLNTJeZZDPTZSbZzHSZSTYzXWaSzcx8XiabmS4zyWamy0yymekyi2xmucwim1kus8hmlsssspnlMotsZrnMIptZLrPIZpbLLLKZ
      le8y6MuMyyyymeUym2xmu8wmm9kus8lmtstsspntMptsZrvMJpvZLrPJZrbLbLKZ7TKbbGbneybZzL6+aZLR+Cqn6Fv/K982X2Q4
      vsopmY6vckrG46uckvn4KqdkQL7KKZmQr3JKRuSrnJIZ+Spf9xEM/C8DjAZSi+HApQOMBy4fYEBwCQEjgssIGBJcSsCY4HICBgWX
      FDAqiBUIYYGiBUJcoHJJDtpWxECIDBQzEEIDRQ2E2EBxAyE4UORAiA4UOxDCA0UPhPhA8QMhQFAEQYgQFEMQQgTVS94YvaUWggRF
      EoQoQbEEIUxQNEGIExRPEAIFRRSESEExBSFUUFRBiBUUVxCCBUUWhGhB7ZJStK3oghAvKL4gBAyKMAgRg2IMQsigKIMQMyjOIAQN
      ijQIUYNiDULYoGiDEDco3iAEDuqXbDPaTi2EDoo6CLGD4g5C8KDIgxA9KPYghA+KPgjxg+IPQgChCIQQQSgGIYQQikIIMYTG9UsE
      2lYkQogiFIsQwghFI4Q4QvEIIZBQREKIJBSTEEIJRSWEWEJxCSGYUGRCiCYUmxDCCc3rlyP201FqIaBQhEKIKBSjEEIKRSmEmEJx
      CiGoUKRCiCoUqxDCCkUrhLhC8QohsFDEQogstK5f+tC2ohZCbKG4hRBcKHIhRBeKXQjhhaIXQnyh+IUQYCiCIUQYimEIIYaiGEKM
      oTiGEGRoX7/Msp9m9/ETNEAHEg==
      """, options: .ignoreUnknownCharacters)!

  /// Adler-32 (RFC 1950), the checksum that ends a zlib stream.
  static func adler32(_ data: Data) -> UInt32 {
    var (a, b): (UInt32, UInt32) = (1, 0)
    for byte in data {
      a = (a + UInt32(byte)) % 65_521
      b = (b + a) % 65_521
    }
    return b << 16 | a
  }

  @Test("pieces are zlib streams both ways: one zlib wrote inflates, and ours carry zlib's header and the Adler-32 of their bytes")
  func zlibFormat() throws {
    #expect(ArtifactPieces.inflate(Self.zlibWritten, size: Self.zlibText.count) == Self.zlibText)
    #expect(ArtifactPieces.inflate(Self.zlibWritten, size: Self.zlibText.count - 1) == nil)
    let csv = Self.customerCSV(rows: 5_000).prefix(ArtifactPieces.pieceBytes)
    let piece = ArtifactPieces.deflate(Data(csv))
    #expect(piece.count < csv.count / 3)
    let (cmf, flags) = (piece[piece.startIndex], piece[piece.startIndex + 1])
    // Deflate with a 32 KiB window, no preset dictionary, and a header that is a multiple of 31.
    #expect(cmf == 0x78 && flags & 0x20 == 0 && (UInt16(cmf) << 8 | UInt16(flags)) % 31 == 0)
    let trailer = piece.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    #expect(trailer == Self.adler32(Data(csv)))
    #expect(ArtifactPieces.inflate(piece, size: csv.count) == Data(csv))
  }

  @Test("an empty file has no piece and reads as empty")
  func empty() async throws {
    let (store, tenant, job) = try await Self.storeWithReport([(format: "csv", contentType: "text/csv", data: Data())])
    let artifact = try store.artifact(tenantId: tenant.id, jobId: job, format: "csv")
    #expect(artifact.size == 0 && artifact.pieces == 0)
  }

  @Test("a file stored whole before pieces existed still reads, as one piece")
  func storedWhole() async throws {
    let (store, tenant, job) = try await Self.storeWithReport([])
    try await store.writer.write { db in
      try db.execute(
        sql: "INSERT INTO artifact (jobId, tenantId, format, contentType, data, createdAt) VALUES (?, ?, 'md', 'text/markdown', ?, 0)",
        arguments: [job, tenant.id, Data("# Old".utf8)])
    }
    let artifact = try store.artifact(tenantId: tenant.id, jobId: job, format: "md")
    #expect(artifact.pieces == 1 && artifact.size == 5)
    #expect(try store.artifactPiece(artifact, number: 0) == Data("# Old".utf8))
    #expect(try store.storageUse(tenant).used >= 5)
  }

  @Test("a damaged piece is DATA_LOSS, not wrong bytes; deleting the job deletes its pieces")
  func damage() async throws {
    let (store, tenant, job) = try await Self.storeWithReport([(format: "csv", contentType: "text/csv", data: Self.customerCSV(rows: 30_000))])
    let artifact = try store.artifact(tenantId: tenant.id, jobId: job, format: "csv")
    try await store.writer.write { db in
      try db.execute(sql: "UPDATE artifactPiece SET data = substr(data, 1, length(data) / 2) WHERE jobId = ? AND number = 1", arguments: [job])
    }
    #expect(try store.artifactPiece(artifact, number: 0).count == ArtifactPieces.pieceBytes)
    #expect(throws: StoreError.self) { try store.artifactPiece(artifact, number: 1) }
    do {
      _ = try store.artifactPiece(artifact, number: 1)
    } catch let error as StoreError {
      guard case .dataLoss = error else { Issue.record("\(error)"); return }
    }
    try await store.writer.write { db in _ = try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [job]) }
    #expect(try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM artifactPiece")! } == 0)
    #expect(throws: StoreError.self) { try store.artifactPiece(artifact, number: 0) }
  }
}

/// A large report file is stored piece by piece while its job runs (`stageArtifactPieces`),
/// so that the coordinator never holds it whole; what is stored so is no one's report
/// until the job succeeds under the same lease.
@Suite("Report files stored as they arrive")
struct StagedArtifactTests {
  /// A store with a tenant and one leased job.
  static func leasedJob() async throws -> (FidelisStore, tenant: TenantRecord, job: String, lease: String) {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    let job = try await store.submitJob(tenantId: t.id, dataset: d, kind: "analysis", options: Data(), idempotencyKey: nil).job
    let lease = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    return (store, t, job.id, lease.leaseId)
  }

  static func rows(_ store: FidelisStore, _ job: String) async throws -> (files: Int, pieces: Int) {
    try await store.writer.read { db in
      (
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM artifact WHERE jobId = ?", arguments: [job])!,
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM artifactPiece WHERE jobId = ?", arguments: [job])!
      )
    }
  }

  /// Feeds `csv` to a receiving file in 1 MiB pieces, storing what is held every `every` pieces.
  static func receive(_ csv: Data, store: FidelisStore, job: String, lease: String, every: Int) async throws -> DeflatedArtifact {
    var file = DeflatedArtifact(format: "csv", contentType: "text/csv")
    for (i, piece) in ArtifactPieces.deflatedPieces(of: csv).enumerated() {
      try file.appendDeflated(size: piece.size, data: piece.deflated)
      if (i + 1) % every == 0 {
        let (first, pieces) = file.takePieces()
        try await store.stageArtifactPieces(jobId: job, leaseId: lease, format: "csv", contentType: "text/csv", firstNumber: first, pieces: pieces)
      }
    }
    return file
  }

  @Test("pieces stored while the job runs are seen by no one; the success makes them, and those sent last, the report, byte for byte")
  func storedThenAdopted() async throws {
    let (store, tenant, job, lease) = try await Self.leasedJob()
    let csv = ArtifactStorageTests.customerCSV(rows: 160_000)
    #expect(csv.count > 8 * ArtifactPieces.pieceBytes)
    let file = try await Self.receive(csv, store: store, job: job, lease: lease, every: 4)
    let count = (csv.count + ArtifactPieces.pieceBytes - 1) / ArtifactPieces.pieceBytes
    #expect(count % 4 != 0, "some pieces are left for the success to store")
    #expect(file.stagedPieces == count / 4 * 4 && file.heldBytes > 0)
    #expect(try await Self.rows(store, job) == (1, count / 4 * 4))
    #expect(try store.artifactFormats(jobId: job).isEmpty)
    #expect(try store.reports(tenantId: tenant.id).isEmpty)
    let usedBefore = try store.storageUse(tenant).used

    let md = DeflatedArtifact((format: "md", contentType: "text/markdown", data: Data("# Report".utf8)))
    _ = try await store.completeJob(jobId: job, leaseId: lease, deflated: [file, md])
    let artifact = try store.artifact(tenantId: tenant.id, jobId: job, format: "csv")
    #expect(artifact.size == Int64(csv.count) && artifact.pieces == (csv.count + ArtifactPieces.pieceBytes - 1) / ArtifactPieces.pieceBytes)
    #expect(try ArtifactStorageTests.readWhole(store, artifact) == csv)
    #expect(try store.artifactFormats(jobId: job) == ["csv", "md"])
    let listed = try #require(try store.reports(tenantId: tenant.id).first)
    #expect(listed.size == Int64(csv.count + "# Report".utf8.count))
    let whole = DeflatedArtifact((format: "csv", contentType: "text/csv", data: csv))
    #expect(try store.storageUse(tenant).used - usedBefore == Int64(whole.storedBytes + md.storedBytes))
  }

  @Test("what a lease stored goes when the lease ends without a success: an expiry, a failure; a lost lease stores nothing more")
  func discardedWithTheLease() async throws {
    let (store, _, job, lease) = try await Self.leasedJob()
    let csv = ArtifactStorageTests.customerCSV(rows: 80_000)
    _ = try await Self.receive(csv, store: store, job: job, lease: lease, every: 2)
    #expect(try await Self.rows(store, job).pieces >= 2)
    let expired = try store.expireLeases(now: FidelisStore.now() + 120_000)
    #expect(expired.map(\.state) == [.queued])
    #expect(try await Self.rows(store, job) == (0, 0))
    await #expect(throws: StoreError.self) {
      try await store.stageArtifactPieces(jobId: job, leaseId: lease, format: "csv", contentType: "text/csv", firstNumber: 2, pieces: [(1, Data())])
    }

    let second = try #require(try await store.leaseNextJob(worker: "w2", host: "h", kinds: [], leaseMillis: 60_000))
    _ = try await Self.receive(csv, store: store, job: job, lease: second.leaseId, every: 2)
    #expect(try await Self.rows(store, job).files == 1)
    _ = try store.failJob(jobId: job, leaseId: second.leaseId, error: "boom", retryable: false, cancelled: false)
    #expect(try await Self.rows(store, job) == (0, 0))
  }

  @Test("a store from before staged files keeps its reports readable: their files were never staged")
  func upgrade() async throws {
    let queue = try DatabaseQueue(configuration: FidelisStore.makeConfiguration())
    try FidelisStore.migrator.migrate(queue, upTo: "v10 retention")
    let csv = ArtifactStorageTests.customerCSV(rows: 30_000)
    let pieces = ArtifactPieces.deflatedPieces(of: csv)
    try await queue.write { db in
      try db.execute(sql: "INSERT INTO tenant (id, name, createdAt, maxQueuedJobs, maxRunningJobs, maxDatasetBytes, defaultLanguage) VALUES ('ten_1', 'T', 0, 0, 0, 0, 'en')")
      try db.execute(
        sql: """
          INSERT INTO job (id, tenantId, datasetId, kind, options, state, attempt, maxAttempts, stage, progress, cancelRequested, createdAt)
          VALUES ('job_1', 'ten_1', 'ds_1', 'analysis', x'', 'succeeded', 1, 3, 'done', 100, 0, 0)
          """)
      try db.execute(
        sql: "INSERT INTO artifact (jobId, tenantId, format, contentType, data, createdAt, size, storedBytes) VALUES ('job_1', 'ten_1', 'csv', 'text/csv', x'', 0, ?, 0)",
        arguments: [csv.count])
      for (number, piece) in pieces.enumerated() {
        try db.execute(
          sql: "INSERT INTO artifactPiece (jobId, format, number, size, data) VALUES ('job_1', 'csv', ?, ?, ?)", arguments: [number, piece.size, piece.deflated])
      }
    }
    let store = try FidelisStore(queue)
    #expect(try store.artifactFormats(jobId: "job_1") == ["csv"])
    #expect(try ArtifactStorageTests.readWhole(store, store.artifact(tenantId: "ten_1", jobId: "job_1", format: "csv")) == csv)
  }

  @Test("a hand-in that broke off after storing a file's start is replaced by the next one of the same lease, longer or shorter")
  func brokenOffThenSentAgain() async throws {
    let (store, tenant, job, lease) = try await Self.leasedJob()
    _ = try await Self.receive(ArtifactStorageTests.customerCSV(rows: 80_000), store: store, job: job, lease: lease, every: 1)
    // Sent again whole, small enough to be stored only with the success.
    let small = ArtifactStorageTests.customerCSV(rows: 100)
    _ = try await store.completeJob(jobId: job, leaseId: lease, artifacts: [(format: "csv", contentType: "text/csv", data: small)])
    #expect(try ArtifactStorageTests.readWhole(store, store.artifact(tenantId: tenant.id, jobId: job, format: "csv")) == small)
    #expect(try await Self.rows(store, job) == (1, 1))
  }
}
