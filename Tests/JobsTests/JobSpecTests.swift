import Analytics
import FidelisProto
import Foundation
import Reports
import Synchronization
import Testing

@testable import Jobs

/// A job request becomes a `JobSpec` once, with one precise error per bad option.
@Suite("Job specs")
struct JobSpecTests {
  @Test("empty options take the defaults; the job's language wins over the tenant's")
  func defaults() throws {
    let spec = try JobSpec(kind: "", options: Fidelis_V1_JobOptions(), defaultLanguage: "FR")
    #expect(spec == JobSpec(kind: .analysis, ingest: IngestOptions(), analysis: AnalysisOptions(), language: .fr, customersDatasetId: nil))
    let english = try JobSpec(kind: "profile", options: .with { $0.language = "en" }, defaultLanguage: "fr")
    #expect(english.kind == .profile && english.language == .en)
  }

  @Test("options reach the analysis and the ingestor")
  func mapped() throws {
    let spec = try JobSpec(
      kind: "analysis",
      options: .with {
        $0.clusters = 3
        $0.atRiskDays = 60
        $0.asOf = "2025-01-31"
        // In any case, as a tenant's default.
        $0.currency = "usd"
        $0.columns = ["Customer": "client"]
        $0.dateOrder = "MDY"
        $0.customersDatasetID = "ds_1"
      }, defaultLanguage: "en")
    #expect(spec.analysis.clusters == 3 && spec.analysis.atRiskDays == 60 && spec.analysis.lostDays == 180 && spec.analysis.currency == "USD")
    #expect(spec.analysis.thresholds.inactiveDays == 60 && spec.analysis.asOfDay == parseISODate("2025-01-31"))
    #expect(spec.ingest.columns == ["customer": "client"] && spec.ingest.dateOrder == .monthFirst)
    #expect(spec.customersDatasetId == "ds_1")
  }

  @Test("each bad option is refused with a message that names it", arguments: [
    ("kind", "unknown job kind 'sum'"),
    ("language", "language must be en or fr (got 'de')"),
    ("at_risk", "at_risk_days"),
    ("as_of", "as_of must be a date YYYY-MM-DD (got '31/01/2025')"),
    ("column", "unknown column role 'shoe'"),
    ("date_order", "date_order must be dmy, mdy or ymd (got 'ydm')"),
  ])
  func refused(option: String, message: String) {
    var options = Fidelis_V1_JobOptions()
    var kind = "analysis"
    switch option {
    case "kind": kind = "sum"
    case "language": options.language = "de"
    case "at_risk": options.atRiskDays = 3650
    case "as_of": options.asOf = "31/01/2025"
    case "column": options.columns = ["shoe": "size"]
    default: options.dateOrder = "ydm"
    }
    let error = #expect(throws: InvalidJobOption.self) { try JobSpec(kind: kind, options: options, defaultLanguage: "en") }
    #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
  }
}

/// `JobRunner` on local files, as `fidelis analyze` runs it.
@Suite("Job runner")
struct JobRunnerTests {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../ReportsTests/Fixtures")
  static var orders: FileSource { FileSource(path: fixtures.appendingPathComponent("shop-orders.csv").path) }
  static var customers: FileSource { FileSource(path: fixtures.appendingPathComponent("shop-customers.csv").path) }

  @Test("an analysis gives every format once; the customer file is joined")
  func analysis() async throws {
    let spec = JobSpec(kind: .analysis, language: .fr)
    let files = try await JobRunner.run(spec, inputs: JobInputs(transactions: Self.orders, customers: Self.customers), receivedDay: 30_000, progress: { _, _ in })
    #expect(files.map(\.format) == ArtifactFormat.reportFiles)
    let result = try AnalysisResult.fromJSON(files.first { $0.format == .json }!.data)
    #expect(result.dataQuality.customerRowsRead > 0 && result.insights.satisfaction != nil)
    #expect(String(decoding: files.first { $0.format == .md }!.data, as: UTF8.self).hasPrefix("# Rapport de fidélisation client"))
    let csv = String(decoding: files.first { $0.format == .csv }!.data, as: UTF8.self)
    #expect(csv.split(separator: "\n").count == result.customers + 1)
  }

  /// A file in memory, read in pieces of 1000 bytes; nil reads as a missing file.
  struct MemorySource: ByteSource {
    struct Missing: Error {}
    var bytes: Data?

    func read(_ consume: (UnsafeBufferPointer<UInt8>) throws -> Void) async throws {
      guard let bytes else { throw Missing() }
      for start in stride(from: 0, to: bytes.count, by: 1000) {
        try bytes[start..<min(start + 1000, bytes.count)].withUnsafeBytes { try consume($0.bindMemory(to: UInt8.self)) }
      }
    }
  }

  @Test("a later report of a series compares the same by the previous report's groups index as by its per-customer file, which stands in when the index is missing or damaged")
  func comparedByIndexOrFile() async throws {
    let earlier = try await JobRunner.run(
      JobSpec(kind: .analysis), inputs: JobInputs(transactions: Self.orders), receivedDay: 30_000, formats: Set(ArtifactFormat.allCases), progress: { _, _ in })
    #expect(earlier.map(\.format) == ArtifactFormat.allCases)
    let file = { (format: ArtifactFormat) in earlier.first { $0.format == format }!.data }
    var damaged = file(.customerGroups)
    damaged.removeLast(3)
    let sources: [(csv: Data?, groups: Data??)] = [
      (file(.csv), .some(file(.customerGroups))), (nil, .some(file(.customerGroups))), (file(.csv), .none), (file(.csv), .some(nil)), (file(.csv), .some(damaged)),
    ]
    var comparisons: [Comparison] = []
    for (csv, groups) in sources {
      let previous = PreviousReport(
        jobId: "job_a", json: MemorySource(bytes: file(.json)), customers: MemorySource(bytes: csv), groups: groups.map { MemorySource(bytes: $0) })
      let later = try await JobRunner.run(
        JobSpec(kind: .analysis), inputs: JobInputs(transactions: Self.orders, previous: previous, jobId: "job_b"), receivedDay: 30_000, formats: [.json],
        progress: { _, _ in })
      comparisons.append(try #require(try AnalysisResult.fromJSON(later[0].data).comparison))
    }
    #expect(comparisons.allSatisfy { $0 == comparisons[0] })
    #expect(comparisons[0].previousJob == "job_a" && comparisons[0].segmentMigration.rfm.counts.last!.reduce(0, +) == 0)
  }

  @Test("a profile speaks the job's language and has no customer CSV", arguments: ReportLanguage.allCases)
  func profile(language: ReportLanguage) async throws {
    let files = try await JobRunner.run(JobSpec(kind: .profile, language: language), inputs: JobInputs(transactions: Self.orders), receivedDay: 30_000, progress: { _, _ in })
    #expect(files.map(\.format) == [.md, .html, .json])
    let md = String(decoding: files[0].data, as: UTF8.self)
    #expect(md.hasPrefix(language == .fr ? "# Profil du fichier" : "# Dataset profile"))
    let profile = try JSONDecoder().decode(DatasetProfile.self, from: files[2].data, snakeCase: true)
    #expect(md.contains(NumberStyle(language: language, currency: "").count(profile.rows)))
  }

  @Test("reading reports its progress by the share of bytes read, then the analysis takes over; one format when asked for one")
  func readingProgress() async throws {
    // About 5 MB: five chunks of 1 MiB.
    var csv = "customer_id,order_id,order_date,amount\n"
    for i in 0..<120_000 { csv += "C\(i % 9000),O\(i),2024-\(String(format: "%02d", 1 + i % 12))-\(String(format: "%02d", 1 + i % 28)),\(10 + i % 90).50\n" }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("fidelis-\(UUID().uuidString).csv")
    try Data(csv.utf8).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let source = FileSource(path: file.path)
    #expect(source.byteCount == csv.utf8.count)
    let seen = Mutex<[(String, Double)]>([])
    let files = try await JobRunner.run(
      JobSpec(kind: .analysis), inputs: JobInputs(transactions: source), receivedDay: 30_000, formats: [.json],
      progress: { stage, percent in seen.withLock { $0.append((stage, percent)) } })
    #expect(files.map(\.format) == [.json])
    let steps = seen.withLock { $0 }
    let reading = steps.filter { $0.0 == "reading" }.map(\.1)
    #expect(reading.first == 1 && reading.count >= 4, "\(reading)")
    #expect(reading == reading.sorted() && (reading.last ?? 0) <= 29)
    let afterReading = steps.drop { $0.0 == "reading" }
    #expect(afterReading.first?.0 == "customers" && afterReading.first?.1 == 30)
  }

  @Test("a missing file and a file that is not a CSV fail for good, saying why")
  func permanentFailures() async throws {
    let missing = await #expect(throws: PermanentJobError.self) {
      try await JobRunner.run(JobSpec(kind: .profile), inputs: JobInputs(transactions: FileSource(path: "/no/such.csv")), progress: { _, _ in })
    }
    #expect(missing?.description == "cannot read /no/such.csv: No such file or directory")
    let binary = FileManager.default.temporaryDirectory.appendingPathComponent("fidelis-\(UUID().uuidString).csv")
    try Data([0, 1, 2, 0xFF, 0xFE, 0]).write(to: binary)
    defer { try? FileManager.default.removeItem(at: binary) }
    let unreadable = await #expect(throws: PermanentJobError.self) {
      try await JobRunner.run(JobSpec(kind: .analysis), inputs: JobInputs(transactions: FileSource(path: binary.path)), progress: { _, _ in })
    }
    #expect(unreadable?.description.hasPrefix("the file cannot be read") == true)
  }
}

extension JSONDecoder {
  func decode<T: Decodable>(_ type: T.Type, from data: Data, snakeCase: Bool) throws -> T {
    if snakeCase { keyDecodingStrategy = .convertFromSnakeCase }
    return try decode(type, from: data)
  }
}
