import Analytics
import Foundation
import LocalFiles
import Reports
import Synchronization

/// Bytes a job reads, chunk by chunk: a dataset through the worker's lease, or a local file.
public protocol ByteSource: Sendable {
  /// Calls `consume` with the bytes, in order, a chunk at a time; a chunk is valid only
  /// during the call.
  func read(_ consume: (UnsafeBufferPointer<UInt8>) throws -> Void) async throws
  /// How many bytes `read` will give, when known: the reading stage's progress.
  var byteCount: Int? { get }
}

extension ByteSource {
  public var byteCount: Int? { nil }
}

/// What a job reads: the transactions, the per-customer file when the job joins one, and
/// the previous report of its series when it is compared with one.
public struct JobInputs: Sendable {
  public var transactions: any ByteSource
  public var customers: (any ByteSource)?
  public var previous: PreviousReport?
  /// The job's id, as the series' trend names its reports.
  public var jobId: String

  public init(transactions: any ByteSource, customers: (any ByteSource)? = nil, previous: PreviousReport? = nil, jobId: String = "") {
    self.transactions = transactions
    self.customers = customers
    self.previous = previous
    self.jobId = jobId
  }
}

/// The report an analysis is compared with: its job, JSON file, per-customer file and,
/// when it has one, its customer groups index.
public struct PreviousReport: Sendable {
  public var jobId: String
  public var json: any ByteSource
  public var customers: any ByteSource
  /// The report's `CustomerGroupsIndex`, read in place of `customers` when present: a
  /// report made before Fidelis wrote one, or whose index does not read, is compared by
  /// its per-customer file, with the same result.
  public var groups: (any ByteSource)?

  public init(jobId: String, json: any ByteSource, customers: any ByteSource, groups: (any ByteSource)? = nil) {
    self.jobId = jobId
    self.json = json
    self.customers = customers
    self.groups = groups
  }

  /// Reads the report's figures and customers; the failure when they cannot be read (a
  /// deleted report).
  func read() async -> Result<(ReportFigures, PreviousCustomers), any Error> {
    do {
      var json = Data()
      try await self.json.read { json.append(contentsOf: $0) }
      let figures = try ReportFigures(json: json)
      if let groups {
        do {
          var reader = CustomerGroupsIndex.Reader()
          try await groups.read { try reader.consume($0) }
          return .success((figures, try reader.finish()))
        } catch is CancellationError {
          throw CancellationError()
        } catch {
          // The per-customer file tells the same; only slower.
        }
      }
      var reader = PreviousCustomers.Reader()
      try await customers.read { try reader.consume($0) }
      return .success((figures, try reader.finish()))
    } catch {
      return .failure(error)
    }
  }
}

/// A failure that retrying cannot fix (bad input); the job fails at once.
public struct PermanentJobError: Error, CustomStringConvertible, Sendable {
  public var description: String

  public init(description: String) {
    self.description = description
  }
}

/// Runs one job of any kind: the code shared by workers and `fidelis analyze`.
public enum JobRunner {
  /// Runs `spec` on `inputs` and returns the job's files, those of `formats` (every file
  /// people read by default; the service adds the customer groups index). `receivedDay` is
  /// the day the transactions came in: a purchase dated after it is an export error
  /// (9999-12-31). The per-customer CSV is made as `perCustomerCSV` says.
  public static func run(
    _ spec: JobSpec, inputs: JobInputs, tenantName: String = "", receivedDay: Int = DateWindow.today(),
    formats: Set<ArtifactFormat> = Set(ArtifactFormat.reportFiles), perCustomerCSV: PerCustomerCSV = .whole, onComparisonSkipped: (String) -> Void = { _ in },
    progress: @escaping @Sendable (String, Double) -> Void
  ) async throws -> [Artifact] {
    switch spec.kind {
    case .profile:
      let data = try await readTransactions(spec, inputs: inputs, receivedDay: receivedDay, progress: progress)
      try Task.checkCancellation()
      return try Artifact.profile(DatasetProfile(data), language: spec.language)
    case .analysis:
      // Handed to the analysis, which frees them once analysed: the orders are not held
      // while the report files are written (a per-customer file of 80 MB for a million).
      let transactions = Handoff(try await readTransactions(spec, inputs: inputs, receivedDay: receivedDay, progress: progress))
      try Task.checkCancellation()
      var attributes: [String: CustomerAttributes] = [:]
      var attributeRows = 0
      if let customers = inputs.customers {
        var customerIngestor = CustomerAttributesIngestor()
        do {
          try await customers.read { try customerIngestor.consume($0) }
          let parsed = try customerIngestor.finish()
          attributes = parsed.attributes
          attributeRows = parsed.rows
        } catch let error as CSVFormatError {
          throw PermanentJobError(description: "the customer file cannot be read: \(error)")
        }
      }
      try Task.checkCancellation()
      let (analysis, language) = (spec.analysis, spec.language)
      let (customerAttributes, customerRows) = (attributes, attributeRows)
      let analysed = try await offCooperativePool { isCancelled in
        do {
          return try Analyzer.run(
            transactions.take(), attributes: customerAttributes, attributeRows: customerRows, options: analysis, isCancelled: isCancelled
          ) { stage, share in
            progress(stage, share * 100)
          }
        } catch let error as AnalysisError {
          if case .cancelled = error { throw CancellationError() }
          throw PermanentJobError(description: error.description)
        }
      }
      try Task.checkCancellation()
      var result = analysed.result
      let customers = analysed.customers
      // The per-customer files do not depend on the comparison: with one to make, they are
      // written while the previous report is read (its reading keeps one core, the writing
      // both), else with the rest.
      let perCustomer = formats.intersection([.csv, .customerGroups])
      let (written, compared): ([Artifact], AnalysisResult)
      if let previous = inputs.previous {
        progress("comparison", 91)
        let uncompared = result
        async let files = offCooperativePool { _ in
          try Artifact.analysis(uncompared, customers: customers, language: language, tenantName: tenantName, formats: perCustomer, perCustomerCSV: perCustomerCSV)
        }
        // The previous report is read once the transactions are freed: its customers are
        // as many as this one's.
        switch await previous.read() {
        case .success(let (figures, previousCustomers)):
          result.comparison = try Comparison.make(
            job: inputs.jobId, result: result, customers: customers, previousJob: previous.jobId, previous: figures, previousCustomers: previousCustomers)
        case .failure(let error):
          if error is CancellationError { throw error }
          onComparisonSkipped("the previous report (job \(previous.jobId)) could not be read: \(error)")
        }
        (written, compared) = (try await files, result)
      } else {
        (written, compared) = ([], result)
      }
      let rest = inputs.previous == nil ? formats : formats.subtracting(perCustomer)
      let artifacts = try await offCooperativePool { _ in
        progress("report", 92)
        return try Artifact.analysis(compared, customers: customers, language: language, tenantName: tenantName, formats: rest, perCustomerCSV: perCustomerCSV)
      }
      try Task.checkCancellation()
      return (artifacts + written).sorted { ArtifactFormat.allCases.firstIndex(of: $0.format)! < ArtifactFormat.allCases.firstIndex(of: $1.format)! }
    }
  }

  /// Reads the transactions, reporting progress from 1 % to 29 % by the share of bytes read.
  private static func readTransactions(
    _ spec: JobSpec, inputs: JobInputs, receivedDay: Int, progress: @escaping @Sendable (String, Double) -> Void
  ) async throws -> TransactionData {
    var ingestOptions = spec.ingest
    ingestOptions.latestDay = DateWindow.latestPurchaseDay(today: receivedDay)
    ingestOptions.currency = spec.analysis.currency
    progress("reading", 1)
    let expectedBytes = inputs.transactions.byteCount
    var ingestor = TransactionIngestor(options: ingestOptions, expectedBytes: expectedBytes)
    // Reading runs from 1 % to the analysis' first stage at 30 %, by the share of bytes read:
    // on a file of gigabytes it is most of the job's time.
    let total = expectedBytes ?? 0
    var read = 0
    var shown = 1
    do {
      try await inputs.transactions.read { chunk in
        // A cancel asked through a heartbeat stops the job at the next chunk.
        try Task.checkCancellation()
        try ingestor.consume(chunk)
        read += chunk.count
        let percent = total > 0 ? 1 + min(28, 29 * read / total) : 1
        if percent > shown {
          shown = percent
          progress("reading", Double(percent))
        }
      }
      return try ingestor.finish()
    } catch let error as CSVFormatError {
      throw PermanentJobError(description: "the file cannot be read: \(error)")
    }
  }
}

/// A value given to the one thread that takes it, once: it is freed as soon as the taker is
/// done with it, not when the box goes.
final class Handoff<Value: Sendable>: Sendable {
  private let value: Mutex<Value?>

  init(_ value: Value) {
    self.value = Mutex(value)
  }

  /// The value; the box holds it no more.
  func take() -> Value {
    guard let value = value.withLock({ $0.take() }) else { preconditionFailure("a handed-off value is taken once") }
    return value
  }
}

/// Runs `work` on a thread of its own and waits for it. An analysis is seconds to minutes of
/// CPU; on Swift's cooperative pool (one thread per core) it would hold up the heartbeats
/// that keep the job's lease, and on a one-core worker stop them. `work` is told when the
/// awaiting task is cancelled.
public func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable (_ isCancelled: @escaping @Sendable () -> Bool) throws -> T) async throws -> T {
  let cancelled = SharedFlag()
  return try await withTaskCancellationHandler {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
      let thread = Thread {
        continuation.resume(with: Result { try work { cancelled.value.load(ordering: .acquiring) } })
      }
      // The analysis recurses little, but its sorts and closures like room.
      thread.stackSize = 16 << 20
      thread.start()
    }
  } onCancel: {
    cancelled.value.store(true, ordering: .releasing)
  }
}

/// A flag set in one place and read in others (a task and the thread it waits for, a
/// worker's shutdown and its loops).
public final class SharedFlag: Sendable {
  public let value = Atomic<Bool>(false)

  public init() {}
}

/// A local file as a job's input (`fidelis analyze`).
public struct FileSource: ByteSource {
  public let file: LocalFile
  /// For a transactions file: the job's `--column` names, by which the lines above its
  /// header are found and left out (`LeadingLines`); nil for a file read as it is.
  public let headerColumns: [String: String]?
  /// Hears of the lines left out above the header.
  let found: @Sendable (LeadingLines) -> Void

  public init(path: String) {
    self.file = LocalFile(path: path)
    (headerColumns, found) = (nil, { _ in })
  }

  /// A transactions file, read from its header (`LeadingLines`).
  public init(transactions path: String, columns: [String: String], found: @escaping @Sendable (LeadingLines) -> Void) {
    self.file = LocalFile(path: path)
    (headerColumns, self.found) = (columns, found)
  }

  /// The file's size; for a gzip file, what its trailer says it inflates to (`sizeHint`).
  public var byteCount: Int? { file.sizeHint }

  public func read(_ consume: (UnsafeBufferPointer<UInt8>) throws -> Void) async throws {
    do {
      if let headerColumns {
        try file.readBuffersFromHeader(columns: headerColumns, found: found, consume)
      } else {
        try file.readBuffers(consume)
      }
    } catch let error as LocalFile.Unreadable {
      throw PermanentJobError(description: error.description)
    }
  }
}
