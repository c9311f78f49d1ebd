import Foundation
import GRDB
import Testing

@testable import Store

@Suite("Schedules")
struct ScheduleTests {
  @Test("slots follow the interval from the anchor: the creation time, or a time of day")
  func slots() {
    let day: Int64 = 86_400_000
    var s = ScheduleRecord(
      id: "sch_1", tenantId: "t", datasetName: "d", kind: "analysis", options: Data(), everySeconds: 3_600, atMinute: nil, state: .active, nextRunAt: 0,
      lastJobId: nil, lastVersionId: nil, createdAt: 10 * day + 123)
    #expect(s.slot(after: 10 * day + 123) == 10 * day + 123 + 3_600_000)
    #expect(s.slot(after: 10 * day + 123 + 3_600_000 * 5 + 7) == 10 * day + 123 + 3_600_000 * 6)
    s.everySeconds = 86_400
    s.atMinute = 6 * 60 + 30
    #expect(s.slot(after: 10 * day) == 10 * day + 23_400_000)
    #expect(s.slot(after: 10 * day + 23_400_000) == 11 * day + 23_400_000)
  }

  @Test("a due run is made once; runs missed meanwhile make one; an unchanged dataset or a run still queued makes none")
  func runs() async throws {
    let store = try makeStore(maxQueued: 2)
    let (t, _) = try store.createTenant(name: "T")
    let d = try uploadDataset(store, tenant: t.id)
    let name = try store.dataset(tenantId: t.id, id: d).name
    let schedule = try store.createSchedule(tenantId: t.id, datasetName: name, kind: "profile", options: Data(), everySeconds: 60, atMinute: nil)
    let now = schedule.nextRunAt
    let run = try #require(try store.runSchedule(schedule, options: Data(), now: now))
    #expect(run.outcome == "submitted" && run.versionId == d)
    // The same due run again (another caller, a retry): nothing.
    #expect(try store.runSchedule(schedule, options: Data(), now: now) == nil)
    // Ten periods later: one run, due at the old time, and the next slot after now.
    var current = try store.schedule(tenantId: t.id, id: schedule.id)
    #expect(current.nextRunAt == now + 60_000)
    let late = now + 600_000 + 5
    let queued = try #require(try store.runSchedule(current, options: Data(), now: late))
    #expect(queued.outcome == "skipped" && queued.reason?.contains("still queued") == true)
    current = try store.schedule(tenantId: t.id, id: schedule.id)
    #expect(current.nextRunAt == now + 660_000)
    // The job done, the dataset unchanged: skipped.
    let lease = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    try await store.completeJob(jobId: lease.job.id, leaseId: lease.leaseId, artifacts: [(format: "md", contentType: "text/markdown", data: Data("#".utf8))])
    let unchanged = try #require(try store.runSchedule(current, options: Data(), now: current.nextRunAt))
    #expect(unchanged.outcome == "skipped" && unchanged.reason?.contains("not changed") == true)
    // A new version: submitted.
    let d2 = try uploadDataset(store, tenant: t.id)
    current = try store.schedule(tenantId: t.id, id: schedule.id)
    let again = try #require(try store.runSchedule(current, options: Data(), now: current.nextRunAt))
    #expect(again.outcome == "submitted" && again.versionId == d2)
    #expect(try store.scheduleRuns(tenantId: t.id, id: schedule.id).map(\.outcome) == ["submitted", "skipped", "skipped", "submitted"])
    // Its job done, then removed by retention (which removes only successes): still unchanged.
    let second = try #require(try await store.leaseNextJob(worker: "w", host: "h", kinds: [], leaseMillis: 60_000))
    try await store.completeJob(jobId: second.job.id, leaseId: second.leaseId, artifacts: [(format: "md", contentType: "text/markdown", data: Data("#".utf8))])
    try await store.writer.write { db in try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [second.job.id]) }
    current = try store.schedule(tenantId: t.id, id: schedule.id)
    let afterRetention = try #require(try store.runSchedule(current, options: Data(), now: current.nextRunAt))
    #expect(afterRetention.outcome == "skipped" && afterRetention.reason?.contains("not changed") == true)
    // Paused: not due.
    _ = try store.setScheduleState(tenantId: t.id, id: schedule.id, .paused)
    #expect(try store.dueSchedules(now: .max).isEmpty)
    let (other, _) = try store.createTenant(name: "O")
    #expect(throws: StoreError.self) { try store.setScheduleState(tenantId: other.id, id: schedule.id, .active) }
  }
}
