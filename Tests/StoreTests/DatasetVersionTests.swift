import Foundation
import GRDB
import Testing

@testable import Store

/// Stores `bytes` as an upload under `name` and makes it a version: by itself, or appended
/// to `base` reading `parts`.
private func version(
  _ store: FidelisStore, tenant: String, name: String, bytes: String = "customer,date\nA,2024-01-01\n", appendingTo base: DatasetRecord? = nil
) throws -> DatasetRecord {
  let id = try store.beginUpload(tenantId: tenant, name: name, kind: "transactions")
  try store.appendChunk(datasetId: id, seq: 0, data: Data(bytes.utf8))
  let size = Int64(bytes.utf8.count)
  guard let base else { return try store.finishUpload(datasetId: id, size: size, sha256: "x", chunks: 1) }
  let parts = try store.datasetParts(versionId: base.id) + [
    DatasetPartRecord(versionId: id, position: 0, fileId: id, sizeBytes: size, chunkCount: 1, headerBytes: 14, endsWithBreak: true, skipped: Data())
  ]
  let summary = FidelisStore.AppendSummary(rule: "days", linesAdded: 1, linesSkipped: 0, linesReplaced: 0, daysReplaced: 0, replacedFrom: nil, replacedThrough: nil)
  return try store.finishAppend(datasetId: id, base: base, parts: parts, summary: summary, contentBytes: base.contentBytes + size - 14, size: size, sha256: "x", chunks: 1)
}

@Suite("Dataset versions")
struct DatasetVersionTests {
  @Test("uploads under one name and appends number its versions; a name stands for the latest; names are per tenant and kind")
  func numbering() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let (other, _) = try store.createTenant(name: "O")
    let v1 = try version(store, tenant: t.id, name: "shop")
    let v2 = try version(store, tenant: t.id, name: "shop", appendingTo: v1)
    let v3 = try version(store, tenant: t.id, name: "shop")
    #expect([v1.version, v2.version, v3.version] == [Int](1...3))
    #expect(v2.baseId == v1.id && v2.linesAdded == 1)
    #expect(try store.datasetParts(versionId: v2.id).map(\.fileId) == [v1.id, v2.id])
    #expect(try store.datasetParts(versionId: v3.id).map(\.fileId) == [v3.id])
    #expect(try store.dataset(tenantId: t.id, reference: "shop", kind: "transactions").id == v3.id)
    #expect(try store.dataset(tenantId: t.id, reference: v1.id, kind: "transactions").id == v1.id)
    #expect(try store.datasetVersions(tenantId: t.id, kind: "transactions", name: "shop").map(\.version) == [3, 2, 1])
    #expect(throws: StoreError.self) { try store.dataset(tenantId: other.id, reference: "shop", kind: "transactions") }
    #expect(throws: StoreError.self) { try store.dataset(tenantId: t.id, reference: "shop", kind: "customers") }
    #expect(try version(store, tenant: other.id, name: "shop").version == 1)
    // A job by name reads the latest version and remembers the name.
    let (job, _) = try await store.submitJob(tenantId: t.id, dataset: "shop", kind: "analysis", options: Data(), idempotencyKey: "k")
    #expect(job.datasetId == v3.id && job.datasetName == "shop")
    #expect(try store.job(tenantId: t.id, id: job.id).datasetName == "shop")
    // Its retry after a new version is the same job.
    _ = try version(store, tenant: t.id, name: "shop")
    let (again, created) = try await store.submitJob(tenantId: t.id, dataset: "shop", kind: "analysis", options: Data(), idempotencyKey: "k")
    #expect(!created && again.id == job.id)
  }

  @Test("a customers file named by its id is refused as what a job or a schedule analyses, and nothing is queued")
  func customersFileIsNotAnalysed() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let id = try store.beginUpload(tenantId: t.id, name: "people", kind: "customers")
    try store.appendChunk(datasetId: id, seq: 0, data: Data("customer_id,satisfaction\nA,4\n".utf8))
    let customers = try store.finishUpload(datasetId: id, size: 27, sha256: "x", chunks: 1)
    let expected = StoreError.invalidArgument(
      "\(customers.id) is a customers file (people), not purchases: analyse a transactions dataset and give this one as its customers file (--customers)")
    await #expect(throws: expected) { try await store.submitJob(tenantId: t.id, dataset: customers.id, kind: "analysis", options: Data(), idempotencyKey: nil) }
    #expect(throws: expected) {
      try store.createSchedule(tenantId: t.id, datasetName: customers.id, kind: "analysis", options: Data(), everySeconds: 3600, atMinute: nil)
    }
    #expect(try store.jobs(tenantId: t.id, state: nil, limit: 10).isEmpty)
  }

  @Test("an append planned against a version that is no longer the latest is refused, and stores nothing")
  func staleAppend() throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let v1 = try version(store, tenant: t.id, name: "shop")
    _ = try version(store, tenant: t.id, name: "shop", appendingTo: v1)
    #expect {
      try version(store, tenant: t.id, name: "shop", appendingTo: v1)
    } throws: { error in
      guard case StoreError.aborted(let message) = error else { return false }
      return message.contains("version 2")
    }
    #expect(try store.datasetVersions(tenantId: t.id, kind: "transactions", name: "shop").count == 2)
  }

  @Test("deleting a version whose file a later one reads keeps the file until that one goes; a name deletes every version")
  func deletion() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let v1 = try version(store, tenant: t.id, name: "shop")
    let v2 = try version(store, tenant: t.id, name: "shop", appendingTo: v1)
    let v3 = try version(store, tenant: t.id, name: "shop", appendingTo: v2)
    let used = try store.storageUse(t).used
    try store.deleteDataset(tenantId: t.id, id: v1.id)
    // v1 is gone from view; its file is still read by v2 and v3, and still counted.
    #expect(throws: StoreError.self) { try store.dataset(tenantId: t.id, id: v1.id) }
    #expect(try store.datasetChunk(datasetId: v1.id, seq: 0) != nil)
    #expect(try store.storageUse(t).used == used)
    #expect(try store.datasetParts(versionId: v3.id).map(\.fileId) == [v1.id, v2.id, v3.id])
    // A job on the name holds every version against deletion.
    _ = try await store.submitJob(tenantId: t.id, dataset: "shop", kind: "profile", options: Data(), idempotencyKey: nil)
    #expect(throws: StoreError.self) { try store.deleteDataset(tenantId: t.id, kind: "transactions", name: "shop") }
    let lease = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    try await store.completeJob(jobId: lease.job.id, leaseId: lease.leaseId, artifacts: [(format: "md", contentType: "text/markdown", data: Data("#".utf8))])
    #expect(try store.deleteDataset(tenantId: t.id, kind: "transactions", name: "shop") == 2)
    // Every file is gone now, the retired one included; the report stays.
    for id in [v1.id, v2.id, v3.id] { #expect(try store.datasetChunk(datasetId: id, seq: 0) == nil) }
    #expect(try store.reports(tenantId: t.id, dataset: .name("shop")).count == 1)
    #expect(try store.datasetFilter(tenantId: t.id, reference: "shop") == .name("shop"))
  }

  @Test("a store from before versions numbers each name's uploads in order and names the jobs' datasets")
  func migration() async throws {
    let queue = try DatabaseQueue(configuration: FidelisStore.makeConfiguration())
    try FidelisStore.migrator.migrate(queue, upTo: "v7 jobs by dataset")
    try await queue.write { db in
      try db.execute(sql: "INSERT INTO tenant (id, name, createdAt, maxQueuedJobs, maxRunningJobs, maxDatasetBytes, defaultLanguage) VALUES ('ten_1', 'T', 0, 0, 0, 0, 'en')")
      for (id, name) in [("ds_1", "a.csv"), ("ds_2", "b.csv"), ("ds_3", "a.csv")] {
        try db.execute(
          sql: "INSERT INTO dataset (id, tenantId, name, kind, state, sizeBytes, sha256, chunkCount, createdAt) VALUES (?, 'ten_1', ?, 'transactions', 'ready', 10, 'x', 1, 0)",
          arguments: [id, name])
      }
      try db.execute(
        sql: """
          INSERT INTO job (id, tenantId, datasetId, kind, options, state, attempt, maxAttempts, stage, progress, cancelRequested, createdAt)
          VALUES ('job_1', 'ten_1', 'ds_3', 'profile', x'', 'succeeded', 1, 3, '', 100, 0, 0)
          """)
    }
    let store = try FidelisStore(queue)
    let versions = try store.datasetVersions(tenantId: "ten_1", kind: "transactions", name: "a.csv")
    #expect(versions.map(\.id) == ["ds_3", "ds_1"] && versions.map(\.version) == [2, 1])
    #expect(versions.allSatisfy { $0.contentBytes == 10 })
    #expect(try store.job(tenantId: "ten_1", id: "job_1").datasetName == "a.csv")
    #expect(try store.dataset(tenantId: "ten_1", reference: "b.csv", kind: "transactions").version == 1)
  }
}

@Suite("Retention")
struct RetentionTests {
  @Test("the newest versions and reports stay, and so does a report a queued job will compare with")
  func retention() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    var versions = [try version(store, tenant: t.id, name: "shop")]
    for _ in 0..<3 { versions.append(try version(store, tenant: t.id, name: "shop", appendingTo: versions.last!)) }
    var done: [String] = []
    for _ in 0..<3 {
      let (job, _) = try await store.submitJob(tenantId: t.id, dataset: "shop", kind: "analysis", options: Data(), idempotencyKey: nil)
      let lease = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
      try await store.completeJob(jobId: lease.job.id, leaseId: lease.leaseId, artifacts: [(format: "json", contentType: "application/json", data: Data("{}".utf8))])
      done.append(job.id)
    }
    // A queued analysis compares with the oldest report: JobOptions field 15, compare_to.
    let options = Data([15 << 3 | 2, UInt8(done[0].utf8.count)] + Array(done[0].utf8))
    #expect(FidelisStore.compareTo(in: Data([8, 3]) + options) == done[0])
    _ = try await store.submitJob(tenantId: t.id, dataset: "shop", kind: "analysis", options: options, idempotencyKey: nil)
    _ = try store.setLimits(tenantId: t.id, maxQueuedJobs: 0, maxRunningJobs: 0, maxDatasetBytes: 0, maxStorageBytes: 0, keepVersions: 2, keepReports: 1)
    let removed = try store.applyRetention()
    // The queued job reads the newest version; the two oldest go (their files stay, read by the newest).
    #expect(removed == RetentionOutcome(versions: 2, reports: 1))
    #expect(try store.datasetVersions(tenantId: t.id, kind: "transactions", name: "shop").map(\.version) == [4, 3])
    #expect(try store.datasetParts(versionId: versions[3].id).count == 4)
    #expect(try store.reports(tenantId: t.id, dataset: .name("shop")).map(\.job.id) == [done[2], done[0]])
    #expect(try store.applyRetention() == RetentionOutcome())
  }
}
