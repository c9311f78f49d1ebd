import Foundation
import GRDB
import Testing

@testable import Store

func makeStore(maxAttempts: Int = 3, maxRunning: Int = 8, maxQueued: Int = 1000) throws -> FidelisStore {
  var defaults = TenantDefaults()
  defaults.maxAttempts = maxAttempts
  defaults.maxRunningJobs = maxRunning
  defaults.maxQueuedJobs = maxQueued
  return try FidelisStore(DatabaseQueue(configuration: FidelisStore.makeConfiguration()), defaults: defaults)
}

/// A fresh folder for a store on a real file (WAL, a pool of connections), as in production.
func temporaryDirectory() throws -> URL {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fidelis-store-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  return directory
}

func uploadDataset(_ store: FidelisStore, tenant: String, bytes: String = "customer_id,date,amount\nA,2024-01-01,3\n") throws -> String {
  let id = try store.beginUpload(tenantId: tenant, name: "d.csv", kind: "transactions")
  try store.appendChunk(datasetId: id, seq: 0, data: Data(bytes.utf8))
  _ = try store.finishUpload(datasetId: id, size: Int64(bytes.utf8.count), sha256: "x", chunks: 1)
  return id
}

@Suite("Store")
struct StoreTests {
  @Test("keys are stored hashed and resolve to their tenant; rotation revokes the old key")
  func keys() async throws {
    let store = try makeStore()
    let (tenant, key) = try store.createTenant(name: "Acme")
    #expect(try store.tenant(forKey: key)?.id == tenant.id)
    #expect(try store.tenant(forKey: "nope") == nil)
    let newKey = try store.rotateKey(tenantId: tenant.id)
    #expect(try store.tenant(forKey: key) == nil)
    #expect(try store.tenant(forKey: newKey)?.id == tenant.id)
    #expect(throws: StoreError.self) { try store.createTenant(name: "Acme") }
  }

  @Test("a tenant never sees another tenant's datasets, jobs or reports: NOT_FOUND as for a missing id")
  func isolation() async throws {
    let store = try makeStore()
    let (a, _) = try store.createTenant(name: "A")
    let (b, _) = try store.createTenant(name: "B")
    let dataset = try uploadDataset(store, tenant: a.id)
    let (job, _) = try await store.submitJob(tenantId: a.id, dataset: dataset, kind: "profile", options: Data(), idempotencyKey: nil)
    #expect(throws: StoreError.notFound("no dataset \(dataset)")) { try store.dataset(tenantId: b.id, id: dataset) }
    #expect(throws: StoreError.notFound("no job \(job.id)")) { try store.job(tenantId: b.id, id: job.id) }
    await #expect(throws: StoreError.notFound("no dataset \(dataset)")) { try await store.submitJob(tenantId: b.id, dataset: dataset, kind: "profile", options: Data(), idempotencyKey: nil) }
    #expect(try store.datasets(tenantId: b.id).isEmpty)
    #expect(try store.jobs(tenantId: b.id, state: nil, limit: 10).isEmpty)
  }

  @Test("idempotent submit returns the same job")
  func idempotent() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    let first = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: "k1")
    let again = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: "k1")
    #expect(first.created && !again.created)
    #expect(first.job.id == again.job.id)
    #expect(try store.jobs(tenantId: t.id, state: nil, limit: 10).count == 1)
  }

  @Test("a stale lease cannot complete: the result is written exactly once")
  func fencing() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    _ = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil)
    let first = try #require(try await store.leaseNextJob(worker: "w1", host: "h1", kinds: [], leaseMillis: 10))
    // The lease tells the dataset's size, for the worker's reading progress.
    #expect(first.datasetBytes == Int64("customer_id,date,amount\nA,2024-01-01,3\n".utf8.count))
    // The lease runs out; the job is queued again and leased by another worker.
    let expired = try store.expireLeases(now: FidelisStore.now() + 1000)
    #expect(expired.map(\.state) == [.queued])
    let second = try #require(try await store.leaseNextJob(worker: "w2", host: "h2", kinds: [], leaseMillis: 60_000))
    #expect(second.job.attempt == 2)
    await #expect(throws: StoreError.self) { try await store.completeJob(jobId: first.job.id, leaseId: first.leaseId, artifacts: []) }
    #expect(throws: StoreError.self) { try store.heartbeat(jobId: first.job.id, leaseId: first.leaseId, stage: "x", progress: 1, leaseMillis: 10) }
    try await store.completeJob(jobId: second.job.id, leaseId: second.leaseId, artifacts: [(format: "md", contentType: "text/markdown", data: Data("# ok".utf8))])
    await #expect(throws: StoreError.self) { try await store.completeJob(jobId: second.job.id, leaseId: second.leaseId, artifacts: []) }
    let attempts = try store.attempts(jobId: second.job.id)
    #expect(attempts.map(\.outcome) == ["lease expired", "succeeded"])
    #expect(attempts.map(\.host) == ["h1", "h2"])
    let report = try store.artifact(tenantId: t.id, jobId: second.job.id, format: "md")
    #expect(try store.artifactPiece(report, number: 0) == Data("# ok".utf8))
  }

  @Test("a completion leases the worker's next job in the same transaction; a stale one leases nothing")
  func completeAndLeaseNext() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    var jobs: [JobRecord] = []
    for _ in 0..<2 { jobs.append(try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil).job) }
    let next = LeaseRequest(worker: "w1", host: "h1", kinds: ["profile"], leaseMillis: 60_000)
    let first = try #require(try await store.leaseNextJob(next))
    #expect(first.job.id == jobs[0].id)
    // A stale completion changes nothing and leases nothing.
    await #expect(throws: StoreError.self) { try await store.completeJob(jobId: first.job.id, leaseId: "lease_stale", artifacts: [], next: next) }
    #expect(try store.job(tenantId: t.id, id: jobs[1].id).state == .queued)
    let second = try #require(try await store.completeJob(jobId: first.job.id, leaseId: first.leaseId, artifacts: [], next: next))
    #expect(second.job.id == jobs[1].id)
    #expect(try store.job(tenantId: t.id, id: jobs[0].id).state == .succeeded)
    #expect(try store.job(tenantId: t.id, id: jobs[1].id).state == .running)
    #expect(try store.attempts(jobId: jobs[1].id).map(\.worker) == ["w1"])
    // Nothing left: the completion still succeeds, with no next lease.
    #expect(try await store.completeJob(jobId: second.job.id, leaseId: second.leaseId, artifacts: [], next: next) == nil)
    #expect(try store.job(tenantId: t.id, id: jobs[1].id).state == .succeeded)
  }

  @Test("after the last attempt an expired lease fails the job with the reason")
  func lastAttempt() async throws {
    let store = try makeStore(maxAttempts: 1)
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    let (job, _) = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil)
    _ = try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 1)
    _ = try store.expireLeases(now: FidelisStore.now() + 1000)
    let failed = try store.job(tenantId: t.id, id: job.id)
    #expect(failed.state == .failed)
    #expect(failed.error?.contains("expired") == true)
  }

  @Test("cancel: a queued job at once, a running job through its worker")
  func cancel() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    let (queued, _) = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: "q")
    #expect(try store.cancelJob(tenantId: t.id, id: queued.id).state == .cancelled)
    let (running, _) = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: "r")
    let lease = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    #expect(try store.cancelJob(tenantId: t.id, id: running.id).cancelRequested)
    #expect(try store.heartbeat(jobId: running.id, leaseId: lease.leaseId, stage: "s", progress: 5, leaseMillis: 60_000).cancelRequested)
    _ = try store.failJob(jobId: running.id, leaseId: lease.leaseId, error: "cancelled", retryable: false, cancelled: true)
    #expect(try store.job(tenantId: t.id, id: running.id).state == .cancelled)
    #expect(throws: StoreError.self) { try store.cancelJob(tenantId: t.id, id: running.id) }
  }

  @Test("fair leasing: a busy tenant does not starve a quiet one; running limits hold")
  func fairness() async throws {
    let store = try makeStore(maxRunning: 2)
    let (busy, _) = try store.createTenant(name: "busy")
    let (quiet, _) = try store.createTenant(name: "quiet")
    let db = try uploadDataset(store, tenant: busy.id)
    let dq = try uploadDataset(store, tenant: quiet.id)
    for i in 0..<10 { _ = try await store.submitJob(tenantId: busy.id, dataset: db, kind: "profile", options: Data(), idempotencyKey: "b\(i)") }
    _ = try await store.submitJob(tenantId: quiet.id, dataset: dq, kind: "profile", options: Data(), idempotencyKey: "q")
    var leases: [Lease] = []
    for _ in 0..<4 { if let lease = try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000) { leases.append(lease) } }
    #expect(leases.map(\.tenant.name).filter { $0 == "quiet" }.count == 1)
    #expect(leases.map(\.tenant.name).filter { $0 == "busy" }.count == 2)
    #expect(leases.count == 3)
  }

  @Test("queue limit refuses with RESOURCE_EXHAUSTED and stores nothing")
  func queueLimit() async throws {
    let store = try makeStore(maxQueued: 2)
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    for i in 0..<2 { _ = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: "\(i)") }
    await #expect(throws: StoreError.self) { try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: "x") }
    #expect(try store.jobs(tenantId: t.id, state: nil, limit: 10).count == 2)
  }

  @Test("an upload's chunks read back byte for byte, though the caller reuses one buffer for them all")
  func chunksRoundTrip() async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try FidelisStore.open(directory: directory)
    let (t, _) = try store.createTenant(name: "T")
    let id = try store.beginUpload(tenantId: t.id, name: "big.csv", kind: "transactions")
    // Chunks are bound in place, not copied: each must be in the database before the call
    // returns, whatever the caller then does with its bytes.
    var buffer = Data(count: 1 << 20)
    var expected: [Data] = []
    for seq in 0..<5 {
      let size = seq == 4 ? 12_345 : buffer.count
      buffer.withUnsafeMutableBytes { (bytes: UnsafeMutableRawBufferPointer) in
        for i in 0..<size { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ seq &* 7) }
      }
      let chunk = buffer.prefix(size)
      expected.append(Data(chunk))
      try store.appendChunk(datasetId: id, seq: seq, data: chunk)
    }
    buffer.resetBytes(in: 0..<buffer.count)
    _ = try store.finishUpload(datasetId: id, size: Int64(expected.map(\.count).reduce(0, +)), sha256: "x", chunks: expected.count)
    for (seq, bytes) in expected.enumerated() {
      #expect(try store.datasetChunk(datasetId: id, seq: seq) == bytes)
    }
    #expect(try store.datasetChunk(datasetId: id, seq: expected.count) == nil)
    // The same chunk twice is refused, and what was stored stays.
    #expect(throws: (any Error).self) { try store.appendChunk(datasetId: id, seq: 0, data: Data("x".utf8)) }
    #expect(try store.datasetChunk(datasetId: id, seq: 0) == expected[0])
  }

  @Test("concurrent submits commit together: a refusal undoes only itself, and the queue limit holds exactly")
  func groupCommit() async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var defaults = TenantDefaults()
    defaults.maxQueuedJobs = 40
    var store: FidelisStore? = try FidelisStore.open(directory: directory, defaults: defaults)
    let (t, _) = try store!.createTenant(name: "T")
    let d = try uploadDataset(store!, tenant: t.id)
    let outcomes = await withTaskGroup(of: String.self) { [store] group in
      for i in 0..<100 {
        group.addTask {
          do {
            // One in ten names a dataset that does not exist.
            _ = try await store!.submitJob(
              tenantId: t.id, dataset: i % 10 == 0 ? "ds_missing" : d, kind: "profile", options: Data(), idempotencyKey: "k\(i)")
            return "queued"
          } catch StoreError.notFound {
            return "not found"
          } catch StoreError.resourceExhausted {
            return "queue full"
          } catch {
            return "\(error)"
          }
        }
      }
      var counts: [String: Int] = [:]
      for await outcome in group { counts[outcome, default: 0] += 1 }
      return counts
    }
    #expect(outcomes == ["queued": 40, "not found": 10, "queue full": 50])
    #expect(try store!.jobs(tenantId: t.id, state: nil, limit: 1000).count == 40)
    // What was answered is stored: a new store on the same file sees the same jobs (once
    // the first has closed: one store per directory at a time).
    store?.close()
    store = nil
    let reopened = try FidelisStore.open(directory: directory, defaults: defaults)
    #expect(try reopened.jobs(tenantId: t.id, state: .queued, limit: 1000).count == 40)
  }

  @Test("a caller that gives up does not fail the other callers' writes committed with it")
  func cancelledCaller() async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try FidelisStore.open(directory: directory)
    let (t, _) = try store.createTenant(name: "T", maxQueuedJobs: 100_000)
    let d = try uploadDataset(store, tenant: t.id)
    for _ in 0..<20 {
      let failures = await withTaskGroup(of: Int.self) { group in
        // Every other caller is cancelled at once; whichever of them leads a batch, the
        // others' writes must go through.
        for i in 0..<16 {
          group.addTask {
            let task = Task { try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil) }
            if i % 2 == 0 { task.cancel() }
            do {
              _ = try await task.value
              return 0
            } catch {
              return i % 2 == 1 ? 1 : 0
            }
          }
        }
        return await group.reduce(0, +)
      }
      #expect(failures == 0, "callers that were not cancelled failed")
    }
  }

  @Test("checkpoints keep the write-ahead log from growing while jobs are written")
  func checkpoints() async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try FidelisStore.open(directory: directory)
    let (t, _) = try store.createTenant(name: "T", maxQueuedJobs: 100_000)
    let d = try uploadDataset(store, tenant: t.id)
    let log = directory.appendingPathComponent("fidelis.sqlite-wal").path
    func logBytes() throws -> Int { try FileManager.default.attributesOfItem(atPath: log)[.size] as! Int }
    var sizes: [Int] = []
    for _ in 0..<4 {
      for _ in 0..<300 { _ = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil) }
      try await store.checkpoint()
      sizes.append(try logBytes())
    }
    // Once copied into the database, the log is written again from its start: it stays the
    // size of what is written between two checkpoints.
    #expect(sizes.last! <= sizes.first! + sizes.first! / 2, "log sizes \(sizes)")
    #expect(try store.jobs(tenantId: t.id, state: .queued, limit: 2000).count == 1200)
  }

  /// The tenants' queued and running counts as the triggers keep them, and as counted.
  func counts(_ store: FidelisStore) throws -> (kept: [String: [Int]], counted: [String: [Int]]) {
    try store.writer.read { db in
      let kept = try Row.fetchAll(db, sql: "SELECT id, queuedJobs, runningJobs FROM tenant").reduce(into: [String: [Int]]()) {
        $0[$1["id"]] = [$1["queuedJobs"], $1["runningJobs"]]
      }
      let counted = try Row.fetchAll(
        db,
        sql: """
          SELECT id, (SELECT COUNT(*) FROM job WHERE tenantId = tenant.id AND state = 'queued') AS q,
                     (SELECT COUNT(*) FROM job WHERE tenantId = tenant.id AND state = 'running') AS r FROM tenant
          """
      ).reduce(into: [String: [Int]]()) { $0[$1["id"]] = [$1["q"], $1["r"]] }
      return (kept, counted)
    }
  }

  @Test("each tenant's queued and running counts follow every change of a job's state")
  func tenantCounts() async throws {
    let store = try makeStore(maxAttempts: 2)
    let (a, _) = try store.createTenant(name: "A")
    let (b, _) = try store.createTenant(name: "B")
    let da = try uploadDataset(store, tenant: a.id)
    let db = try uploadDataset(store, tenant: b.id)
    func check(_ expected: [String: [Int]], sourceLocation: SourceLocation = #_sourceLocation) throws {
      let (kept, counted) = try counts(store)
      #expect(kept == counted, sourceLocation: sourceLocation)
      #expect(kept == expected, sourceLocation: sourceLocation)
    }
    var jobsA: [JobRecord] = []
    for _ in 0..<5 { jobsA.append(try await store.submitJob(tenantId: a.id, dataset: da, kind: "profile", options: Data(), idempotencyKey: nil).job) }
    _ = try await store.submitJob(tenantId: b.id, dataset: db, kind: "profile", options: Data(), idempotencyKey: nil)
    try check([a.id: [5, 0], b.id: [1, 0]])
    _ = try store.cancelJob(tenantId: a.id, id: jobsA[4].id)  // queued → cancelled
    var leases: [Lease] = []
    for _ in 0..<4 { if let lease = try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000) { leases.append(lease) } }
    try check([a.id: [1, 3], b.id: [0, 1]])  // fair: B is served too
    let leasedA = leases.filter { $0.tenant.id == a.id }
    try await store.completeJob(jobId: leasedA[0].job.id, leaseId: leasedA[0].leaseId, artifacts: [])  // running → succeeded
    _ = try store.failJob(jobId: leasedA[1].job.id, leaseId: leasedA[1].leaseId, error: "x", retryable: true, cancelled: false)  // → queued
    try check([a.id: [2, 1], b.id: [0, 1]])
    _ = try store.expireLeases(now: FidelisStore.now() + 120_000)  // running → queued again (attempts left)
    try check([a.id: [3, 0], b.id: [1, 0]])
    let again = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 1))
    _ = try store.cancelJob(tenantId: again.tenant.id, id: again.job.id)  // cancel asked, still running
    _ = try store.expireLeases(now: FidelisStore.now() + 120_000)  // → cancelled
    let (kept, counted) = try counts(store)
    #expect(kept == counted)
    #expect(kept.values.map { $0[1] }.allSatisfy { $0 == 0 })
    // Deleting a tenant's jobs (as deleting the tenant would) keeps the counts true.
    try await store.writer.write { db in try db.execute(sql: "DELETE FROM job WHERE tenantId = ?", arguments: [a.id]) }
    let (keptAfter, countedAfter) = try counts(store)
    #expect(keptAfter == countedAfter)
    #expect(keptAfter[a.id] == [0, 0])
  }

  @Test("upgrading a store counts the jobs already there")
  func countsMigration() async throws {
    let queue = try DatabaseQueue(configuration: FidelisStore.makeConfiguration())
    try FidelisStore.migrator.migrate(queue, upTo: "v2 worker certificate")
    try await queue.write { db in
      try db.execute(sql: "INSERT INTO tenant (id, name, createdAt, maxQueuedJobs, maxRunningJobs, maxDatasetBytes, defaultLanguage) VALUES ('ten_1', 'T', 0, 0, 0, 0, 'en')")
      for (i, state) in ["queued", "queued", "running", "succeeded"].enumerated() {
        try db.execute(
          sql: """
            INSERT INTO job (id, tenantId, datasetId, kind, options, state, attempt, maxAttempts, stage, progress, cancelRequested, createdAt)
            VALUES (?, 'ten_1', 'ds_1', 'profile', x'', ?, 0, 3, '', 0, 0, 0)
            """, arguments: ["job_\(i)", state])
      }
    }
    let store = try FidelisStore(queue)
    #expect(try counts(store).kept == ["ten_1": [2, 1]])
  }

  @Test("the scheduler finds the next tenant through an index, however many tenants wait")
  func schedulerUsesIndex() async throws {
    let store = try makeStore()
    let plan = try await store.writer.read { db in
      try String.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT * FROM tenant WHERE queuedJobs > 0 ORDER BY runningJobs, lastLeasedAt, id", arguments: [], adapter: ColumnMapping(["detail": "detail"]))
    }
    #expect(plan.contains { $0.contains("tenant_next_to_serve") }, "\(plan)")
    #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
  }

  @Test("a dataset in use cannot be deleted; an unfinished upload is invisible and removed")
  func datasets() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    _ = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil)
    #expect(throws: StoreError.self) { try store.deleteDataset(tenantId: t.id, id: d) }
    let pending = try store.beginUpload(tenantId: t.id, name: "x", kind: "transactions")
    #expect(try store.datasets(tenantId: t.id).map(\.id) == [d])
    #expect(throws: StoreError.self) { try store.dataset(tenantId: t.id, id: pending) }
    #expect(try store.removeUnfinishedUploads() == 1)
  }
}
