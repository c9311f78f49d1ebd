import Foundation
import GRDB

/// The states of a schedule.
///
/// - `active` → `paused` (pause) or deleted.
/// - `paused` → `active` (resume: its next run is the first slot from then on) or deleted.
public enum ScheduleState: String, Codable, Sendable, DatabaseValueConvertible {
  case active, paused
}

/// Analyses the coordinator submits on a dataset at a fixed interval.
public struct ScheduleRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "schedule"
  public var id: String
  public var tenantId: String
  /// The dataset's name: each run reads its latest version.
  public var datasetName: String
  public var kind: String
  /// The runs' options, the serialized protobuf `JobOptions` (without `compare_to`, set per run).
  public var options: Data
  public var everySeconds: Int64
  /// Minutes after midnight UTC the runs are aligned on; nil: on the creation time.
  public var atMinute: Int?
  public var state: ScheduleState
  /// When the next run is due (Unix milliseconds).
  public var nextRunAt: Int64
  /// The last job submitted, and the dataset version it read.
  public var lastJobId: String?
  public var lastVersionId: String?
  public var createdAt: Int64

  public enum Columns {
    public static let id = Column(CodingKeys.id)
    public static let tenantId = Column(CodingKeys.tenantId)
    public static let state = Column(CodingKeys.state)
    public static let nextRunAt = Column(CodingKeys.nextRunAt)
  }

  /// The first slot strictly after `now`: slots are `anchor + k × every`, the anchor being
  /// the creation time, or midnight UTC plus `atMinute`.
  public func slot(after now: Int64) -> Int64 {
    let every = everySeconds * 1000
    let anchor = atMinute.map { Int64($0) * 60_000 + createdAt / 86_400_000 * 86_400_000 } ?? createdAt
    guard now >= anchor else { return anchor }
    return anchor + ((now - anchor) / every + 1) * every
  }
}

/// What became of one due run of a schedule: a job submitted, or why none was.
public struct ScheduleRunRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "scheduleRun"
  public var seq: Int64?
  public var scheduleId: String
  public var dueAt: Int64
  public var ranAt: Int64
  /// "submitted" or "skipped".
  public var outcome: String
  public var reason: String?
  public var jobId: String?
  public var versionId: String?

  public enum Columns {
    public static let seq = Column(CodingKeys.seq)
    public static let scheduleId = Column(CodingKeys.scheduleId)
  }
}

extension FidelisStore {
  /// Creates a schedule on the tenant's transactions dataset `datasetName` (which must
  /// exist). Its first run is due at `firstRunAt`.
  public func createSchedule(
    tenantId: String, datasetName: String, kind: String, options: Data, everySeconds: Int64, atMinute: Int?, firstRunAt: Int64? = nil
  ) throws -> ScheduleRecord {
    guard everySeconds >= 1 else { throw StoreError.invalidArgument("a schedule's interval must be positive") }
    return try writer.write { db in
      _ = try Self.requireTransactions(Self.dataset(db, tenantId: tenantId, reference: datasetName, kind: "transactions"))
      let now = Self.now()
      var record = ScheduleRecord(
        id: Self.newID("sch"), tenantId: tenantId, datasetName: datasetName, kind: kind, options: options, everySeconds: everySeconds, atMinute: atMinute,
        state: .active, nextRunAt: 0, lastJobId: nil, lastVersionId: nil, createdAt: now)
      // Without a time of day the first run is now; with one, the next such time.
      record.nextRunAt = firstRunAt ?? (atMinute == nil ? now : record.slot(after: now - 1))
      try record.insert(db)
      return record
    }
  }

  /// The tenant's schedules, oldest first.
  public func schedules(tenantId: String) throws -> [ScheduleRecord] {
    try writer.read { db in try ScheduleRecord.filter(ScheduleRecord.Columns.tenantId == tenantId).order(ScheduleRecord.Columns.id).fetchAll(db) }
  }

  /// A schedule of the tenant; NOT_FOUND otherwise.
  public func schedule(tenantId: String, id: String) throws -> ScheduleRecord {
    try writer.read { db in try Self.schedule(db, tenantId: tenantId, id: id) }
  }

  static func schedule(_ db: Database, tenantId: String, id: String) throws -> ScheduleRecord {
    guard let record = try ScheduleRecord.fetchOne(db, key: id), record.tenantId == tenantId else { throw StoreError.notFound("no schedule \(id)") }
    return record
  }

  /// Pauses or resumes a schedule. A resumed schedule's next run is its first slot from now
  /// on: the runs missed while paused are not made up.
  public func setScheduleState(tenantId: String, id: String, _ state: ScheduleState) throws -> ScheduleRecord {
    try writer.write { db in
      var record = try Self.schedule(db, tenantId: tenantId, id: id)
      guard record.state != state else { return record }
      record.state = state
      if state == .active { record.nextRunAt = record.slot(after: Self.now() - 1) }
      try record.update(db)
      return record
    }
  }

  /// Deletes a schedule and its history; the jobs it submitted stay.
  public func deleteSchedule(tenantId: String, id: String) throws {
    try writer.write { db in
      _ = try Self.schedule(db, tenantId: tenantId, id: id)
      _ = try ScheduleRecord.deleteOne(db, key: id)
    }
  }

  /// What became of a schedule's due runs, newest first.
  public func scheduleRuns(tenantId: String, id: String, limit: Int = 100) throws -> [ScheduleRunRecord] {
    try writer.read { db in
      _ = try Self.schedule(db, tenantId: tenantId, id: id)
      return try ScheduleRunRecord.filter(ScheduleRunRecord.Columns.scheduleId == id).order(ScheduleRunRecord.Columns.seq.desc).limit(limit).fetchAll(db)
    }
  }

  /// Active schedules whose next run is due at `now`.
  public func dueSchedules(now: Int64) throws -> [ScheduleRecord] {
    try writer.read { db in
      try ScheduleRecord.filter(ScheduleRecord.Columns.state == ScheduleState.active.rawValue && ScheduleRecord.Columns.nextRunAt <= now)
        .order(ScheduleRecord.Columns.nextRunAt).fetchAll(db)
    }
  }

  /// Makes the due run of `schedule` in one transaction, guarded on the run still being due
  /// at `schedule.nextRunAt` (a run is made once, by one coordinator): submits its job with
  /// `options`, or records why not (the previous run still queued or running, the dataset
  /// unchanged since the last run, gone, or the tenant's queue full), and moves the next run
  /// to the first slot after `now`, so that runs missed while the coordinator was down make
  /// one run, not one per period. Nil when the run was no longer due.
  public func runSchedule(_ schedule: ScheduleRecord, options: Data, now: Int64) throws -> ScheduleRunRecord? {
    try writer.write { db in
      guard var current = try ScheduleRecord.fetchOne(db, key: schedule.id), current.state == .active, current.nextRunAt == schedule.nextRunAt,
        current.nextRunAt <= now
      else { return nil }
      var run = ScheduleRunRecord(seq: nil, scheduleId: current.id, dueAt: current.nextRunAt, ranAt: now, outcome: "skipped", reason: nil, jobId: nil, versionId: nil)
      let previous = try current.lastJobId.flatMap { try JobRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM job WHERE id = ?"), arguments: [$0]) }
      if let previous, !previous.state.isFinal {
        run.reason = "the previous run (job \(previous.id)) is still \(previous.state.rawValue)"
      } else {
        do {
          let version = try Self.dataset(db, tenantId: current.tenantId, reference: current.datasetName, kind: "transactions")
          run.versionId = version.id
          // A last job gone from the store was a success that retention removed (it
          // removes nothing else): the same version is still unchanged.
          if version.id == current.lastVersionId, previous == nil || previous?.state == .succeeded {
            run.reason = "the dataset has not changed since the last run (version \(version.version))"
          } else {
            // The run's key: a retried transaction cannot submit it twice.
            let key = "schedule:\(current.id):\(current.nextRunAt)"
            let (job, _) = try submitJob(db, tenantId: current.tenantId, dataset: version.id, kind: current.kind, options: options, idempotencyKey: key)
            run.outcome = "submitted"
            run.jobId = job.id
            current.lastJobId = job.id
            current.lastVersionId = version.id
          }
        } catch StoreError.notFound(let message) {
          run.reason = message
        } catch StoreError.resourceExhausted(let message) {
          run.reason = message
        }
      }
      try run.insert(db)
      current.nextRunAt = current.slot(after: now)
      try current.update(db)
      return run
    }
  }
}
