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
  public var data: Data

  public init(format: ArtifactFormat, data: Data) {
    self.format = format
    self.data = data
  }

  /// The content type of its format.
  public var contentType: String { format.contentType }

  /// The files of an analysis: the report in each of `formats` (every file people read by
  /// default), the per-customer CSV and the customer groups index when asked for.
  public static func analysis(
    _ result: AnalysisResult, customers: CustomerResults, language: ReportLanguage, tenantName: String = "",
    formats: Set<ArtifactFormat> = Set(ArtifactFormat.reportFiles)
  ) throws -> [Artifact] {
    let wanted = ArtifactFormat.allCases.filter(formats.contains)
    let document = wanted.contains(.md) || wanted.contains(.html) ? ReportBuilder(result: result, language: language, tenantName: tenantName).document() : nil
    return try wanted.map { format in
      switch format {
      case .md, .html: page(document!, format)
      case .json: Artifact(format: format, data: try result.jsonData())
      case .csv: Artifact(format: format, data: customers.csvData())
      case .customerGroups: Artifact(format: format, data: CustomerGroupsIndex.data(of: customers))
      }
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
