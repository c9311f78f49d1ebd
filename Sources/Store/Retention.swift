import Foundation
import GRDB

/// What one retention pass removed.
public struct RetentionOutcome: Sendable, Equatable {
  public var versions = 0
  public var reports = 0
}

extension FidelisStore {
  /// Applies each tenant's retention (`TenantRecord.keepVersions`, `keepReports`), one
  /// tenant per transaction. Per dataset name, the versions past the newest `keepVersions`
  /// go (a file a kept version still reads stays, as for a delete), except one a queued or
  /// running job reads; the reports (succeeded jobs) past the newest `keepReports` go,
  /// except one a queued or running job will compare with. The newest of each is always
  /// kept: the next append and the next comparison need it.
  public func applyRetention() throws -> RetentionOutcome {
    var outcome = RetentionOutcome()
    let tenants = try writer.read { db in
      try TenantRecord.filter(TenantRecord.Columns.keepVersions > 0 || TenantRecord.Columns.keepReports > 0).fetchAll(db)
    }
    for tenant in tenants {
      try writer.write { db in
        let active = try JobRecord.filter(
          JobRecord.Columns.tenantId == tenant.id && [JobState.queued.rawValue, JobState.running.rawValue].contains(JobRecord.Columns.state)
        ).fetchAll(db)
        if tenant.keepVersions > 0 {
          let read = Set(active.map(\.datasetId))
          let names = try Row.fetchAll(
            db, sql: "SELECT kind, name FROM dataset WHERE tenantId = ? AND state = 'ready' GROUP BY kind, name HAVING COUNT(*) > ?",
            arguments: [tenant.id, tenant.keepVersions])
          for row in names {
            let versions = try DatasetRecord.filter(
              DatasetRecord.Columns.tenantId == tenant.id && DatasetRecord.Columns.kind == (row["kind"] as String)
                && DatasetRecord.Columns.name == (row["name"] as String) && DatasetRecord.Columns.state == DatasetState.ready.rawValue
            ).order(DatasetRecord.Columns.version.desc).fetchAll(db)
            for version in versions.dropFirst(max(1, tenant.keepVersions)) where !read.contains(version.id) {
              try Self.delete(db, version)
              outcome.versions += 1
            }
          }
        }
        if tenant.keepReports > 0 {
          // What a queued or running analysis will compare with: its options name it.
          let needed = Set(active.compactMap { Self.compareTo(in: $0.options) })
          let series = try String.fetchAll(
            db,
            sql: "SELECT datasetName FROM job WHERE tenantId = ? AND state = 'succeeded' AND datasetName IS NOT NULL GROUP BY datasetName HAVING COUNT(*) > ?",
            arguments: [tenant.id, tenant.keepReports])
          for name in series {
            let jobs = try JobRecord.filter(
              JobRecord.Columns.tenantId == tenant.id && JobRecord.Columns.datasetName == name && JobRecord.Columns.state == JobState.succeeded.rawValue
            ).order(JobRecord.Columns.finishedAt.desc, JobRecord.Columns.seq.desc).fetchAll(db)
            for job in jobs.dropFirst(max(1, tenant.keepReports)) where !needed.contains(job.id) {
              try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [job.id])
              outcome.reports += 1
            }
          }
        }
      }
    }
    return outcome
  }

  /// The `compare_to` field (15) of serialized `JobOptions`, read without the protobuf
  /// library (the store keeps options opaque): a length-delimited field, tag 15 << 3 | 2.
  static func compareTo(in options: Data) -> String? {
    var i = options.startIndex
    func varint() -> UInt64? {
      var value: UInt64 = 0
      var shift: UInt64 = 0
      while i < options.endIndex, shift < 64 {
        let byte = options[i]
        i += 1
        value |= UInt64(byte & 0x7f) << shift
        if byte & 0x80 == 0 { return value }
        shift += 7
      }
      return nil
    }
    while i < options.endIndex {
      guard let key = varint() else { return nil }
      switch key & 7 {
      case 0: guard varint() != nil else { return nil }
      case 1: i += 8
      case 5: i += 4
      case 2:
        guard let length = varint(), length <= UInt64(options.endIndex - i) else { return nil }
        let end = i + Int(length)
        if key >> 3 == 15 { return String(decoding: options[i..<end], as: UTF8.self) }
        i = end
      default: return nil
      }
    }
    return nil
  }
}

extension FidelisStore {
  /// Each tenant's queued and running jobs (the counts the job triggers keep).
  public func jobCountsByTenant() throws -> [String: (queued: Int, running: Int)] {
    try writer.read { db in
      var counts: [String: (queued: Int, running: Int)] = [:]
      for row in try Row.fetchAll(db, sql: "SELECT id, queuedJobs, runningJobs FROM tenant") { counts[row["id"]] = (row["queuedJobs"], row["runningJobs"]) }
      return counts
    }
  }

  /// Sizes of the store's SQLite file and write-ahead log; nil for a store in memory.
  public func fileSizes() -> (database: Int64, wal: Int64)? {
    guard let path = dataDirectory?.databasePath else { return nil }
    func size(_ path: String) -> Int64 { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0 }
    return (size(path), size(path + "-wal"))
  }

  /// A job of any tenant; nil when there is none.
  public func job(id: String) throws -> JobRecord? {
    try writer.read { db in try Self.jobRecord(db, id: id) }
  }
}
