import Foundation
import GRDB
import Testing

@testable import Store

@Suite("Store hardening")
struct HardeningStoreTests {
  @Test("a job whose worker goes silent twice fails saying so; the next lease avoids the silent worker while another can take it")
  func lostLeases() async throws {
    let store = try makeStore(maxAttempts: 5)
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    let (job, _) = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil)
    #expect(try await store.leaseNextJob(worker: "w1/0", host: "a", kinds: [], leaseMillis: 60_000)?.job.id == job.id)
    _ = try store.expireLeases(now: FidelisStore.now() + 120_000)
    // The same worker process (another slot) is passed over while the lease time runs...
    #expect(try await store.leaseNextJob(worker: "w1/1", host: "a", kinds: [], leaseMillis: 60_000) == nil)
    // ...another worker takes the job.
    #expect(try await store.leaseNextJob(worker: "w2", host: "b", kinds: [], leaseMillis: 60_000)?.job.id == job.id)
    _ = try store.expireLeases(now: FidelisStore.now() + 240_000)
    let failed = try store.job(tenantId: t.id, id: job.id)
    #expect(failed.state == .failed)
    #expect(failed.error?.contains("lost its worker 2 times (w1, then w2)") == true)
    #expect(try store.attempts(jobId: job.id).map(\.outcome) == ["lease expired", "lease expired"])
  }

  @Test("a silent worker gets its job back when no other worker took it within a lease's time")
  func onlyWorker() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    let (job, _) = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil)
    _ = try await store.leaseNextJob(worker: "solo", host: "a", kinds: [], leaseMillis: 1)
    _ = try store.expireLeases(now: FidelisStore.now() + 10)
    // The lease time (1 ms) is over long before the next look.
    try await Task.sleep(for: .milliseconds(50))
    #expect(try await store.leaseNextJob(worker: "solo", host: "a", kinds: [], leaseMillis: 1)?.job.id == job.id)
  }

  @Test("a success clears the error an earlier attempt left on the job")
  func successClearsError() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    let (job, _) = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil)
    let first = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    _ = try store.failJob(jobId: job.id, leaseId: first.leaseId, error: "connection reset", retryable: true, cancelled: false)
    let second = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    try await store.completeJob(jobId: job.id, leaseId: second.leaseId, artifacts: [(format: "md", contentType: "text/markdown", data: Data("# r".utf8))])
    let done = try store.job(tenantId: t.id, id: job.id)
    #expect(done.state == .succeeded && done.error == nil)
    #expect(try store.attempts(jobId: job.id).first?.error == "connection reset")
  }

  @Test("tenant names are unique whatever their case; storage use counts datasets and reports")
  func namesAndStorage() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "Café", maxStorageBytes: 1234)
    #expect(throws: StoreError.self) { try store.createTenant(name: "CAFÉ") }
    _ = try uploadDataset(store, tenant: t.id, bytes: String(repeating: "x", count: 100))
    let use = try store.storageUse(t)
    #expect(use.used == 100 && use.quota == 1234)
  }

  @Test("reports come newest first, a page at a time, all or one dataset's or one kind's; datasets a page at a time")
  func reportPages() async throws {
    let store = try makeStore()
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    var ids: [String] = []
    for _ in 0..<5 {
      let (job, _) = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil)
      let lease = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
      try await store.completeJob(jobId: job.id, leaseId: lease.leaseId, artifacts: [(format: "md", contentType: "text/markdown", data: Data("#".utf8))])
      ids.insert(job.id, at: 0)
    }
    let first = try store.reports(tenantId: t.id, limit: 2)
    let second = try store.reports(tenantId: t.id, limit: 2, before: Int64(first.last!.job.seq!))
    let third = try store.reports(tenantId: t.id, limit: 2, before: Int64(second.last!.job.seq!))
    #expect((first + second + third).map(\.job.id) == ids)
    // Filtered by dataset and kind: another dataset's and another kind's reports are not listed.
    let other = try uploadDataset(store, tenant: t.id)
    let (job, _) = try await store.submitJob(tenantId: t.id, dataset: other, kind: "analysis", options: Data(), idempotencyKey: nil)
    let lease = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    try await store.completeJob(jobId: job.id, leaseId: lease.leaseId, artifacts: [(format: "md", contentType: "text/markdown", data: Data("#".utf8))])
    #expect(try store.reports(tenantId: t.id, dataset: .version(d)).map(\.job.id) == ids)
    #expect(try store.reports(tenantId: t.id, dataset: .version(other)).map(\.job.id) == [job.id])
    #expect(try store.reports(tenantId: t.id, kind: "analysis").map(\.job.id) == [job.id])
    #expect(try store.succeededJobs(tenantId: t.id, dataset: .version(other), kind: nil).map(\.id) == [job.id])
    // Both files were uploaded under one name: its versions, and its reports one series.
    #expect(try store.reports(tenantId: t.id, dataset: .name("d.csv")).map(\.job.id) == [job.id] + ids)
    #expect(try store.datasetFilter(tenantId: t.id, reference: other) == .version(other))
    #expect(try store.datasetFilter(tenantId: t.id, reference: "d.csv") == .name("d.csv"))
    let (stranger, _) = try store.createTenant(name: "Stranger")
    #expect(try store.datasetFilter(tenantId: stranger.id, reference: other) == nil)
    #expect(try store.datasetFilter(tenantId: stranger.id, reference: "d.csv") == nil)
    // Datasets come a page at a time too, newest first (by id, which sorts by creation to
    // the millisecond): the pages put together are the whole list, each once.
    var datasets = [d, other]
    for _ in 0..<3 { datasets.append(try uploadDataset(store, tenant: t.id)) }
    let page1 = try store.datasets(tenantId: t.id, limit: 2)
    let page2 = try store.datasets(tenantId: t.id, limit: 2, before: page1.last!.id)
    let page3 = try store.datasets(tenantId: t.id, limit: 2, before: page2.last!.id)
    let paged = (page1 + page2 + page3).map(\.id)
    #expect(paged == datasets.sorted(by: >))
    #expect(paged == (try store.datasets(tenantId: t.id)).map(\.id))
    #expect(page3.count == 1)
  }

  @Test("limits set by the operator apply to the next call; usage counts storage, datasets, jobs and attempt seconds")
  func limitsAndUsage() async throws {
    let store = try makeStore()
    let (t, key) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id, bytes: String(repeating: "x", count: 500))
    _ = try store.tenant(forKey: key)  // cached, as an authenticated call leaves it
    let changed = try store.setLimits(tenantId: t.id, maxQueuedJobs: 1, maxRunningJobs: 0, maxDatasetBytes: 0, maxStorageBytes: 400)
    #expect(changed.maxQueuedJobs == 1 && changed.maxStorageBytes == 400)
    let seen = try #require(try store.tenant(forKey: key))
    #expect(seen.maxStorageBytes == 400)
    #expect(try store.storageUse(seen) == (500, 400))
    #expect(throws: StoreError.self) { try store.setLimits(tenantId: "ten_nope", maxQueuedJobs: 0, maxRunningJobs: 0, maxDatasetBytes: 0, maxStorageBytes: 0) }
    #expect(throws: StoreError.self) { try store.setLimits(tenantId: t.id, maxQueuedJobs: -1, maxRunningJobs: 0, maxDatasetBytes: 0, maxStorageBytes: 0) }
    _ = try await store.submitJob(tenantId: t.id, dataset: d, kind: "profile", options: Data(), idempotencyKey: nil)
    let lease = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    let usage = try store.usage(seen)
    #expect(usage.datasets == 1 && usage.storageBytes == 500 && usage.storageQuotaBytes == 400)
    #expect(usage.jobsByState == ["running": 1])
    #expect(usage.workerSeconds >= 0 && usage.cpuSeconds == 0)
    // The worker's report of the attempt's CPU time is summed.
    _ = try store.failJob(jobId: lease.job.id, leaseId: lease.leaseId, error: "x", retryable: false, cancelled: false, cpuMillis: 1_250)
    #expect(try store.usage(seen).cpuSeconds == 1.25)
  }

  @Test("an empty or foreign store file is refused and left as it was; a second store on one directory is refused")
  func openingChecks() async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("fidelis.sqlite").path
    _ = FileManager.default.createFile(atPath: path, contents: Data())
    #expect(throws: StoreOpenError.self) { try FidelisStore.open(directory: directory) }
    _ = FileManager.default.createFile(atPath: path, contents: Data("not a database at all, not even close".utf8))
    #expect(throws: StoreOpenError.self) { try FidelisStore.open(directory: directory) }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("not a database at all, not even close".utf8))
    try FileManager.default.removeItem(atPath: path)
    let store = try FidelisStore.open(directory: directory)
    #expect(throws: StoreOpenError.self) { try FidelisStore.open(directory: directory) }
    _ = store
    let attributes = try FileManager.default.attributesOfItem(atPath: directory.path)
    #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)
  }
}

@Suite("Tenant defaults")
struct TenantDefaultsTests {
  @Test("a tenant's language and currency are set at creation and changed later; an unknown tenant is NOT_FOUND")
  func defaults() throws {
    let store = try makeStore()
    let (tenant, _) = try store.createTenant(name: "shop", language: "fr", currency: "USD")
    #expect(tenant.defaultCurrency == "USD")
    let changed = try store.updateTenant(id: tenant.id, language: nil, currency: "GBP")
    #expect(changed.defaultLanguage == "fr" && changed.defaultCurrency == "GBP")
    #expect(try store.listTenants().first { $0.id == tenant.id }?.defaultCurrency == "GBP")
    #expect(throws: StoreError.notFound("no tenant ten_none")) { try store.updateTenant(id: "ten_none", language: "en", currency: nil) }
  }
}
