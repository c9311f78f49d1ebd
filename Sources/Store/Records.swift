import Foundation
import GRDB

/// A tenant: one business with its own data, jobs and reports.
public struct TenantRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "tenant"
  public var id: String
  public var name: String
  public var createdAt: Int64
  /// 0: the coordinator's default.
  public var maxQueuedJobs: Int
  public var maxRunningJobs: Int
  public var maxDatasetBytes: Int64
  /// Bytes of datasets and reports in all; 0: the coordinator's default.
  public var maxStorageBytes: Int64 = 0
  public var defaultLanguage: String
  /// ISO 4217 code of the amounts when a job names none.
  public var defaultCurrency = "EUR"
  /// When a job of this tenant was last leased; the fair scheduler serves the longest-waiting tenant first.
  public var lastLeasedAt: Int64
  /// Per dataset name: the versions and the reports kept (the newest); 0 keeps all.
  public var keepVersions = 0
  public var keepReports = 0

  public enum Columns {
    public static let id = Column(CodingKeys.id)
    public static let name = Column(CodingKeys.name)
    public static let createdAt = Column(CodingKeys.createdAt)
    public static let maxQueuedJobs = Column(CodingKeys.maxQueuedJobs)
    public static let maxRunningJobs = Column(CodingKeys.maxRunningJobs)
    public static let maxDatasetBytes = Column(CodingKeys.maxDatasetBytes)
    public static let maxStorageBytes = Column(CodingKeys.maxStorageBytes)
    public static let defaultLanguage = Column(CodingKeys.defaultLanguage)
    public static let defaultCurrency = Column(CodingKeys.defaultCurrency)
    public static let lastLeasedAt = Column(CodingKeys.lastLeasedAt)
    public static let keepVersions = Column(CodingKeys.keepVersions)
    public static let keepReports = Column(CodingKeys.keepReports)
  }
}

// Written out rather than derived from Codable: read on every lease.
extension TenantRecord {
  /// Reads a `tenant` row (its job counts, kept by triggers, are read where needed).
  public init(row: Row) throws {
    id = row[Columns.id]
    name = row[Columns.name]
    createdAt = row[Columns.createdAt]
    maxQueuedJobs = row[Columns.maxQueuedJobs]
    maxRunningJobs = row[Columns.maxRunningJobs]
    maxDatasetBytes = row[Columns.maxDatasetBytes]
    maxStorageBytes = row[Columns.maxStorageBytes]
    defaultLanguage = row[Columns.defaultLanguage]
    defaultCurrency = row[Columns.defaultCurrency]
    lastLeasedAt = row[Columns.lastLeasedAt]
    keepVersions = row[Columns.keepVersions] ?? 0
    keepReports = row[Columns.keepReports] ?? 0
  }
}

/// An API key, stored as the SHA-256 of the key; the key itself is never kept.
public struct APIKeyRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "apiKey"
  public var hash: String
  public var tenantId: String
  public var createdAt: Int64

  public enum Columns {
    public static let hash = Column(CodingKeys.hash)
    public static let tenantId = Column(CodingKeys.tenantId)
  }
}

/// States of a dataset version.
///
/// - `uploading` → `ready` (the upload or append completed) or deleted (it failed).
/// - `ready` → deleted, or `retired` when deleted while a later version still reads its
///   file: it is then invisible, and deleted with the last version that reads it.
public enum DatasetState: String, Codable, Sendable {
  case uploading, ready, retired
}

/// A dataset uploaded by a tenant; its bytes live in `datasetChunk` rows.
public struct DatasetRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "dataset"
  public var id: String
  public var tenantId: String
  public var name: String
  /// "transactions" or "customers".
  public var kind: String
  public var state: DatasetState
  public var sizeBytes: Int64
  public var sha256: String
  public var chunkCount: Int
  public var createdAt: Int64
  /// Version number within the tenant's datasets of this kind and name, from 1; 0 while
  /// uploading.
  public var version: Int = 0
  /// Bytes a job reads: the file itself, or for an append every file the version holds,
  /// without the lines it leaves out.
  public var contentBytes: Int64 = 0
  /// For an append: the version it was appended to, and what it did (`AppendPlan`).
  public var baseId: String?
  public var appendRule: String?
  public var linesAdded: Int = 0
  public var linesSkipped: Int = 0
  public var linesReplaced: Int = 0
  public var daysReplaced: Int = 0
  public var replacedFrom: Int?
  public var replacedThrough: Int?

  public enum Columns {
    public static let id = Column(CodingKeys.id)
    public static let tenantId = Column(CodingKeys.tenantId)
    public static let name = Column(CodingKeys.name)
    public static let kind = Column(CodingKeys.kind)
    public static let state = Column(CodingKeys.state)
    public static let createdAt = Column(CodingKeys.createdAt)
    public static let version = Column(CodingKeys.version)
  }
}

/// One file of a dataset version made by appends, in reading order: the version reads the
/// file's bytes without the ones in `skipped` (and without its header line after the first
/// file). A version without parts reads its own file whole.
public struct DatasetPartRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "datasetPart"
  public var versionId: String
  public var position: Int
  /// The dataset row whose chunks hold the file.
  public var fileId: String
  public var sizeBytes: Int64
  public var chunkCount: Int
  public var headerBytes: Int64
  public var endsWithBreak: Bool
  /// `ByteRanges.encoded`.
  public var skipped: Data

  public init(versionId: String, position: Int, fileId: String, sizeBytes: Int64, chunkCount: Int, headerBytes: Int64, endsWithBreak: Bool, skipped: Data) {
    (self.versionId, self.position, self.fileId, self.sizeBytes, self.chunkCount) = (versionId, position, fileId, sizeBytes, chunkCount)
    (self.headerBytes, self.endsWithBreak, self.skipped) = (headerBytes, endsWithBreak, skipped)
  }

  public enum Columns {
    public static let versionId = Column(CodingKeys.versionId)
    public static let position = Column(CodingKeys.position)
    public static let fileId = Column(CodingKeys.fileId)
  }
}

/// One chunk of a dataset's bytes.
public struct DatasetChunkRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "datasetChunk"
  public var datasetId: String
  public var seq: Int
  public var data: Data

  public enum Columns {
    public static let datasetId = Column(CodingKeys.datasetId)
    public static let seq = Column(CodingKeys.seq)
  }
}

/// The states of a job.
///
/// - `queued` → `running` (leased by a worker) or `cancelled` (cancel before a lease).
/// - `running` → `succeeded` (result accepted from the lease holder), `failed` (error, or
///   lease lost on the last attempt), `cancelled` (the worker stopped after a cancel, or
///   its lease expired after one), or back to `queued` (lease expired or retryable error
///   with attempts left).
/// - `succeeded`, `failed`, `cancelled` are final.
public enum JobState: String, Codable, Sendable, CaseIterable {
  case queued, running, succeeded, failed, cancelled

  /// True for the states a job never leaves.
  public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// A job: what to run on which dataset, and where it is in its lifecycle.
public struct JobRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
  public static let databaseTableName = "job"
  /// Submission order, used for first-in first-out within a tenant.
  public var seq: Int64?
  public var id: String
  public var tenantId: String
  public var datasetId: String
  public var kind: String
  /// The job options as the serialized protobuf `JobOptions`, kept opaque here.
  public var options: Data
  public var idempotencyKey: String?
  public var state: JobState
  public var attempt: Int
  public var maxAttempts: Int
  public var leaseId: String?
  public var leaseWorker: String?
  public var leaseExpiresAt: Int64?
  public var stage: String
  public var progress: Double
  public var cancelRequested: Bool
  public var error: String?
  public var createdAt: Int64
  public var startedAt: Int64?
  public var finishedAt: Int64?
  /// The name of the dataset the job reads: the analyses of one name form a series.
  public var datasetName: String?

  public enum Columns {
    public static let seq = Column(CodingKeys.seq)
    public static let datasetName = Column(CodingKeys.datasetName)
    public static let id = Column(CodingKeys.id)
    public static let tenantId = Column(CodingKeys.tenantId)
    public static let datasetId = Column(CodingKeys.datasetId)
    public static let kind = Column(CodingKeys.kind)
    public static let options = Column(CodingKeys.options)
    public static let idempotencyKey = Column(CodingKeys.idempotencyKey)
    public static let state = Column(CodingKeys.state)
    public static let attempt = Column(CodingKeys.attempt)
    public static let maxAttempts = Column(CodingKeys.maxAttempts)
    public static let leaseId = Column(CodingKeys.leaseId)
    public static let leaseWorker = Column(CodingKeys.leaseWorker)
    public static let leaseExpiresAt = Column(CodingKeys.leaseExpiresAt)
    public static let stage = Column(CodingKeys.stage)
    public static let progress = Column(CodingKeys.progress)
    public static let cancelRequested = Column(CodingKeys.cancelRequested)
    public static let error = Column(CodingKeys.error)
    public static let createdAt = Column(CodingKeys.createdAt)
    public static let startedAt = Column(CodingKeys.startedAt)
    public static let finishedAt = Column(CodingKeys.finishedAt)
  }

  public mutating func didInsert(_ inserted: InsertionSuccess) { seq = inserted.rowID }
}

// Written out rather than derived from Codable: every job goes through these several times,
// and the Codable path was a tenth of the coordinator's time.
extension JobRecord {
  /// Reads a `job` row.
  public init(row: Row) throws {
    seq = row[Columns.seq]
    id = row[Columns.id]
    tenantId = row[Columns.tenantId]
    datasetId = row[Columns.datasetId]
    kind = row[Columns.kind]
    options = row[Columns.options]
    idempotencyKey = row[Columns.idempotencyKey]
    state = row[Columns.state]
    attempt = row[Columns.attempt]
    maxAttempts = row[Columns.maxAttempts]
    leaseId = row[Columns.leaseId]
    leaseWorker = row[Columns.leaseWorker]
    leaseExpiresAt = row[Columns.leaseExpiresAt]
    stage = row[Columns.stage]
    progress = row[Columns.progress]
    cancelRequested = row[Columns.cancelRequested]
    error = row[Columns.error]
    createdAt = row[Columns.createdAt]
    startedAt = row[Columns.startedAt]
    finishedAt = row[Columns.finishedAt]
    datasetName = row[Columns.datasetName]
  }

  /// Writes every column of a `job` row.
  public func encode(to container: inout PersistenceContainer) {
    container[Columns.seq] = seq
    container[Columns.id] = id
    container[Columns.tenantId] = tenantId
    container[Columns.datasetId] = datasetId
    container[Columns.kind] = kind
    container[Columns.options] = options
    container[Columns.idempotencyKey] = idempotencyKey
    container[Columns.state] = state
    container[Columns.attempt] = attempt
    container[Columns.maxAttempts] = maxAttempts
    container[Columns.leaseId] = leaseId
    container[Columns.leaseWorker] = leaseWorker
    container[Columns.leaseExpiresAt] = leaseExpiresAt
    container[Columns.stage] = stage
    container[Columns.progress] = progress
    container[Columns.cancelRequested] = cancelRequested
    container[Columns.error] = error
    container[Columns.createdAt] = createdAt
    container[Columns.startedAt] = startedAt
    container[Columns.finishedAt] = finishedAt
    container[Columns.datasetName] = datasetName
  }
}

extension JobState: DatabaseValueConvertible {}

/// One attempt at a job: which worker, on which host, when, and how it ended.
public struct JobAttemptRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "jobAttempt"
  public var jobId: String
  public var number: Int
  public var leaseId: String
  public var worker: String
  public var host: String
  public var startedAt: Int64
  public var endedAt: Int64?
  /// running, succeeded, failed, lease expired, cancelled, retried.
  public var outcome: String
  public var error: String?
  /// Subject of the worker's client certificate (mutual TLS), nil without.
  public var workerCertificate: String?

  public enum Columns {
    public static let jobId = Column(CodingKeys.jobId)
    public static let number = Column(CodingKeys.number)
    public static let leaseId = Column(CodingKeys.leaseId)
  }
}

/// One report file of a succeeded job.
public struct ArtifactRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "artifact"
  public var jobId: String
  public var tenantId: String
  public var format: String
  public var contentType: String
  /// The whole file for files stored before v6; empty since, the file being in its pieces.
  public var data: Data
  public var createdAt: Int64
  /// Bytes of the file; nil for a file stored whole in `data`.
  public var size: Int64?
  /// Bytes of its deflated pieces.
  public var storedBytes: Int64?
  /// The lease whose worker is still sending the file (see `stageArtifactPieces`); nil once
  /// its job has succeeded, and only then is the file read.
  public var leaseId: String?

  public enum Columns {
    public static let jobId = Column(CodingKeys.jobId)
    public static let tenantId = Column(CodingKeys.tenantId)
    public static let format = Column(CodingKeys.format)
  }
}

/// One deflated piece of a report file (`ArtifactPieces`), numbered from 0.
public struct ArtifactPieceRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "artifactPiece"
  public var jobId: String
  public var format: String
  public var number: Int
  /// Bytes once inflated.
  public var size: Int
  public var data: Data

  public enum Columns {
    public static let jobId = Column(CodingKeys.jobId)
    public static let format = Column(CodingKeys.format)
    public static let number = Column(CodingKeys.number)
  }
}

/// The jobs of one dataset version, or of every version of a name (a series).
public enum DatasetFilter: Sendable, Equatable {
  case version(String)
  case name(String)

  /// Whether `job` read this dataset.
  public func matches(_ job: JobRecord) -> Bool {
    switch self {
    case .version(let id): job.datasetId == id
    case .name(let name): job.datasetName == name
    }
  }

  var condition: SQLExpression {
    switch self {
    case .version(let id): JobRecord.Columns.datasetId == id
    case .name(let name): JobRecord.Columns.datasetName == name
    }
  }
}

/// A succeeded job and its report files: their formats and total size.
public struct StoredReport: Sendable {
  public var job: JobRecord
  /// The files people can fetch; internal ones left out.
  public var formats: [String]
  /// Bytes of every file as fetched, internal ones included: what the report takes.
  public var size: Int64
}

/// What a tenant uses: its storage against its quota, its datasets, its jobs by state, and
/// the wall-clock seconds of its jobs' attempts on workers.
public struct TenantUsage: Sendable, Equatable {
  public var storageBytes: Int64
  public var storageQuotaBytes: Int64
  public var datasets: Int
  public var jobsByState: [String: Int64]
  public var workerSeconds: Double
  /// CPU seconds (user and system) the workers reported for the tenant's attempts.
  public var cpuSeconds: Double = 0
}
