import Analytics
import Foundation

/// The formats a job's files come in. Every file is made in `Artifact`'s functions below,
/// and nowhere else.
public enum ArtifactFormat: String, CaseIterable, Sendable {
  /// The report for reading (Markdown).
  case md
  /// The same report as one self-contained page.
  case html
  /// Every figure, for machines (`fidelis.report/v1` for analyses; the profile's figures).
  case json
  /// One row per customer (analyses only): the campaign export.
  case csv
  /// Each customer's groups, compact, for the next report of the series to compare with
  /// (`CustomerGroupsIndex`; analyses only). Not a file for readers: a leading underscore
  /// marks a report's internal files, which the service keeps and deletes with the report
  /// but does not list or serve.
  case customerGroups = "_groups"

  /// The formats people read and ask for, in the order they are written.
  public static let reportFiles: [ArtifactFormat] = [.md, .html, .json, .csv]

  /// The HTTP content type, stored with the file.
  public var contentType: String {
    switch self {
    case .md: "text/markdown; charset=utf-8"
    case .html: "text/html; charset=utf-8"
    case .json: "application/json"
    case .csv: "text/csv; charset=utf-8"
    case .customerGroups: "application/vnd.fidelis.customer-groups"
    }
  }
}

/// One file a job produced.
public struct Artifact: Sendable, Equatable {
  public var format: ArtifactFormat
  /// The file, unless it was made in `pieces`.
  public var data: Data
  /// The file as compressed pieces, when it was made with an `ArtifactPiecing` and is
  /// longer than one piece; `data` is then empty.
  public var pieces: [ArtifactPiece]?

  public init(format: ArtifactFormat, data: Data) {
    self.format = format
    self.data = data
  }

  /// A file made in compressed pieces.
  public init(format: ArtifactFormat, pieces: [ArtifactPiece]) {
    self.format = format
    self.data = Data()
    self.pieces = pieces
  }

  /// The content type of its format.
  public var contentType: String { format.contentType }

  /// The files of an analysis: the report in each of `formats` (every file people read by
  /// default), the per-customer CSV and the customer groups index when asked for. The
  /// per-customer CSV is made as `perCustomerCSV` says: whole, in compressed pieces, or
  /// written to a stream and not kept.
  public static func analysis(
    _ result: AnalysisResult, customers: CustomerResults, language: ReportLanguage, tenantName: String = "",
    formats: Set<ArtifactFormat> = Set(ArtifactFormat.reportFiles), perCustomerCSV: PerCustomerCSV = .whole
  ) throws -> [Artifact] {
    let wanted = ArtifactFormat.allCases.filter(formats.contains)
    let document = wanted.contains(.md) || wanted.contains(.html) ? ReportBuilder(result: result, language: language, tenantName: tenantName).document() : nil
    return try wanted.map { format in
      switch format {
      case .md, .html: page(document!, format)
      case .json: Artifact(format: format, data: try result.jsonData())
      case .csv: perCustomerFile(customers, perCustomerCSV)
      case .customerGroups: Artifact(format: format, data: CustomerGroupsIndex.data(of: customers))
      }
    }
  }

  /// The per-customer CSV, made as `how` says.
  private static func perCustomerFile(_ customers: CustomerResults, _ how: PerCustomerCSV) -> Artifact {
    switch how {
    case .whole:
      return Artifact(format: .csv, data: customers.csvData())
    case .pieces(let piecing):
      return piecing.artifact(.csv) { customers.writeCSV($0) }
    case .streamed(let write):
      customers.writeCSV(write)
      return Artifact(format: .csv, data: Data())
    }
  }

  /// The files of a dataset profile: its page in Markdown and HTML, and its figures.
  public static func profile(_ profile: DatasetProfile, language: ReportLanguage) throws -> [Artifact] {
    let document = ProfileBuilder(profile: profile, language: language).document()
    return try ArtifactFormat.reportFiles.compactMap { format in
      switch format {
      case .md, .html: page(document, format)
      case .json: Artifact(format: format, data: try profile.jsonData())
      case .csv, .customerGroups: nil
      }
    }
  }

  /// A document as a page: Markdown, or HTML for any other format.
  static func page(_ document: ReportDocument, _ format: ArtifactFormat) -> Artifact {
    let text = format == .md ? ReportRenderer.markdown(document) : ReportRenderer.html(document)
    return Artifact(format: format, data: Data(text.utf8))
  }
}

/// One piece of a file made in pieces: `size` bytes, compressed.
public struct ArtifactPiece: Sendable, Equatable {
  public var size: Int
  public var compressed: Data

  public init(size: Int, compressed: Data) {
    self.size = size
    self.compressed = compressed
  }
}

/// How the per-customer CSV, the one report file that grows with the customers (80 MB at a
/// million), is made.
public enum PerCustomerCSV: Sendable {
  /// Whole, in memory.
  case whole
  /// In compressed pieces as it is written, never whole: the worker, which stores them.
  case pieces(ArtifactPiecing)
  /// Handed block by block, in order, to the function as it is written, and not kept: its
  /// artifact holds no bytes. `fidelis analyze --format csv` writes it so to its output.
  case streamed(@Sendable (UnsafeBufferPointer<UInt8>) -> Void)
}

/// How to make a large file in pieces as it is written: pieces of `pieceBytes` (the last
/// one shorter), each compressed by `compress` on every core, a few at a time. The worker
/// makes its per-customer CSV so and hands the pieces over as they are: the whole file
/// (274 MB for 2 M customers with e-mail addresses for identifiers) is never held.
public struct ArtifactPiecing: Sendable {
  public let pieceBytes: Int
  public let compress: @Sendable (Data) -> Data

  public init(pieceBytes: Int, compress: @escaping @Sendable (Data) -> Data) {
    precondition(pieceBytes > 0)
    self.pieceBytes = pieceBytes
    self.compress = compress
  }

  /// The file that `write` writes, a block at a time: in pieces when it is longer than one,
  /// else whole.
  public func artifact(_ format: ArtifactFormat, write: ((UnsafeBufferPointer<UInt8>) -> Void) -> Void) -> Artifact {
    var pieces: [ArtifactPiece] = []
    var full: [Data] = []
    var current = Data()
    let batch = max(1, ProcessInfo.processInfo.activeProcessorCount) * 2
    func compressFull() {
      let made = UnsafeMutableBufferPointer<ArtifactPiece>.allocate(capacity: full.count)
      defer { made.deallocate() }
      made.initialize(repeating: ArtifactPiece(size: 0, compressed: Data()))
      defer { _ = made.deinitialize() }
      nonisolated(unsafe) let out = made
      let (raw, compress) = (full, compress)
      DispatchQueue.concurrentPerform(iterations: raw.count) { k in
        out[k] = ArtifactPiece(size: raw[k].count, compressed: compress(raw[k]))
      }
      pieces.append(contentsOf: made)
      full = []
    }
    write { block in
      var rest = block
      while !rest.isEmpty {
        let taken = min(pieceBytes - current.count, rest.count)
        current.append(UnsafeBufferPointer(rebasing: rest[..<taken]))
        rest = UnsafeBufferPointer(rebasing: rest[taken...])
        if current.count == pieceBytes {
          full.append(current)
          current = Data()
          if full.count == batch { compressFull() }
        }
      }
    }
    // No longer than one piece: whole, as any small file.
    if pieces.isEmpty && full.count + (current.isEmpty ? 0 : 1) <= 1 { return Artifact(format: format, data: full.first ?? current) }
    if !current.isEmpty { full.append(current) }
    compressFull()
    return Artifact(format: format, pieces: pieces)
  }
}
