import ArtifactPieces
import Foundation
import GRDB

/// A job handed to a worker, with what it needs to run it.
public struct Lease: Sendable, Equatable {
  public var job: JobRecord
  public var leaseId: String
  public var tenant: TenantRecord
  /// When the job's dataset was uploaded (ms since 1970).
  public var datasetCreatedAt: Int64 = 0
  /// Size of the job's dataset in bytes.
  public var datasetBytes: Int64 = 0
}

/// Who asks for a job, and for which kinds (all when empty).
public struct LeaseRequest: Sendable, Equatable {
  public var worker: String
  public var host: String
  /// Subject of the worker's client certificate; empty without mutual TLS.
  public var certificate: String
  public var kinds: [String]
  public var leaseMillis: Int64

  public init(worker: String, host: String, certificate: String = "", kinds: [String], leaseMillis: Int64) {
    self.worker = worker
    self.host = host
    self.certificate = certificate
    self.kinds = kinds
    self.leaseMillis = leaseMillis
  }
}

/// What a heartbeat learns.
public struct HeartbeatOutcome: Sendable, Equatable {
  public var cancelRequested: Bool
}

/// A report file to store with a job's success (stored as an `ArtifactRecord` and its
/// `ArtifactPieceRecord`s).
public typealias ArtifactContent = (format: String, contentType: String, data: Data)

/// A stored report file, as `artifactPiece` reads it back.
public struct StoredArtifact: Sendable {
  public var tenantId: String
  public var jobId: String
  public var format: String
  public var contentType: String
  /// Bytes of the file.
  public var size: Int64
  /// Pieces to read, numbered from 0.
  public var pieces: Int
}

extension FidelisStore {
  // MARK: Tenant side

  /// Queues a job on `dataset`: a version id, or a transactions dataset's name for its
  /// latest version (resolved in the same transaction). With an idempotency key already
  /// used by the tenant, returns that job instead (and `created` false). Refused when the
  /// tenant's queue is full. Committed together with the other callers' job writes
  /// (`GroupCommit`).
  public func submitJob(tenantId: String, dataset: String, kind: String, options: Data, idempotencyKey: String?) async throws -> (job: JobRecord, created: Bool) {
    try await groupCommit.write { db in
      try submitJob(db, tenantId: tenantId, dataset: dataset, kind: kind, options: options, idempotencyKey: idempotencyKey)
    }
  }

  func submitJob(_ db: Database, tenantId: String, dataset reference: String, kind: String, options: Data, idempotencyKey: String?) throws -> (job: JobRecord, created: Bool) {
    if let key = idempotencyKey, !key.isEmpty,
      let existing = try JobRecord.fetchOne(
        db.cachedStatement(sql: "SELECT * FROM job WHERE tenantId = ? AND idempotencyKey = ?"), arguments: [tenantId, key])
    {
      // A retry by name may come after a new version: the job already made stands.
      guard existing.datasetId == reference || existing.datasetName == reference, existing.kind == kind else {
        throw StoreError.failedPrecondition("idempotency key '\(key)' was already used for another job (\(existing.id))")
      }
      return (existing, false)
    }
    guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM tenant WHERE id = ?"), arguments: [tenantId]) else {
      throw StoreError.notFound("no tenant \(tenantId)")
    }
    let tenant = try TenantRecord(row: row)
    let dataset = try Self.requireTransactions(Self.dataset(db, tenantId: tenantId, reference: reference, kind: "transactions"))
    let limit = limits(tenant).queued
    // The tenant's count, kept by the job triggers: a submit costs the same however long the queue is.
    let queued: Int = row["queuedJobs"]
    if queued >= limit { throw StoreError.resourceExhausted("the tenant already has \(queued) queued jobs (limit \(limit)); wait for some to finish") }
    var job = JobRecord(
      seq: nil, id: Self.newID("job"), tenantId: tenantId, datasetId: dataset.id, kind: kind, options: options,
      idempotencyKey: (idempotencyKey?.isEmpty ?? true) ? nil : idempotencyKey, state: .queued, attempt: 0, maxAttempts: defaults.maxAttempts,
      leaseId: nil, leaseWorker: nil, leaseExpiresAt: nil, stage: "queued", progress: 0, cancelRequested: false, error: nil,
      createdAt: Self.now(), startedAt: nil, finishedAt: nil, datasetName: dataset.name)
    // The hot writes below are spelled out in SQL prepared once: building each statement
    // from the record took a tenth of the coordinator's time at a thousand jobs a second.
    try db.cachedStatement(
      sql: """
        INSERT INTO job (id, tenantId, datasetId, kind, options, idempotencyKey, state, attempt, maxAttempts, stage, progress, cancelRequested, createdAt, datasetName)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    ).execute(arguments: [
      job.id, job.tenantId, job.datasetId, job.kind, job.options, job.idempotencyKey, job.state, job.attempt, job.maxAttempts, job.stage, job.progress,
      job.cancelRequested, job.createdAt, job.datasetName,
    ])
    job.seq = db.lastInsertedRowID
    return (job, true)
  }

  /// A job of the tenant; NOT_FOUND for any other id, including another tenant's.
  public func job(tenantId: String, id: String) throws -> JobRecord {
    try writer.read { db in try Self.job(db, tenantId: tenantId, id: id) }
  }

  static func job(_ db: Database, tenantId: String, id: String) throws -> JobRecord {
    guard let job = try jobRecord(db, id: id), job.tenantId == tenantId else {
      throw StoreError.notFound("no job \(id)")
    }
    return job
  }

  static func jobRecord(_ db: Database, id: String) throws -> JobRecord? {
    try JobRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM job WHERE id = ?"), arguments: [id])
  }

  public func jobs(tenantId: String, state: JobState?, limit: Int) throws -> [JobRecord] {
    try writer.read { db in
      var request = JobRecord.filter(JobRecord.Columns.tenantId == tenantId)
      if let state { request = request.filter(JobRecord.Columns.state == state.rawValue) }
      return try request.order(JobRecord.Columns.seq.desc).limit(limit).fetchAll(db)
    }
  }

  /// The jobs of every tenant, or of `tenantId`, newest first, in `state` when given.
  public func allJobs(tenantId: String?, state: JobState?, limit: Int) throws -> [JobRecord] {
    try writer.read { db in
      var request = JobRecord.all()
      if let tenantId { request = request.filter(JobRecord.Columns.tenantId == tenantId) }
      if let state { request = request.filter(JobRecord.Columns.state == state.rawValue) }
      return try request.order(JobRecord.Columns.seq.desc).limit(limit).fetchAll(db)
    }
  }

  /// Any tenant's job, for the operator; NOT_FOUND when there is none.
  public func anyJob(id: String) throws -> JobRecord {
    try writer.read { db in
      guard let job = try Self.jobRecord(db, id: id) else { throw StoreError.notFound("no job \(id)") }
      return job
    }
  }

  /// An operator's retry: a failed or cancelled job is queued again, with as many
  /// attempts as it first had on top of those it used; its attempts so far stay in its
  /// history (the next one continues their numbering). Refused for a job in another state,
  /// or whose dataset is gone.
  public func retryJob(id: String) throws -> JobRecord {
    try writer.write { db in
      guard var job = try Self.jobRecord(db, id: id) else { throw StoreError.notFound("no job \(id)") }
      guard job.state == .failed || job.state == .cancelled else {
        throw StoreError.failedPrecondition("job \(id) is \(job.state.rawValue); only a failed or cancelled job is retried")
      }
      guard try DatasetRecord.filter(DatasetRecord.Columns.id == job.datasetId && DatasetRecord.Columns.state == DatasetState.ready.rawValue).fetchCount(db) > 0 else {
        throw StoreError.failedPrecondition("job \(id) read dataset \(job.datasetId), which was deleted")
      }
      job.maxAttempts = job.attempt + job.maxAttempts
      job.state = .queued
      job.stage = "queued"
      job.progress = 0
      job.error = nil
      job.cancelRequested = false
      job.leaseId = nil
      job.leaseWorker = nil
      job.leaseExpiresAt = nil
      job.startedAt = nil
      job.finishedAt = nil
      try job.update(db)
      return job
    }
  }

  /// The running attempts: their worker (with its slot), host, certificate subject, and
  /// when their lease expires (a heartbeat pushes it back).
  public func runningAttempts() throws -> [(worker: String, host: String, certificate: String, leaseExpiresAt: Int64)] {
    try writer.read { db in
      try Row.fetchAll(
        db,
        sql: """
          SELECT a.worker, a.host, COALESCE(a.workerCertificate, '') AS certificate, COALESCE(j.leaseExpiresAt, 0) AS expires
          FROM job j JOIN jobAttempt a ON a.jobId = j.id AND a.leaseId = j.leaseId WHERE j.state = 'running'
          """
      ).map { ($0["worker"], $0["host"], $0["certificate"], $0["expires"]) }
    }
  }

  public func attempts(jobId: String) throws -> [JobAttemptRecord] {
    try writer.read { db in try JobAttemptRecord.filter(JobAttemptRecord.Columns.jobId == jobId).order(JobAttemptRecord.Columns.number).fetchAll(db) }
  }

  /// Cancels a queued job at once; asks the worker of a running job to stop. Final jobs
  /// are left as they are (FAILED_PRECONDITION).
  public func cancelJob(tenantId: String, id: String) throws -> JobRecord {
    try writer.write { db in
      var job = try Self.job(db, tenantId: tenantId, id: id)
      switch job.state {
      case .queued:
        job.state = .cancelled
        job.stage = "cancelled"
        job.finishedAt = Self.now()
        job.cancelRequested = true
      case .running:
        job.cancelRequested = true
      case .succeeded, .failed, .cancelled:
        throw StoreError.failedPrecondition("job \(id) is already \(job.state.rawValue)")
      }
      try job.update(db)
      return job
    }
  }

  /// Whether `format` names one of a report's internal files (a leading underscore): kept
  /// and deleted with the report, counted in its size, read by later jobs of its series,
  /// but neither listed nor served to people.
  public static func isInternalFormat(_ format: String) -> Bool { format.hasPrefix("_") }

  /// Stored formats of a job's report, internal files left out.
  public func artifactFormats(jobId: String) throws -> [String] {
    try writer.read { db in try Self.artifactFormats(db, jobId: jobId) }
  }

  static func artifactFormats(_ db: Database, jobId: String) throws -> [String] {
    try String.fetchAll(db, sql: "SELECT format FROM artifact WHERE jobId = ? AND leaseId IS NULL ORDER BY format", arguments: [jobId]).filter { !isInternalFormat($0) }
  }

  /// One report file of a tenant's job: its type, size and how many pieces to read with
  /// `artifactPiece`. An internal file (`isInternalFormat`) is found only with
  /// `includingInternal`, as the workers read it; to anyone else it does not exist.
  public func artifact(tenantId: String, jobId: String, format: String, includingInternal: Bool = false) throws -> StoredArtifact {
    try writer.read { db in
      let job = try Self.job(db, tenantId: tenantId, id: jobId)
      guard job.state == .succeeded else { throw StoreError.failedPrecondition("job \(jobId) is \(job.state.rawValue); its report exists once it has succeeded") }
      guard includingInternal || !Self.isInternalFormat(format),
        let row = try Row.fetchOne(
          db, sql: "SELECT contentType, COALESCE(size, length(data)) AS size, size IS NULL AS whole FROM artifact WHERE jobId = ? AND format = ? AND leaseId IS NULL",
          arguments: [jobId, format])
      else {
        let formats = try Self.artifactFormats(db, jobId: jobId)
        throw StoreError.notFound("job \(jobId) has no '\(format)' report (it has: \(formats.joined(separator: ", ")))")
      }
      let whole: Bool = row["whole"]
      let pieces = whole ? 1 : try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM artifactPiece WHERE jobId = ? AND format = ?", arguments: [jobId, format]) ?? 0
      return StoredArtifact(tenantId: tenantId, jobId: jobId, format: format, contentType: row["contentType"], size: row["size"], pieces: pieces)
    }
  }

  /// Piece `number` of a report file, inflated: one short read, so that a download holds
  /// one piece at a time. NOT_FOUND when the job was deleted meanwhile; DATA_LOSS when the
  /// piece no longer inflates to its size.
  public func artifactPiece(_ artifact: StoredArtifact, number: Int) throws -> Data {
    try writer.read { db in
      guard
        let row = try Row.fetchOne(
          db, sql: "SELECT size IS NULL AS whole, data FROM artifact WHERE jobId = ? AND format = ? AND tenantId = ? AND leaseId IS NULL",
          arguments: [artifact.jobId, artifact.format, artifact.tenantId])
      else { throw StoreError.notFound("job \(artifact.jobId) was deleted while its report was read") }
      if row["whole"] { return row["data"] }
      guard let piece = try ArtifactPieceRecord.fetchOne(db, key: ["jobId": artifact.jobId, "format": artifact.format, "number": number]) else {
        throw StoreError.notFound("job \(artifact.jobId) was deleted while its report was read")
      }
      guard let data = ArtifactPieces.inflate(piece.data, size: piece.size) else {
        throw StoreError.dataLoss("piece \(number) of the '\(artifact.format)' report of job \(artifact.jobId) is damaged")
      }
      return data
    }
  }

  /// The tenant's succeeded jobs with their report formats and total size, newest first:
  /// at most `limit`, older than the job numbered `before` when given, only those on
  /// `dataset` and of `kind` when given.
  public func reports(
    tenantId: String, limit: Int = 100, before: Int64? = nil, dataset: DatasetFilter? = nil, kind: String? = nil
  ) throws -> [StoredReport] {
    try writer.read { db in
      var request = JobRecord.filter(JobRecord.Columns.tenantId == tenantId && JobRecord.Columns.state == JobState.succeeded.rawValue)
      if let before { request = request.filter(JobRecord.Columns.seq < before) }
      if let dataset { request = request.filter(dataset.condition) }
      if let kind { request = request.filter(JobRecord.Columns.kind == kind) }
      let jobs = try request.order(JobRecord.Columns.seq.desc).limit(limit).fetchAll(db)
      return try jobs.map { try Self.report(db, $0) }
    }
  }

  /// The reports of the jobs `ids` of the tenant that have succeeded, in the order they
  /// finished.
  public func reports(tenantId: String, jobIds: [String]) throws -> [StoredReport] {
    guard !jobIds.isEmpty else { return [] }
    return try writer.read { db in
      let jobs = try JobRecord.filter(JobRecord.Columns.tenantId == tenantId && JobRecord.Columns.state == JobState.succeeded.rawValue)
        .filter(jobIds.contains(JobRecord.Columns.id))
        .order(JobRecord.Columns.finishedAt, JobRecord.Columns.seq).fetchAll(db)
      return try jobs.map { try Self.report(db, $0) }
    }
  }

  /// The ids of the tenant's succeeded jobs on `dataset` (of `kind` when given), and the
  /// submission number of each: what a watch of the dataset's reports compares from one
  /// look to the next.
  public func succeededJobs(tenantId: String, dataset: DatasetFilter, kind: String?) throws -> [(id: String, seq: Int64)] {
    try writer.read { db in
      var request = JobRecord.filter(JobRecord.Columns.tenantId == tenantId && JobRecord.Columns.state == JobState.succeeded.rawValue).filter(dataset.condition)
      if let kind { request = request.filter(JobRecord.Columns.kind == kind) }
      return try Row.fetchAll(db, request.select(JobRecord.Columns.id, JobRecord.Columns.seq)).map { ($0[0], $0[1]) }
    }
  }

  /// The tenant's most recent succeeded analysis of the series `datasetName`; nil when it
  /// has none.
  public func latestSucceededAnalysis(tenantId: String, datasetName: String) throws -> JobRecord? {
    try writer.read { db in
      try JobRecord.filter(
        JobRecord.Columns.tenantId == tenantId && JobRecord.Columns.datasetName == datasetName && JobRecord.Columns.kind == "analysis"
          && JobRecord.Columns.state == JobState.succeeded.rawValue
      ).order(JobRecord.Columns.finishedAt.desc, JobRecord.Columns.seq.desc).fetchOne(db)
    }
  }

  /// What `reference` names among the tenant's datasets, or the datasets its jobs read
  /// (reports outlive datasets): a version id, else a transactions dataset's name; nil
  /// when neither.
  public func datasetFilter(tenantId: String, reference: String) throws -> DatasetFilter? {
    try writer.read { db in
      if try DatasetRecord.filter(DatasetRecord.Columns.tenantId == tenantId && DatasetRecord.Columns.id == reference).fetchCount(db) > 0
        || JobRecord.filter(JobRecord.Columns.tenantId == tenantId && JobRecord.Columns.datasetId == reference).fetchCount(db) > 0
      {
        return .version(reference)
      }
      if try DatasetRecord.filter(
        DatasetRecord.Columns.tenantId == tenantId && DatasetRecord.Columns.kind == "transactions" && DatasetRecord.Columns.name == reference
      ).fetchCount(db) > 0
        || JobRecord.filter(JobRecord.Columns.tenantId == tenantId && JobRecord.Columns.datasetName == reference).fetchCount(db) > 0
      {
        return .name(reference)
      }
      return nil
    }
  }

  static func report(_ db: Database, _ job: JobRecord) throws -> StoredReport {
    let rows = try Row.fetchAll(db, sql: "SELECT format, COALESCE(size, length(data)) AS size FROM artifact WHERE jobId = ? AND leaseId IS NULL ORDER BY format", arguments: [job.id])
    return StoredReport(
      job: job, formats: rows.map { $0["format"] as String }.filter { !isInternalFormat($0) }, size: rows.reduce(Int64(0)) { $0 + ($1["size"] as Int64) })
  }

  // MARK: Worker side

  /// Leases the next job fairly: among tenants with queued work of the given kinds and
  /// running jobs under their limit, the one with the fewest running jobs, then the one
  /// served longest ago; within it, the oldest job.
  /// Committed together with the other callers' job writes.
  public func leaseNextJob(_ request: LeaseRequest) async throws -> Lease? {
    try await groupCommit.write { db in try lease(db, request) }
  }

  /// Leases the next job (see `leaseNextJob(_:)`).
  public func leaseNextJob(worker: String, host: String, certificate: String = "", kinds: [String], leaseMillis: Int64) async throws -> Lease? {
    try await leaseNextJob(LeaseRequest(worker: worker, host: host, certificate: certificate, kinds: kinds, leaseMillis: leaseMillis))
  }

  func lease(_ db: Database, _ request: LeaseRequest) throws -> Lease? {
    let now = Self.now()
    let kindFilter = request.kinds.isEmpty ? "" : " AND kind IN (\(request.kinds.map { _ in "?" }.joined(separator: ",")))"
    let kindArguments = StatementArguments(request.kinds)
    // Statements are prepared once per kind list: this runs for every job. Tenants come
    // in serving order from an index, with their counts: the first one under its running
    // limit with a queued job of these kinds is served, whatever the number of tenants.
    let tenants = try Row.fetchCursor(
      db.cachedStatement(sql: "SELECT * FROM tenant WHERE queuedJobs > 0 ORDER BY runningJobs, lastLeasedAt, id"))
    while let row = try tenants.next() {
      let tenant = try TenantRecord(row: row)
      let running: Int = row["runningJobs"]
      guard running < limits(tenant).running else { continue }
      // A job whose last worker went silent goes to another worker first; the same worker
      // may take it back after a lease's time, when no other did.
      let oldest = try db.cachedStatement(
        sql: """
          SELECT * FROM job WHERE tenantId = ? AND state = 'queued'\(kindFilter)
          AND (lostWorker IS NULL OR lostWorker <> ? OR lostAt < ?) ORDER BY seq LIMIT 1
          """)
      let process = Self.workerProcess(request.worker)
      guard var job = try JobRecord.fetchOne(oldest, arguments: [tenant.id] + kindArguments + [process, now - request.leaseMillis]) else { continue }
      let leaseId = Self.newID("lease")
      job.state = .running
      job.attempt += 1
      job.leaseId = leaseId
      job.leaseWorker = request.worker
      job.leaseExpiresAt = now + request.leaseMillis
      job.stage = "starting"
      job.progress = 0
      if job.startedAt == nil { job.startedAt = now }
      try db.cachedStatement(
        sql: """
          UPDATE job SET state = ?, attempt = ?, leaseId = ?, leaseWorker = ?, leaseExpiresAt = ?, stage = ?, progress = ?, startedAt = ?
          WHERE seq = ? AND state = 'queued'
          """
      ).execute(arguments: [job.state, job.attempt, job.leaseId, job.leaseWorker, job.leaseExpiresAt, job.stage, job.progress, job.startedAt, job.seq])
      try db.cachedStatement(
        sql: """
          INSERT INTO jobAttempt (jobId, number, leaseId, worker, host, startedAt, outcome, workerCertificate)
          VALUES (?, ?, ?, ?, ?, ?, 'running', ?)
          """
      ).execute(arguments: [job.id, job.attempt, leaseId, request.worker, request.host, now, request.certificate.isEmpty ? nil : request.certificate])
      try db.cachedStatement(sql: "UPDATE tenant SET lastLeasedAt = ? WHERE id = ?").execute(arguments: [now, tenant.id])
      var served = tenant
      served.lastLeasedAt = now
      let dataset = try Row.fetchOne(db.cachedStatement(sql: "SELECT createdAt, contentBytes FROM dataset WHERE id = ?"), arguments: [job.datasetId])
      return Lease(job: job, leaseId: leaseId, tenant: served, datasetCreatedAt: dataset?["createdAt"] ?? 0, datasetBytes: dataset?["contentBytes"] ?? 0)
    }
    return nil
  }

  /// The job if `leaseId` is its current lease; LEASE_LOST otherwise.
  static func leasedJob(_ db: Database, jobId: String, leaseId: String) throws -> JobRecord {
    guard let job = try jobRecord(db, id: jobId) else { throw StoreError.notFound("no job \(jobId)") }
    guard job.state == .running, job.leaseId == leaseId else {
      throw StoreError.leaseLost("lease \(leaseId) of job \(jobId) is no longer held (job is \(job.state.rawValue), attempt \(job.attempt))")
    }
    return job
  }

  /// The lease's job, for a worker reading its input.
  public func leasedJob(jobId: String, leaseId: String) throws -> JobRecord {
    try writer.read { db in try Self.leasedJob(db, jobId: jobId, leaseId: leaseId) }
  }

  /// Extends a lease and records progress; tells whether a cancel was asked.
  public func heartbeat(jobId: String, leaseId: String, stage: String, progress: Double, leaseMillis: Int64) throws -> HeartbeatOutcome {
    try writer.write { db in
      var job = try Self.leasedJob(db, jobId: jobId, leaseId: leaseId)
      job.leaseExpiresAt = Self.now() + leaseMillis
      if !stage.isEmpty { job.stage = String(stage.prefix(100)) }
      job.progress = min(100, max(job.progress, progress))
      try job.update(db)
      return HeartbeatOutcome(cancelRequested: job.cancelRequested)
    }
  }

  /// Stores the report and marks the job succeeded, only if the lease is still held:
  /// a result is written exactly once. With `next`, leases the worker's next job in the
  /// same transaction; that lease is nil when none is queued or it cannot be made, and its
  /// failure never undoes the success.
  /// Committed together with the other callers' job writes. The files are deflated here,
  /// before the write, so that the shared transaction never waits on compression.
  @discardableResult
  public func completeJob(jobId: String, leaseId: String, artifacts: [ArtifactContent], next: LeaseRequest? = nil) async throws -> Lease? {
    try await completeJob(jobId: jobId, leaseId: leaseId, deflated: artifacts.map(DeflatedArtifact.init), next: next)
  }

  /// Stores a success with its files already deflated (as the coordinator receives them).
  /// `cpuMillis`: the CPU time the worker reports for the attempt, when it does.
  public func completeJob(
    jobId: String, leaseId: String, deflated: [DeflatedArtifact], next: LeaseRequest? = nil, cpuMillis: Int64? = nil
  ) async throws -> Lease? {
    var files = deflated
    for i in files.indices { files[i].finish() }
    return try await groupCommit.write { [files] db in try completeJob(db, jobId: jobId, leaseId: leaseId, artifacts: files, next: next, cpuMillis: cpuMillis) }
  }

  func completeJob(_ db: Database, jobId: String, leaseId: String, artifacts: [DeflatedArtifact], next: LeaseRequest?, cpuMillis: Int64? = nil) throws -> Lease? {
    var job = try Self.leasedJob(db, jobId: jobId, leaseId: leaseId)
    let now = Self.now()
    let insertArtifact = try db.cachedStatement(
      sql: "INSERT INTO artifact (jobId, tenantId, format, contentType, data, createdAt, size, storedBytes) VALUES (?, ?, ?, ?, x'', ?, ?, ?)")
    let adoptStaged = try db.cachedStatement(
      sql: "UPDATE artifact SET leaseId = NULL, createdAt = ?, size = ?, storedBytes = ? WHERE jobId = ? AND format = ? AND leaseId = ?")
    // Files whose first pieces were stored as they came (`stageArtifactPieces`) become the
    // job's; whatever else is staged (a hand-in of this lease that broke off) goes. One
    // statement when nothing was staged, as for most jobs.
    for file in artifacts where file.stagedPieces > 0 {
      try adoptStaged.execute(arguments: [now, file.size, file.storedBytes, jobId, file.format, leaseId])
      guard db.changesCount == 1 else { throw StoreError.leaseLost("the stored start of the '\(file.format)' file of job \(jobId) is gone") }
    }
    try Self.discardStagedArtifacts(db, jobId: jobId)
    for file in artifacts {
      if file.stagedPieces == 0 {
        try insertArtifact.execute(arguments: [jobId, job.tenantId, file.format, file.contentType, now, file.size, file.storedBytes])
      }
      try Self.insertPieces(db, jobId: jobId, format: file.format, firstNumber: file.stagedPieces, file.pieces)
    }
    job.state = .succeeded
    job.stage = "done"
    job.progress = 100
    job.finishedAt = now
    job.leaseId = nil
    job.leaseExpiresAt = nil
    // An earlier attempt's error stays in that attempt's record, not on a job that succeeded.
    job.error = nil
    try db.cachedStatement(
      sql: "UPDATE job SET state = ?, stage = ?, progress = ?, finishedAt = ?, leaseId = NULL, leaseExpiresAt = NULL, error = NULL WHERE seq = ? AND state = 'running'"
    ).execute(arguments: [job.state, job.stage, job.progress, job.finishedAt, job.seq])
    try Self.endAttempt(db, job: jobId, leaseId: leaseId, outcome: "succeeded", error: nil, at: now, cpuMillis: cpuMillis)
    guard let next else { return nil }
    var lease: Lease?
    try? db.inSavepoint {
      lease = try self.lease(db, next)
      return .commit
    }
    return lease
  }

  /// Stores the next pieces of a report file while its job runs, so that the coordinator
  /// receiving a large file holds a few of its pieces, not all of them, until the success.
  /// The pieces wait under the lease that sends them: no reader sees them, `completeJob`
  /// under the same lease makes them the job's, and a lease that ends any other way (a
  /// failure, an expiry) removes them. `firstNumber` is the number of the first of
  /// `pieces`; 0 begins the file, again if the same lease had begun it before. Refused with
  /// LEASE_LOST once the lease is not the job's.
  public func stageArtifactPieces(
    jobId: String, leaseId: String, format: String, contentType: String, firstNumber: Int, pieces: [(size: Int, deflated: Data)]
  ) async throws {
    try await groupCommit.write { db in
      let job = try Self.leasedJob(db, jobId: jobId, leaseId: leaseId)
      if firstNumber == 0 {
        try db.execute(sql: "DELETE FROM artifact WHERE jobId = ? AND format = ? AND leaseId = ?", arguments: [jobId, format, leaseId])
        try db.execute(
          sql: "INSERT INTO artifact (jobId, tenantId, format, contentType, data, createdAt, size, storedBytes, leaseId) VALUES (?, ?, ?, ?, x'', ?, 0, 0, ?)",
          arguments: [jobId, job.tenantId, format, contentType, Self.now(), leaseId])
      }
      try Self.insertPieces(db, jobId: jobId, format: format, firstNumber: firstNumber, pieces)
    }
  }

  /// Stores deflated pieces of a job's file, numbered from `firstNumber`.
  static func insertPieces(_ db: Database, jobId: String, format: String, firstNumber: Int, _ pieces: [(size: Int, deflated: Data)]) throws {
    let insert = try db.cachedStatement(sql: "INSERT INTO artifactPiece (jobId, format, number, size, data) VALUES (?, ?, ?, ?, ?)")
    for (offset, piece) in pieces.enumerated() {
      try insert.execute(arguments: [jobId, format, firstNumber + offset, piece.size, piece.deflated])
    }
  }

  /// Removes the files staged under a lease of `jobId` that did not end in its success.
  static func discardStagedArtifacts(_ db: Database, jobId: String) throws {
    try db.cachedStatement(sql: "DELETE FROM artifact WHERE jobId = ? AND leaseId IS NOT NULL").execute(arguments: [jobId])
  }

  /// Records a failure under a held lease: back to the queue when retryable with
  /// attempts left, cancelled when the worker stopped on a cancel, failed otherwise.
  public func failJob(jobId: String, leaseId: String, error: String, retryable: Bool, cancelled: Bool, cpuMillis: Int64? = nil) throws -> JobRecord {
    try writer.write { db in
      var job = try Self.leasedJob(db, jobId: jobId, leaseId: leaseId)
      let now = Self.now()
      let outcome: String
      if cancelled || job.cancelRequested {
        job.state = .cancelled
        job.stage = "cancelled"
        job.finishedAt = now
        outcome = "cancelled"
      } else if retryable && job.attempt < job.maxAttempts {
        job.state = .queued
        job.stage = "queued"
        outcome = "failed, retried"
      } else {
        job.state = .failed
        job.stage = "failed"
        job.finishedAt = now
        outcome = "failed"
      }
      job.error = String(error.prefix(2000))
      job.leaseId = nil
      job.leaseExpiresAt = nil
      job.leaseWorker = nil
      try job.update(db)
      try Self.discardStagedArtifacts(db, jobId: jobId)
      try Self.endAttempt(db, job: jobId, leaseId: leaseId, outcome: outcome, error: error, at: now, cpuMillis: cpuMillis)
      return job
    }
  }

  /// Takes back every lease past its expiry: the job is queued again while attempts
  /// remain, failed with the reason after the last, cancelled if a cancel was asked.
  ///
  /// A worker that lets its lease run out has died (a crash, a kill for lack of memory) or
  /// lost the network while it ran the job. After `maxLostLeases` such attempts the job is
  /// failed, saying so, rather than allowed to take down one worker after another; the next
  /// lease goes to another worker first. Returns the jobs changed.
  public func expireLeases(now: Int64 = FidelisStore.now()) throws -> [JobRecord] {
    try writer.write { db in
      let expired = try JobRecord.filter(JobRecord.Columns.state == JobState.running.rawValue && JobRecord.Columns.leaseExpiresAt < now).fetchAll(db)
      return try expired.map { old in
        var job = old
        let worker = job.leaseWorker ?? "?"
        let row = try Row.fetchOne(db, sql: "SELECT lostLeases, lostWorker FROM job WHERE seq = ?", arguments: [job.seq])
        let lost = (row?["lostLeases"] as Int? ?? 0) + 1
        let previous: String? = row?["lostWorker"]
        var reason = "lease of worker \(worker) expired (attempt \(job.attempt) of \(job.maxAttempts))"
        if job.cancelRequested {
          job.state = .cancelled
          job.stage = "cancelled"
          job.finishedAt = now
        } else if lost >= Self.maxLostLeases {
          job.state = .failed
          job.stage = "failed"
          job.finishedAt = now
          reason = "the job lost its worker \(lost) times (\(previous.map { "\($0), then " } ?? "")\(Self.workerProcess(worker))): each worker process stopped answering while running it, "
            + "which is what a crash or a kill for lack of memory does on this input (or a network cut). It is not retried; the workers' logs say more"
        } else if job.attempt < job.maxAttempts {
          job.state = .queued
          job.stage = "queued"
        } else {
          job.state = .failed
          job.stage = "failed"
          job.finishedAt = now
        }
        job.error = reason
        try Self.endAttempt(db, job: job.id, leaseId: job.leaseId ?? "", outcome: "lease expired", error: reason, at: now)
        job.leaseId = nil
        job.leaseExpiresAt = nil
        job.leaseWorker = nil
        try job.update(db)
        try Self.discardStagedArtifacts(db, jobId: job.id)
        try db.execute(
          sql: "UPDATE job SET lostLeases = ?, lostWorker = ?, lostAt = ? WHERE seq = ?", arguments: [lost, Self.workerProcess(worker), now, job.seq])
        return job
      }
    }
  }

  /// Attempts that may end with a silent worker before a job fails.
  public static let maxLostLeases = 2

  /// The worker process of a worker id: a process with several slots names them `NAME/SLOT`,
  /// and a crash ends them all.
  static func workerProcess(_ worker: String) -> String {
    guard let slash = worker.lastIndex(of: "/"), worker[worker.index(after: slash)...].allSatisfy(\.isNumber) else { return worker }
    return String(worker[..<slash])
  }

  /// Number of running jobs (all tenants).
  public func runningJobCount() throws -> Int {
    try writer.read { db in try JobRecord.filter(JobRecord.Columns.state == JobState.running.rawValue).fetchCount(db) }
  }

  static func endAttempt(_ db: Database, job: String, leaseId: String, outcome: String, error: String?, at: Int64, cpuMillis: Int64? = nil) throws {
    try db.cachedStatement(sql: "UPDATE jobAttempt SET endedAt = ?, outcome = ?, error = ?, cpuMillis = COALESCE(?, cpuMillis) WHERE jobId = ? AND leaseId = ?")
      .execute(arguments: [at, outcome, error.map { String($0.prefix(2000)) }, cpuMillis, job, leaseId])
  }
}
