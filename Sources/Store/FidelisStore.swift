import Crypto
import Foundation
import GRDB
import Synchronization

/// Why a store operation was refused. The message is for a person; nothing was changed.
public enum StoreError: Error, Equatable, Sendable {
  /// The id does not exist for this tenant (another tenant's id answers the same).
  case notFound(String)
  /// The operation does not fit the current state.
  case failedPrecondition(String)
  /// A per-tenant limit was reached.
  case resourceExhausted(String)
  /// The lease is not (or no longer) held by the caller.
  case leaseLost(String)
  /// A concurrent change made the operation moot; trying again may succeed.
  case aborted(String)
  case invalidArgument(String)
  /// Stored bytes that no longer read back (a damaged report piece).
  case dataLoss(String)

  public var message: String {
    switch self {
    case .notFound(let m), .failedPrecondition(let m), .resourceExhausted(let m), .leaseLost(let m), .aborted(let m), .invalidArgument(let m), .dataLoss(let m): m
    }
  }
}

/// Limits applied to tenants that set none of their own.
public struct TenantDefaults: Sendable {
  public var maxQueuedJobs = 1000
  public var maxRunningJobs = 8
  public var maxDatasetBytes: Int64 = 1 << 30
  public var maxAttempts = 3
  /// Bytes a tenant may store in all (datasets and reports).
  public var maxStorageBytes: Int64 = 10 << 30

  public init() {}
}

/// The coordinator's store: tenants, keys, datasets, jobs, attempts and reports in one
/// SQLite database. Every state change is one transaction guarded on the current state
/// (and, for jobs, on the lease id), so that concurrent callers cannot both win.
///
/// A database has one store over it (the coordinator's): the store remembers the API keys
/// it has checked, and forgets them when it rotates them.
public struct FidelisStore: Sendable {
  let writer: any DatabaseWriter
  public let defaults: TenantDefaults
  let checkedKeys = CheckedKeys()
  /// Job writes of concurrent callers, committed together.
  let groupCommit: GroupCommit
  /// The connection that checkpoints a file store's write-ahead log.
  var checkpointer: DatabaseQueue?
  /// The locked data directory of a file store (held as long as the store).
  public private(set) var dataDirectory: DataDirectory?
  /// What the operator should know about the opening (a check skipped for time).
  public private(set) var startupNotes: [String] = []

  /// Opens the store on `writer` and migrates it.
  public init(_ writer: any DatabaseWriter, defaults: TenantDefaults = TenantDefaults()) throws {
    self.writer = writer
    self.defaults = defaults
    self.groupCommit = GroupCommit(writer)
    try Self.migrator.migrate(writer)
  }

  /// Opens (creating when needed) the database file `fidelis.sqlite` in `directory`, in WAL mode.
  ///
  /// The directory is made private (0700, files 0600) and locked for this process: a second
  /// coordinator on it is refused. An empty or damaged database file is refused with the
  /// reason (`StoreOpenError`), never replaced; the structural check gives up after
  /// `checkTimeout` and says so in `startupNotes`.
  public static func open(directory: URL, defaults: TenantDefaults = TenantDefaults(), checkTimeout: Duration = .seconds(30)) throws -> FidelisStore {
    // Files created from here on (the log, the shared memory) are the owner's alone.
    umask(0o077)
    let dataDirectory = try DataDirectory(directory)
    try dataDirectory.checkDatabaseFile()
    let path = dataDirectory.databasePath
    let pool: DatabasePool
    do {
      pool = try DatabasePool(path: path, configuration: makeConfiguration())
    } catch let error as DatabaseError {
      throw StoreOpenError(description: "cannot open the store \(path): \(error.message ?? "\(error.resultCode)")")
    }
    var notes: [String] = []
    if let note = try quickCheck(pool, timeout: checkTimeout) { notes.append(note) }
    var store = try FidelisStore(pool, defaults: defaults)
    store.checkpointer = try DatabaseQueue(path: path, configuration: makeConfiguration())
    store.dataDirectory = dataDirectory
    store.startupNotes = notes
    try dataDirectory.makeFilesPrivate()
    return store
  }

  /// What a backup copied.
  public struct BackupSummary: Sendable {
    public var bytes: Int64
    public var tenants: Int
    public var datasets: Int
    public var jobs: Int
  }

  /// Copies the store of the data directory `directory` into a new file at `path`, online:
  /// a coordinator may be running on it and writing, and the copy is the store as it was at
  /// one moment (SQLite's backup API, reading in one transaction). The copy is written
  /// beside `path`, checked (`quick_check`) and only then renamed into place; an existing
  /// file at `path` is refused, never replaced. Restoring is putting the copy in an empty
  /// data directory as `fidelis.sqlite`.
  public static func backup(directory: URL, to path: String) throws -> BackupSummary {
    let source = URL(fileURLWithPath: DataDirectory.databasePath(in: directory))
    guard FileManager.default.fileExists(atPath: source.path) else {
      throw StoreOpenError(description: "no store in \(directory.path) (no fidelis.sqlite)")
    }
    guard !FileManager.default.fileExists(atPath: path) else {
      throw StoreOpenError(description: "\(path) exists: a backup never replaces a file; name a new one")
    }
    // Said of the copy, not of the store: SQLite's "unable to open database file" named neither.
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    guard access(folder, W_OK) == 0 else { throw StoreOpenError(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
    umask(0o077)
    var configuration = makeConfiguration()
    configuration.readonly = true
    let partial = path + ".partial"
    try? FileManager.default.removeItem(atPath: partial)
    do {
      let reader = try DatabasePool(path: source.path, configuration: configuration)
      let copy = try DatabaseQueue(path: partial)
      try reader.backup(to: copy)
      let summary = try copy.read { db -> BackupSummary in
        guard try String.fetchOne(db, sql: "PRAGMA quick_check") == "ok" else {
          throw StoreOpenError(description: "the copy failed its check; nothing was written at \(path)")
        }
        return BackupSummary(
          bytes: 0, tenants: try TenantRecord.fetchCount(db), datasets: try DatasetRecord.fetchCount(db), jobs: try JobRecord.fetchCount(db))
      }
      try copy.close()
      try reader.close()
      guard rename(partial, path) == 0 else { throw StoreOpenError(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
      var result = summary
      result.bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
      return result
    } catch let error as DatabaseError {
      try? FileManager.default.removeItem(atPath: partial)
      throw StoreOpenError(description: "cannot back up \(source.path): \(error.message ?? "\(error.resultCode)")")
    } catch {
      try? FileManager.default.removeItem(atPath: partial)
      throw error
    }
  }

  /// Closes a file store: the data directory is unlocked for the next coordinator. Calls
  /// after this one are refused by the lock's new owner, not by this store.
  public func close() {
    dataDirectory?.unlock()
  }

  /// Copies what the write-ahead log holds into the database file, as far as readers allow,
  /// on a connection of its own: writers go on meanwhile. The coordinator calls it a few
  /// times a second. Nothing to do for an in-memory store.
  public func checkpoint() async throws {
    try await checkpointer?.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
  }

  /// The production configuration, also used by the tests' in-memory databases.
  public static func makeConfiguration() -> Configuration {
    var config = Configuration()
    config.foreignKeysEnabled = true
    config.busyMode = .timeout(10)
    config.prepareDatabase { db in
      // WAL with NORMAL sync survives any process crash (kill -9); only a power loss can
      // drop the last commits.
      if !db.configuration.readonly {
        try db.execute(sql: "PRAGMA synchronous = NORMAL")
        // Checkpoints are `checkpoint()`'s work, off the writer: one inside a commit held up
        // every submit behind it. The writer checkpoints itself only past 40 MB of log, if
        // nobody calls `checkpoint()`.
        try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
      }
    }
    return config
  }

  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.create(table: "tenant") { t in
        t.primaryKey("id", .text)
        t.column("name", .text).notNull().unique()
        t.column("createdAt", .integer).notNull()
        t.column("maxQueuedJobs", .integer).notNull()
        t.column("maxRunningJobs", .integer).notNull()
        t.column("maxDatasetBytes", .integer).notNull()
        t.column("defaultLanguage", .text).notNull()
        t.column("lastLeasedAt", .integer).notNull().defaults(to: 0)
      }
      try db.create(table: "apiKey") { t in
        t.primaryKey("hash", .text)
        t.column("tenantId", .text).notNull().indexed().references("tenant", onDelete: .cascade)
        t.column("createdAt", .integer).notNull()
      }
      try db.create(table: "dataset") { t in
        t.primaryKey("id", .text)
        t.column("tenantId", .text).notNull().indexed().references("tenant", onDelete: .cascade)
        t.column("name", .text).notNull()
        t.column("kind", .text).notNull()
        t.column("state", .text).notNull()
        t.column("sizeBytes", .integer).notNull()
        t.column("sha256", .text).notNull()
        t.column("chunkCount", .integer).notNull()
        t.column("createdAt", .integer).notNull()
      }
      try db.create(table: "datasetChunk") { t in
        t.column("datasetId", .text).notNull().references("dataset", onDelete: .cascade)
        t.column("seq", .integer).notNull()
        t.column("data", .blob).notNull()
        t.primaryKey(["datasetId", "seq"])
      }
      try db.create(table: "job") { t in
        t.autoIncrementedPrimaryKey("seq")
        t.column("id", .text).notNull().unique()
        t.column("tenantId", .text).notNull().references("tenant", onDelete: .cascade)
        t.column("datasetId", .text).notNull()
        t.column("kind", .text).notNull()
        t.column("options", .blob).notNull()
        t.column("idempotencyKey", .text)
        t.column("state", .text).notNull()
        t.column("attempt", .integer).notNull()
        t.column("maxAttempts", .integer).notNull()
        t.column("leaseId", .text)
        t.column("leaseWorker", .text)
        t.column("leaseExpiresAt", .integer)
        t.column("stage", .text).notNull()
        t.column("progress", .double).notNull()
        t.column("cancelRequested", .boolean).notNull()
        t.column("error", .text)
        t.column("createdAt", .integer).notNull()
        t.column("startedAt", .integer)
        t.column("finishedAt", .integer)
        t.uniqueKey(["tenantId", "idempotencyKey"])
      }
      try db.create(index: "job_by_tenant_state", on: "job", columns: ["tenantId", "state", "seq"])
      try db.create(index: "job_by_state_lease", on: "job", columns: ["state", "leaseExpiresAt"])
      try db.create(table: "jobAttempt") { t in
        t.column("jobId", .text).notNull().references("job", column: "id", onDelete: .cascade)
        t.column("number", .integer).notNull()
        t.column("leaseId", .text).notNull()
        t.column("worker", .text).notNull()
        t.column("host", .text).notNull()
        t.column("startedAt", .integer).notNull()
        t.column("endedAt", .integer)
        t.column("outcome", .text).notNull()
        t.column("error", .text)
        t.primaryKey(["jobId", "number"])
      }
      try db.create(table: "artifact") { t in
        t.column("jobId", .text).notNull().references("job", column: "id", onDelete: .cascade)
        t.column("tenantId", .text).notNull().indexed()
        t.column("format", .text).notNull()
        t.column("contentType", .text).notNull()
        t.column("data", .blob).notNull()
        t.column("createdAt", .integer).notNull()
        t.primaryKey(["jobId", "format"])
      }
    }
    // Shipped migrations are never edited: later changes are new migrations.
    migrator.registerMigration("v2 worker certificate") { db in
      try db.alter(table: "jobAttempt") { t in t.add(column: "workerCertificate", .text) }
    }
    // The scheduler looked at every tenant with queued work on each lease (0.66 ms a lease
    // with 500 of them). Each tenant now carries its queued and running counts, kept by
    // triggers on every change of a job's state (so no code path can forget one), and an
    // index puts the next tenant to serve first.
    migrator.registerMigration("v3 tenant job counts") { db in
      try db.alter(table: "tenant") { t in
        t.add(column: "queuedJobs", .integer).notNull().defaults(to: 0)
        t.add(column: "runningJobs", .integer).notNull().defaults(to: 0)
      }
      try db.execute(
        sql: """
          UPDATE tenant SET
            queuedJobs = (SELECT COUNT(*) FROM job WHERE job.tenantId = tenant.id AND job.state = 'queued'),
            runningJobs = (SELECT COUNT(*) FROM job WHERE job.tenantId = tenant.id AND job.state = 'running');
          CREATE TRIGGER job_counts_after_insert AFTER INSERT ON job BEGIN
            UPDATE tenant SET queuedJobs = queuedJobs + (NEW.state = 'queued'), runningJobs = runningJobs + (NEW.state = 'running')
            WHERE id = NEW.tenantId;
          END;
          CREATE TRIGGER job_counts_after_update AFTER UPDATE OF state ON job WHEN OLD.state IS NOT NEW.state BEGIN
            UPDATE tenant SET
              queuedJobs = queuedJobs - (OLD.state = 'queued') + (NEW.state = 'queued'),
              runningJobs = runningJobs - (OLD.state = 'running') + (NEW.state = 'running')
            WHERE id = NEW.tenantId;
          END;
          CREATE TRIGGER job_counts_after_delete AFTER DELETE ON job BEGIN
            UPDATE tenant SET queuedJobs = queuedJobs - (OLD.state = 'queued'), runningJobs = runningJobs - (OLD.state = 'running')
            WHERE id = OLD.tenantId;
          END;
          CREATE INDEX tenant_next_to_serve ON tenant(runningJobs, lastLeasedAt, id) WHERE queuedJobs > 0;
          """)
    }
    // Hardening: a storage quota per tenant, and what a job's lost leases say (how many
    // attempts ended without a word from their worker, and the last such worker, which the
    // next lease avoids while another can take the job).
    migrator.registerMigration("v4 storage quota and lost leases") { db in
      try db.alter(table: "tenant") { t in t.add(column: "maxStorageBytes", .integer).notNull().defaults(to: 0) }
      try db.alter(table: "job") { t in
        t.add(column: "lostLeases", .integer).notNull().defaults(to: 0)
        t.add(column: "lostWorker", .text)
        t.add(column: "lostAt", .integer)
      }
    }
    migrator.registerMigration("v5 tenant currency") { db in
      try db.alter(table: "tenant") { t in t.add(column: "defaultCurrency", .text).notNull().defaults(to: "EUR") }
    }
    // Report files were one blob each, read whole to be sent. They are now stored as
    // deflated pieces (ArtifactPieces), read and sent one at a time; files stored
    // before keep their blob (size NULL) and are read as one piece.
    migrator.registerMigration("v6 compressed report pieces") { db in
      try db.alter(table: "artifact") { t in
        t.add(column: "size", .integer)
        t.add(column: "storedBytes", .integer)
      }
      try db.create(table: "artifactPiece") { t in
        t.column("jobId", .text).notNull()
        t.column("format", .text).notNull()
        t.column("number", .integer).notNull()
        t.column("size", .integer).notNull()
        t.column("data", .blob).notNull()
        t.primaryKey(["jobId", "format", "number"])
        t.foreignKey(["jobId", "format"], references: "artifact", columns: ["jobId", "format"], onDelete: .cascade)
      }
    }
    // The reports of one dataset are listed and watched: its jobs without a scan of the
    // tenant's. On the dataset alone (ids are unique), so that a job's state changes, a
    // thousand a second, leave this index alone.
    migrator.registerMigration("v7 jobs by dataset") { db in
      try db.create(index: "job_by_dataset", on: "job", columns: ["datasetId", "seq"])
    }
    // Datasets have names that grow by versions (appends); jobs remember the name they
    // read, so that the reports of a name form a series after its versions are gone.
    // Uploads made before under one name become its versions, in upload order.
    migrator.registerMigration("v8 dataset versions") { db in
      try db.alter(table: "dataset") { t in
        t.add(column: "version", .integer).notNull().defaults(to: 0)
        t.add(column: "contentBytes", .integer).notNull().defaults(to: 0)
        t.add(column: "baseId", .text)
        t.add(column: "appendRule", .text)
        t.add(column: "linesAdded", .integer).notNull().defaults(to: 0)
        t.add(column: "linesSkipped", .integer).notNull().defaults(to: 0)
        t.add(column: "linesReplaced", .integer).notNull().defaults(to: 0)
        t.add(column: "daysReplaced", .integer).notNull().defaults(to: 0)
        t.add(column: "replacedFrom", .integer)
        t.add(column: "replacedThrough", .integer)
      }
      try db.execute(sql: "UPDATE dataset SET contentBytes = sizeBytes")
      try db.execute(
        sql: """
          UPDATE dataset SET version = (
            SELECT COUNT(*) FROM dataset d
            WHERE d.tenantId = dataset.tenantId AND d.kind = dataset.kind AND d.name = dataset.name AND d.state = 'ready' AND d.id <= dataset.id)
          WHERE state = 'ready'
          """)
      try db.execute(sql: "CREATE UNIQUE INDEX dataset_by_name ON dataset(tenantId, kind, name, version) WHERE version > 0")
      try db.create(table: "datasetPart") { t in
        t.column("versionId", .text).notNull().references("dataset", onDelete: .cascade)
        t.column("position", .integer).notNull()
        // No cascade: a file stays while a version reads it.
        t.column("fileId", .text).notNull().indexed().references("dataset")
        t.column("sizeBytes", .integer).notNull()
        t.column("chunkCount", .integer).notNull()
        t.column("headerBytes", .integer).notNull()
        t.column("endsWithBreak", .boolean).notNull()
        t.column("skipped", .blob).notNull()
        t.primaryKey(["versionId", "position"])
      }
      try db.alter(table: "job") { t in t.add(column: "datasetName", .text) }
      try db.execute(sql: "UPDATE job SET datasetName = (SELECT name FROM dataset WHERE dataset.id = job.datasetId)")
      try db.create(index: "job_by_dataset_name", on: "job", columns: ["tenantId", "datasetName", "seq"])
    }
    migrator.registerMigration("v9 schedules") { db in
      try db.create(table: "schedule") { t in
        t.primaryKey("id", .text)
        t.column("tenantId", .text).notNull().indexed().references("tenant", onDelete: .cascade)
        t.column("datasetName", .text).notNull()
        t.column("kind", .text).notNull()
        t.column("options", .blob).notNull()
        t.column("everySeconds", .integer).notNull()
        t.column("atMinute", .integer)
        t.column("state", .text).notNull()
        t.column("nextRunAt", .integer).notNull()
        t.column("lastJobId", .text)
        t.column("lastVersionId", .text)
        t.column("createdAt", .integer).notNull()
      }
      try db.create(index: "schedule_by_next_run", on: "schedule", columns: ["state", "nextRunAt"])
      try db.create(table: "scheduleRun") { t in
        t.autoIncrementedPrimaryKey("seq")
        t.column("scheduleId", .text).notNull().indexed().references("schedule", onDelete: .cascade)
        t.column("dueAt", .integer).notNull()
        t.column("ranAt", .integer).notNull()
        t.column("outcome", .text).notNull()
        t.column("reason", .text)
        t.column("jobId", .text)
        t.column("versionId", .text)
      }
    }
    // Workers report the CPU time of each attempt.
    migrator.registerMigration("v11 attempt cpu time") { db in
      try db.alter(table: "jobAttempt") { t in t.add(column: "cpuMillis", .integer) }
    }
    // Per tenant: how many versions and reports of each dataset name are kept.
    migrator.registerMigration("v10 retention") { db in
      try db.alter(table: "tenant") { t in
        t.add(column: "keepVersions", .integer).notNull().defaults(to: 0)
        t.add(column: "keepReports", .integer).notNull().defaults(to: 0)
      }
    }
    // A large report file was held whole (deflated) by the coordinator until its job's
    // success was stored: 300 MB at ten million customers. Its pieces are now stored as
    // they arrive, under the lease that sends them (`leaseId`), unseen by readers until the
    // success makes them the job's, and removed when the lease ends any other way.
    migrator.registerMigration("v12 report files staged while their job runs") { db in
      try db.alter(table: "artifact") { t in t.add(column: "leaseId", .text) }
    }
    return migrator
  }

  /// A new identifier with a readable prefix (`ten_`, `ds_`, `job_`…): the time in
  /// milliseconds, then 48 random bits, in hex. Identifiers made one after the other sort
  /// together, so that a new job's rows land on the last pages of each index instead of a
  /// random page each (a write per index per job otherwise, at thousands of jobs a second).
  public static func newID(_ prefix: String) -> String {
    let milliseconds = UInt64(max(0, now()))
    let time = (0..<6).reversed().map { UInt8(truncatingIfNeeded: milliseconds >> (8 * $0)) }
    return prefix + "_" + hex(time + randomBytes(6))
  }

  /// A new API key: 32 random bytes, hex, with the `fk_` prefix. Nothing in it is guessable.
  public static func newAPIKey() -> String { "fk_" + hex(randomBytes(32)) }

  static func randomBytes(_ count: Int) -> [UInt8] {
    var rng = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
  }

  /// SHA-256 of a key, hex: the form in which keys are stored and looked up.
  public static func hashKey(_ key: String) -> String {
    hex(SHA256.hash(data: Data(key.utf8)))
  }

  /// Lower-case hexadecimal of `bytes` (called on every authenticated call: no formatter).
  static func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for byte in bytes {
      out.append(digits[Int(byte >> 4)])
      out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  public static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

// MARK: - Tenants and keys

extension FidelisStore {
  /// Creates a tenant and its first key; returns the tenant and the key (shown once).
  public func createTenant(
    name: String, maxQueuedJobs: Int = 0, maxRunningJobs: Int = 0, maxDatasetBytes: Int64 = 0, maxStorageBytes: Int64 = 0, language: String = "en",
    currency: String = "EUR"
  ) throws -> (TenantRecord, String) {
    let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !trimmed.isEmpty, trimmed.count <= 200 else { throw StoreError.invalidArgument("a tenant name must have 1 to 200 characters") }
    // The language is checked at the edge (Jobs' `checkedLanguage`); here only its shape.
    try Self.checkDefaults(language: language, currency: currency)
    guard maxQueuedJobs >= 0, maxRunningJobs >= 0, maxDatasetBytes >= 0, maxStorageBytes >= 0 else { throw StoreError.invalidArgument("limits must not be negative") }
    let key = Self.newAPIKey()
    let now = Self.now()
    let tenant = TenantRecord(
      id: Self.newID("ten"), name: trimmed, createdAt: now, maxQueuedJobs: maxQueuedJobs, maxRunningJobs: maxRunningJobs, maxDatasetBytes: maxDatasetBytes,
      maxStorageBytes: maxStorageBytes, defaultLanguage: language, defaultCurrency: currency, lastLeasedAt: 0)
    try writer.write { db in
      // Names differ by more than case ("Acme" and "ACME" are one business to a person).
      let folded = trimmed.lowercased()
      if let existing = try String.fetchAll(db, sql: "SELECT name FROM tenant").first(where: { $0.lowercased() == folded }) {
        throw StoreError.failedPrecondition("a tenant named '\(existing)' already exists")
      }
      try tenant.insert(db)
      try APIKeyRecord(hash: Self.hashKey(key), tenantId: tenant.id, createdAt: now).insert(db)
    }
    return (tenant, key)
  }

  /// Changes a tenant's default language and currency (nil: unchanged); NOT_FOUND for an
  /// unknown tenant. Jobs already queued keep the ones they were submitted with.
  public func updateTenant(id: String, language: String?, currency: String?) throws -> TenantRecord {
    try Self.checkDefaults(language: language ?? "en", currency: currency ?? "EUR")
    let tenant = try writer.write { db in
      guard var tenant = try TenantRecord.fetchOne(db, key: id) else { throw StoreError.notFound("no tenant \(id)") }
      if let language { tenant.defaultLanguage = language }
      if let currency { tenant.defaultCurrency = currency }
      try tenant.update(db)
      return tenant
    }
    // After the commit, as for a rotation: calls authenticated from now on see the new defaults.
    checkedKeys.removeAll()
    return tenant
  }

  /// The shape of a tenant's defaults; their meaning (a language Reports speaks, an ISO
  /// currency code) is checked at the edge.
  static func checkDefaults(language: String, currency: String) throws {
    guard !language.isEmpty, language.count <= 8 else { throw StoreError.invalidArgument("a language code has 1 to 8 characters") }
    guard !currency.isEmpty, currency.count <= 8 else { throw StoreError.invalidArgument("a currency code has 1 to 8 characters") }
  }

  public func listTenants() throws -> [TenantRecord] {
    try writer.read { db in try TenantRecord.order(TenantRecord.Columns.name).fetchAll(db) }
  }

  /// Replaces every key of the tenant with a new one, returned once.
  public func rotateKey(tenantId: String) throws -> String {
    let key = Self.newAPIKey()
    try writer.write { db in
      guard try TenantRecord.fetchOne(db, key: tenantId) != nil else { throw StoreError.notFound("no tenant \(tenantId)") }
      try APIKeyRecord.filter(APIKeyRecord.Columns.tenantId == tenantId).deleteAll(db)
      try APIKeyRecord(hash: Self.hashKey(key), tenantId: tenantId, createdAt: Self.now()).insert(db)
    }
    // After the commit, so that no lookup can put the old key back.
    checkedKeys.removeAll()
    return key
  }

  /// The tenant owning an API key, or nil. Keys found are remembered until a rotation or a
  /// change of the tenant's defaults: every tenant call starts here.
  /// (`lastLeasedAt` of a remembered record is stale; the scheduler reads its own.)
  public func tenant(forKey key: String) throws -> TenantRecord? {
    let hash = Self.hashKey(key)
    if let tenant = checkedKeys[hash] { return tenant }
    let generation = checkedKeys.generation
    let tenant = try writer.read { db in
      try TenantRecord.fetchOne(
        db.cachedStatement(sql: "SELECT tenant.* FROM apiKey JOIN tenant ON tenant.id = apiKey.tenantId WHERE apiKey.hash = ?"), arguments: [hash])
    }
    if let tenant { checkedKeys.remember(hash, tenant, ifStill: generation) }
    return tenant
  }

  public func tenant(id: String) throws -> TenantRecord? {
    try writer.read { db in try Self.tenant(db, id: id) }
  }

  static func tenant(_ db: Database, id: String) throws -> TenantRecord? {
    try TenantRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM tenant WHERE id = ?"), arguments: [id])
  }

  func limits(_ tenant: TenantRecord) -> (queued: Int, running: Int, bytes: Int64, storage: Int64) {
    (
      tenant.maxQueuedJobs > 0 ? tenant.maxQueuedJobs : defaults.maxQueuedJobs,
      tenant.maxRunningJobs > 0 ? tenant.maxRunningJobs : defaults.maxRunningJobs,
      tenant.maxDatasetBytes > 0 ? tenant.maxDatasetBytes : defaults.maxDatasetBytes,
      tenant.maxStorageBytes > 0 ? tenant.maxStorageBytes : defaults.maxStorageBytes
    )
  }
}

// MARK: - Datasets

extension FidelisStore {
  /// Maximum dataset size for a tenant, in bytes.
  public func maxDatasetBytes(_ tenant: TenantRecord) -> Int64 { limits(tenant).bytes }

  /// Starts an upload: the dataset stays invisible until `finishUpload`.
  public func beginUpload(tenantId: String, name: String, kind: String) throws -> String {
    guard ["transactions", "customers"].contains(kind) else { throw StoreError.invalidArgument("dataset kind must be transactions or customers (got '\(kind)')") }
    let record = DatasetRecord(
      id: Self.newID("ds"), tenantId: tenantId, name: name.isEmpty ? "dataset" : name, kind: kind, state: .uploading, sizeBytes: 0, sha256: "", chunkCount: 0,
      createdAt: Self.now())
    try writer.write { db in try record.insert(db) }
    return record.id
  }

  /// Appends a chunk to an upload in progress.
  public func appendChunk(datasetId: String, seq: Int, data: Data) throws {
    try writer.write { db in
      // Arguments given to `execute` are bound in place (SQLITE_STATIC); a record's insert
      // binds a copy, and copying each megabyte cost a tenth of an upload's time.
      try db.cachedStatement(sql: "INSERT INTO datasetChunk (datasetId, seq, data) VALUES (?, ?, ?)").execute(arguments: [datasetId, seq, data])
    }
  }

  /// Makes an upload visible as the next version of its name, in one transaction.
  public func finishUpload(datasetId: String, size: Int64, sha256: String, chunks: Int) throws -> DatasetRecord {
    try writer.write { db in
      guard var record = try DatasetRecord.fetchOne(db, key: datasetId), record.state == .uploading else {
        throw StoreError.failedPrecondition("upload \(datasetId) is not in progress")
      }
      record.state = .ready
      record.sizeBytes = size
      record.contentBytes = size
      record.sha256 = sha256
      record.chunkCount = chunks
      record.version = try Self.latestVersion(db, tenantId: record.tenantId, kind: record.kind, name: record.name) + 1
      try record.update(db)
      return record
    }
  }

  /// What an append did, for `finishAppend`.
  public struct AppendSummary: Sendable, Equatable {
    public var rule: String
    public var linesAdded: Int
    public var linesSkipped: Int
    public var linesReplaced: Int
    public var daysReplaced: Int
    public var replacedFrom: Int?
    public var replacedThrough: Int?

    public init(rule: String, linesAdded: Int, linesSkipped: Int, linesReplaced: Int, daysReplaced: Int, replacedFrom: Int?, replacedThrough: Int?) {
      (self.rule, self.linesAdded, self.linesSkipped, self.linesReplaced, self.daysReplaced) = (rule, linesAdded, linesSkipped, linesReplaced, daysReplaced)
      (self.replacedFrom, self.replacedThrough) = (replacedFrom, replacedThrough)
    }
  }

  /// Makes an uploaded batch the next version of `base`'s name, reading `parts` (the base's
  /// files then the batch's own, `versionId` and `position` filled here), in one
  /// transaction. ABORTED when `base` is no longer the latest version: the plan was made
  /// against it.
  public func finishAppend(
    datasetId: String, base: DatasetRecord, parts: [DatasetPartRecord], summary: AppendSummary, contentBytes: Int64, size: Int64, sha256: String, chunks: Int
  ) throws -> DatasetRecord {
    try writer.write { db in
      guard var record = try DatasetRecord.fetchOne(db, key: datasetId), record.state == .uploading else {
        throw StoreError.failedPrecondition("upload \(datasetId) is not in progress")
      }
      let latest = try Self.latestVersion(db, tenantId: base.tenantId, kind: base.kind, name: base.name)
      guard latest == base.version, try DatasetRecord.fetchOne(db, key: base.id)?.state == .ready else {
        throw StoreError.aborted("\(base.name) changed during the append (it is now at version \(latest)); nothing was stored: send the batch again")
      }
      record.state = .ready
      record.sizeBytes = size
      record.contentBytes = contentBytes
      record.sha256 = sha256
      record.chunkCount = chunks
      record.version = base.version + 1
      record.baseId = base.id
      record.appendRule = summary.rule
      (record.linesAdded, record.linesSkipped, record.linesReplaced, record.daysReplaced) =
        (summary.linesAdded, summary.linesSkipped, summary.linesReplaced, summary.daysReplaced)
      (record.replacedFrom, record.replacedThrough) = (summary.replacedFrom, summary.replacedThrough)
      try record.update(db)
      for (position, var part) in parts.enumerated() {
        part.versionId = datasetId
        part.position = position
        try part.insert(db)
      }
      return record
    }
  }

  static func latestVersion(_ db: Database, tenantId: String, kind: String, name: String) throws -> Int {
    try Int.fetchOne(
      db.cachedStatement(sql: "SELECT COALESCE(MAX(version), 0) FROM dataset WHERE tenantId = ? AND kind = ? AND name = ? AND version > 0"),
      arguments: [tenantId, kind, name]) ?? 0
  }

  /// Removes an upload that did not complete, with its chunks.
  public func abortUpload(datasetId: String) throws {
    _ = try writer.write { db in
      try DatasetRecord.filter(DatasetRecord.Columns.id == datasetId && DatasetRecord.Columns.state == DatasetState.uploading.rawValue).deleteAll(db)
    }
  }

  /// Removes uploads left unfinished by a crash; returns how many.
  public func removeUnfinishedUploads() throws -> Int {
    try writer.write { db in try DatasetRecord.filter(DatasetRecord.Columns.state == DatasetState.uploading.rawValue).deleteAll(db) }
  }

  /// The tenant's dataset versions, newest first (ids sort by creation): at most `limit`,
  /// those before the version `before` when given.
  public func datasets(tenantId: String, limit: Int = .max, before: String? = nil) throws -> [DatasetRecord] {
    try writer.read { db in
      var request = DatasetRecord.filter(DatasetRecord.Columns.tenantId == tenantId && DatasetRecord.Columns.state == DatasetState.ready.rawValue)
      if let before { request = request.filter(DatasetRecord.Columns.id < before) }
      return try request.order(DatasetRecord.Columns.id.desc).limit(limit).fetchAll(db)
    }
  }

  /// The versions of the tenant's dataset `name` of `kind`, newest first; NOT_FOUND when
  /// it has none.
  public func datasetVersions(tenantId: String, kind: String, name: String) throws -> [DatasetRecord] {
    let versions = try writer.read { db in
      try DatasetRecord.filter(
        DatasetRecord.Columns.tenantId == tenantId && DatasetRecord.Columns.kind == kind && DatasetRecord.Columns.name == name
          && DatasetRecord.Columns.state == DatasetState.ready.rawValue
      ).order(DatasetRecord.Columns.version.desc).fetchAll(db)
    }
    guard !versions.isEmpty else { throw StoreError.notFound("no \(kind) dataset named \(name)") }
    return versions
  }

  /// A ready dataset version of the tenant; NOT_FOUND otherwise.
  public func dataset(tenantId: String, id: String) throws -> DatasetRecord {
    try writer.read { db in try Self.dataset(db, tenantId: tenantId, id: id) }
  }

  /// The version `reference` names: a version id, or a dataset name of `kind` for its
  /// latest version; NOT_FOUND otherwise.
  public func dataset(tenantId: String, reference: String, kind: String) throws -> DatasetRecord {
    try writer.read { db in try Self.dataset(db, tenantId: tenantId, reference: reference, kind: kind) }
  }

  static func dataset(_ db: Database, tenantId: String, reference: String, kind: String) throws -> DatasetRecord {
    if let record = try? dataset(db, tenantId: tenantId, id: reference) { return record }
    guard
      let record = try DatasetRecord.fetchOne(
        db.cachedStatement(sql: "SELECT * FROM dataset WHERE tenantId = ? AND kind = ? AND name = ? AND state = 'ready' ORDER BY version DESC LIMIT 1"),
        arguments: [tenantId, kind, reference])
    else {
      throw StoreError.notFound(reference.hasPrefix("ds_") ? "no dataset \(reference)" : "no \(kind) dataset named \(reference)")
    }
    return record
  }

  /// `dataset` when it holds purchases: a job analyses transactions, and a customers file
  /// named by its id (names look up one kind only) was queued, then failed at the worker on
  /// its missing date column.
  static func requireTransactions(_ dataset: DatasetRecord) throws -> DatasetRecord {
    guard dataset.kind == "transactions" else {
      throw StoreError.invalidArgument(
        "\(dataset.id) is a \(dataset.kind) file (\(dataset.name)), not purchases: analyse a transactions dataset and give this one as its customers file (--customers)")
    }
    return dataset
  }

  static func dataset(_ db: Database, tenantId: String, id: String) throws -> DatasetRecord {
    guard let record = try DatasetRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM dataset WHERE id = ?"), arguments: [id]),
      record.tenantId == tenantId, record.state == .ready
    else {
      throw StoreError.notFound("no dataset \(id)")
    }
    return record
  }

  /// The files version `id` reads, in order (no tenant check: callers check access first).
  /// A version without parts reads its own file whole.
  public func datasetParts(versionId id: String) throws -> [DatasetPartRecord] {
    try writer.read { db in
      let parts = try DatasetPartRecord.filter(DatasetPartRecord.Columns.versionId == id).order(DatasetPartRecord.Columns.position).fetchAll(db)
      if !parts.isEmpty { return parts }
      guard let record = try DatasetRecord.fetchOne(db, key: id) else { return [] }
      return [
        DatasetPartRecord(
          versionId: id, position: 0, fileId: id, sizeBytes: record.sizeBytes, chunkCount: record.chunkCount, headerBytes: 0, endsWithBreak: true, skipped: Data())
      ]
    }
  }

  /// Deletes a dataset version unless a queued or running job reads it. Its file stays
  /// (the version `retired`) while a later version reads it.
  public func deleteDataset(tenantId: String, id: String) throws {
    try writer.write { db in
      let record = try Self.dataset(db, tenantId: tenantId, id: id)
      try Self.requireIdle(db, tenantId: tenantId, versions: [record])
      try Self.delete(db, record)
    }
  }

  /// Deletes every version of the tenant's dataset `name` of `kind` unless a queued or
  /// running job reads one; returns how many.
  public func deleteDataset(tenantId: String, kind: String, name: String) throws -> Int {
    try writer.write { db in
      let versions = try DatasetRecord.filter(
        DatasetRecord.Columns.tenantId == tenantId && DatasetRecord.Columns.kind == kind && DatasetRecord.Columns.name == name
          && DatasetRecord.Columns.state == DatasetState.ready.rawValue
      ).order(DatasetRecord.Columns.version.desc).fetchAll(db)
      guard !versions.isEmpty else { throw StoreError.notFound("no \(kind) dataset named \(name)") }
      try Self.requireIdle(db, tenantId: tenantId, versions: versions)
      // Newest first: each version is gone before the older ones whose files it read.
      for version in versions { try Self.delete(db, version) }
      return versions.count
    }
  }

  private static func requireIdle(_ db: Database, tenantId: String, versions: [DatasetRecord]) throws {
    let ids = versions.map(\.id)
    let active = try JobRecord.filter(
      JobRecord.Columns.tenantId == tenantId && ids.contains(JobRecord.Columns.datasetId)
        && [JobState.queued.rawValue, JobState.running.rawValue].contains(JobRecord.Columns.state)
    ).fetchCount(db)
    if active > 0 {
      let what = versions.count == 1 ? "dataset \(versions[0].id)" : "dataset \(versions[0].name)"
      throw StoreError.failedPrecondition("\(what) is read by \(active) queued or running job(s); cancel them first")
    }
  }

  /// Deletes a version, or retires it while another version reads its file; then deletes
  /// the retired files no version reads any more.
  static func delete(_ db: Database, _ record: DatasetRecord) throws {
    let files = try String.fetchAll(db, sql: "SELECT fileId FROM datasetPart WHERE versionId = ? AND fileId <> ?", arguments: [record.id, record.id])
    try DatasetPartRecord.filter(DatasetPartRecord.Columns.versionId == record.id).deleteAll(db)
    if try DatasetPartRecord.filter(DatasetPartRecord.Columns.fileId == record.id).fetchCount(db) > 0 {
      try db.execute(sql: "UPDATE dataset SET state = 'retired' WHERE id = ?", arguments: [record.id])
    } else {
      try DatasetRecord.deleteOne(db, key: record.id)
    }
    for file in files where try DatasetPartRecord.filter(DatasetPartRecord.Columns.fileId == file).fetchCount(db) == 0 {
      try DatasetRecord.filter(DatasetRecord.Columns.id == file && DatasetRecord.Columns.state == DatasetState.retired.rawValue).deleteAll(db)
    }
  }

  /// Runs `body` in one read transaction, off the caller's thread, with a reader of
  /// dataset chunks: `read(datasetId, seq)` (no tenant check: callers check access first).
  public func withChunkReader<T: Sendable>(_ body: @escaping @Sendable (_ read: (String, Int) throws -> Data?) throws -> T) async throws -> T {
    try await writer.read { db in
      try body { id, seq in
        try Data.fetchOne(db.cachedStatement(sql: "SELECT data FROM datasetChunk WHERE datasetId = ? AND seq = ?"), arguments: [id, seq])
      }
    }
  }

  /// Chunk `seq` of a dataset (no tenant check: callers check access first).
  public func datasetChunk(datasetId: String, seq: Int) throws -> Data? {
    try writer.read { db in try DatasetChunkRecord.fetchOne(db, key: ["datasetId": datasetId, "seq": seq])?.data }
  }
}

/// API keys already found in the database, by hash, with their tenant. A rotation empties
/// it; the generation keeps a lookup that raced with a rotation from storing its answer.
final class CheckedKeys: Sendable {
  private struct State {
    var tenants: [String: TenantRecord] = [:]
    var generation = 0
  }
  private let state = Mutex(State())
  /// Enough for every tenant of a coordinator; past it the memory starts again.
  private let capacity = 100_000

  subscript(hash: String) -> TenantRecord? { state.withLock { $0.tenants[hash] } }

  var generation: Int { state.withLock { $0.generation } }

  func remember(_ hash: String, _ tenant: TenantRecord, ifStill generation: Int) {
    state.withLock { state in
      guard state.generation == generation else { return }
      if state.tenants.count >= capacity { state.tenants.removeAll() }
      state.tenants[hash] = tenant
    }
  }

  func removeAll() {
    state.withLock { state in
      state.tenants.removeAll()
      state.generation += 1
    }
  }
}

// MARK: - Storage quota

extension FidelisStore {
  /// Bytes the tenant stores (its datasets, uploads in progress included, and its reports)
  /// and its quota.
  /// Replaces a tenant's limits (0: the coordinator's default); NOT_FOUND for an unknown
  /// tenant. Jobs already queued or running stay; the limits apply to what comes next.
  public func setLimits(
    tenantId: String, maxQueuedJobs: Int, maxRunningJobs: Int, maxDatasetBytes: Int64, maxStorageBytes: Int64, keepVersions: Int = 0, keepReports: Int = 0
  ) throws -> TenantRecord {
    guard maxQueuedJobs >= 0, maxRunningJobs >= 0, maxDatasetBytes >= 0, maxStorageBytes >= 0, keepVersions >= 0, keepReports >= 0 else {
      throw StoreError.invalidArgument("limits must not be negative")
    }
    let tenant = try writer.write { db in
      guard var tenant = try TenantRecord.fetchOne(db, key: tenantId) else { throw StoreError.notFound("no tenant \(tenantId)") }
      (tenant.maxQueuedJobs, tenant.maxRunningJobs, tenant.maxDatasetBytes, tenant.maxStorageBytes) = (maxQueuedJobs, maxRunningJobs, maxDatasetBytes, maxStorageBytes)
      (tenant.keepVersions, tenant.keepReports) = (keepVersions, keepReports)
      try tenant.update(db)
      return tenant
    }
    // Authenticated calls hold the tenant they found: from now on they see the new limits.
    checkedKeys.removeAll()
    return tenant
  }

  /// What a tenant uses (see `TenantUsage`).
  public func usage(_ tenant: TenantRecord) throws -> TenantUsage {
    let (used, quota) = try storageUse(tenant)
    return try writer.read { db in
      var jobs: [String: Int64] = [:]
      for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM job WHERE tenantId = ? GROUP BY state", arguments: [tenant.id]) {
        jobs[row["state"]] = row["n"]
      }
      let milliseconds =
        try Int64.fetchOne(
          db, sql: "SELECT COALESCE(SUM(COALESCE(a.endedAt, ?) - a.startedAt), 0) FROM jobAttempt a JOIN job j ON j.id = a.jobId WHERE j.tenantId = ?",
          arguments: [Self.now(), tenant.id]) ?? 0
      let datasets = try DatasetRecord.filter(DatasetRecord.Columns.tenantId == tenant.id && DatasetRecord.Columns.state == DatasetState.ready.rawValue).fetchCount(db)
      let cpu = try Int64.fetchOne(
        db, sql: "SELECT COALESCE(SUM(a.cpuMillis), 0) FROM jobAttempt a JOIN job j ON j.id = a.jobId WHERE j.tenantId = ?", arguments: [tenant.id]) ?? 0
      return TenantUsage(
        storageBytes: used, storageQuotaBytes: quota, datasets: datasets, jobsByState: jobs, workerSeconds: Double(milliseconds) / 1000,
        cpuSeconds: Double(cpu) / 1000)
    }
  }

  public func storageUse(_ tenant: TenantRecord) throws -> (used: Int64, quota: Int64) {
    let used = try writer.read { db in
      let datasets = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(sizeBytes), 0) FROM dataset WHERE tenantId = ?", arguments: [tenant.id]) ?? 0
      let uploading = try Int64.fetchOne(
        db,
        sql: """
          SELECT COALESCE(SUM(length(data)), 0) FROM datasetChunk
          WHERE datasetId IN (SELECT id FROM dataset WHERE tenantId = ? AND state = 'uploading')
          """, arguments: [tenant.id]) ?? 0
      // Reports count as stored: compressed pieces, or the whole blob of a file from before v6.
      let reports = try Int64.fetchOne(
        db, sql: "SELECT COALESCE(SUM(COALESCE(storedBytes, length(data))), 0) FROM artifact WHERE tenantId = ?", arguments: [tenant.id]) ?? 0
      return datasets + uploading + reports
    }
    return (used, limits(tenant).storage)
  }
}
