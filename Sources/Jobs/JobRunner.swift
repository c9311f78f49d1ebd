import Analytics
import FidelisProto
import Foundation

import Reports

/// A report file produced by a job.
public struct JobArtifact: Sendable {
  public var format: String
  public var contentType: String
  public var data: Data
}

/// Where a job reads its input: the transactions, and the optional per-customer file.
public protocol JobInput: Sendable {
  /// Calls `consume` with the dataset's bytes, chunk by chunk.
  func read(datasetId: String, _ consume: ([UInt8]) throws -> Void) async throws
}

/// A failure that retrying cannot fix (bad input); the job fails at once.
public struct PermanentJobError: Error, CustomStringConvertible, Sendable {
  public var description: String
}

/// Runs one job of any kind: the code shared by workers and `fidelis analyze`.
public enum JobRunner {
  /// Runs `kind` on the input and returns the report files.
  public static func run(
    kind: String, datasetId: String, options: Fidelis_V1_JobOptions, language: String, tenantName: String, input: any JobInput,
    receivedDay: Int = DateWindow.today(), progress: @escaping @Sendable (String, Double) -> Void
  ) async throws -> [JobArtifact] {
    guard let jobKind = JobKind(rawValue: kind) else { throw PermanentJobError(description: "unknown job kind '\(kind.prefix(40))'") }
    var ingestOptions: IngestOptions
    let analysisOptions: AnalysisOptions
    do {
      ingestOptions = try options.ingestOptions()
      analysisOptions = try options.analysisOptions(defaultLanguage: language)
    } catch {
      throw PermanentJobError(description: error.message)
    }
    // A purchase dated after the day the file came in is an export error (9999-12-31).
    ingestOptions.latestDay = DateWindow.latestPurchaseDay(today: receivedDay)
    progress("reading", 1)
    var ingestor = TransactionIngestor(options: ingestOptions)
    let data: TransactionData
    do {
      try await input.read(datasetId: datasetId) { chunk in
        // A cancel asked through a heartbeat stops the job at the next chunk.
        try Task.checkCancellation()
        try ingestor.consume(chunk)
      }
      data = try ingestor.finish()
    } catch let error as CSVFormatError {
      throw PermanentJobError(description: "the file cannot be read: \(error)")
    }
    try Task.checkCancellation()
    switch jobKind {
    case .profile:
      let profile = DatasetProfile(data)
      return [
        JobArtifact(format: "json", contentType: "application/json", data: try profile.jsonData()),
        JobArtifact(format: "md", contentType: ReportFormat.md.contentType, data: Data(profile.markdown().utf8)),
      ]
    case .analysis:
      var attributes: [String: CustomerAttributes] = [:]
      var attributeRows = 0
      if !options.customersDatasetID.isEmpty {
        var customerIngestor = CustomerAttributesIngestor()
        do {
          try await input.read(datasetId: options.customersDatasetID) { try customerIngestor.consume($0) }
          let parsed = try customerIngestor.finish()
          attributes = parsed.attributes
          attributeRows = parsed.rows
        } catch let error as CSVFormatError {
          throw PermanentJobError(description: "the customer file cannot be read: \(error)")
        }
      }
      try Task.checkCancellation()
      let (result, customers): (AnalysisResult, CustomerResults)
      do {
        (result, customers) = try Analyzer.run(
          data, attributes: attributes, attributeRows: attributeRows, options: analysisOptions, isCancelled: { Task.isCancelled }
        ) { stage, share in
          progress(stage, share * 100)
        }
      } catch .cancelled {
        throw CancellationError()
      } catch {
        throw PermanentJobError(description: error.description)
      }
      try Task.checkCancellation()
      progress("report", 92)
      let reportLanguage = ReportLanguage(rawValue: (try? options.reportLanguage(defaultLanguage: language)) ?? "en") ?? .en
      var artifacts: [JobArtifact] = []
      for format in ReportFormat.allCases {
        artifacts.append(JobArtifact(
          format: format.rawValue, contentType: format.contentType,
          data: try ReportRenderer.render(result, format: format, language: reportLanguage, tenantName: tenantName)))
      }
      artifacts.append(JobArtifact(format: "csv", contentType: "text/csv", data: Data(customers.csv().utf8)))
      return artifacts
    }
  }
}

/// Reads datasets from local files (`fidelis analyze`): the id is the path.
public struct FileInput: JobInput {
  public init() {}

  public func read(datasetId: String, _ consume: ([UInt8]) throws -> Void) async throws {
    guard let handle = FileHandle(forReadingAtPath: datasetId) else { throw PermanentJobError(description: "cannot open \(datasetId)") }
    defer { try? handle.close() }
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
      try consume([UInt8](chunk))
    }
  }
}
