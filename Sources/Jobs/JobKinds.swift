import Analytics
import FidelisProto
import Foundation
import Reports

/// The job kinds the service runs.
public enum JobKind: String, CaseIterable, Sendable {
  /// Reads the dataset and reports rows, customers, orders, date range, revenue, rejected rows.
  case profile
  /// The whole analysis and its report (Markdown, HTML, JSON, customer CSV).
  case analysis
}

/// A job option that is out of range or malformed; the message names the option.
public struct InvalidJobOption: Error, Equatable, Sendable {
  public var message: String
}

extension Fidelis_V1_JobOptions {
  /// The analysis options these job options ask for, checked: any out-of-range value is
  /// refused with a message naming it. Zero or empty fields take the defaults.
  public func analysisOptions(defaultLanguage: String = "en") throws(InvalidJobOption) -> AnalysisOptions {
    var options = AnalysisOptions()
    if clusters != 0 { options.clusters = Int(clusters) }
    if !asOf.isEmpty {
      guard let day = parseISODate(asOf) else { throw InvalidJobOption(message: "as_of must be a date YYYY-MM-DD (got '\(asOf.prefix(40))')") }
      options.asOfDay = day
    }
    if seed != 0 { options.seed = seed }
    if atRiskDays != 0 { options.atRiskDays = Int(atRiskDays) }
    if lostDays != 0 {
      options.lostDays = Int(lostDays)
    } else if options.atRiskDays >= options.lostDays {
      options.lostDays = min(options.atRiskDays * 2, AnalysisOptions.maxDays)
    }
    if clvMonths != 0 { options.clvMonths = Int(clvMonths) }
    if monthlyDiscountRate != 0 { options.monthlyDiscountRate = monthlyDiscountRate }
    if !currency.isEmpty { options.currency = currency }
    options.thresholds.inactiveDays = options.atRiskDays
    do {
      try options.validate()
    } catch {
      throw InvalidJobOption(message: error.description)
    }
    _ = try reportLanguage(defaultLanguage: defaultLanguage)
    _ = try ingestOptions()
    return options
  }

  /// The report language: the job's, else the tenant's default.
  public func reportLanguage(defaultLanguage: String) throws(InvalidJobOption) -> String {
    try checkedLanguage(language.isEmpty ? defaultLanguage : language)
  }

  /// Column mapping and date order, checked.
  public func ingestOptions() throws(InvalidJobOption) -> IngestOptions {
    var ingest = IngestOptions()
    for (role, name) in columns {
      guard ColumnRole(rawValue: role.lowercased()) != nil else {
        throw InvalidJobOption(message: "unknown column role '\(role.prefix(40))' (roles: \(ColumnRole.allCases.map(\.rawValue).joined(separator: ", ")))")
      }
      guard !name.isEmpty else { throw InvalidJobOption(message: "column \(role) needs a header name") }
      guard name.utf8.count <= 200, !name.contains("\0") else {
        throw InvalidJobOption(message: "the header name of column \(role) must have at most 200 bytes and no NUL character")
      }
      ingest.columns[role.lowercased()] = name
    }
    if !dateOrder.isEmpty {
      guard let order = DateOrder(rawValue: dateOrder.lowercased()) else { throw InvalidJobOption(message: "date_order must be dmy, mdy or ymd (got '\(dateOrder.prefix(40))')") }
      ingest.dateOrder = order
    }
    return ingest
  }
}

/// The figures of a `profile` job.
public struct DatasetProfile: Codable, Sendable, Equatable {
  public var rows: Int
  public var rowsUsed: Int
  public var customers: Int
  public var orders: Int
  public var firstDate: String?
  public var lastDate: String?
  public var revenue: Double
  public var rejected: [String: Int]
  public var layout: DataLayout
  public var encoding: String
  public var separator: String
  public var dateOrder: String
  public var columns: [String: String]

  /// The profile of purchases already read.
  public init(_ data: TransactionData) {
    rows = data.quality.rowsRead
    rowsUsed = data.quality.rowsUsed
    customers = Set(data.orderCustomer).count
    orders = data.orderCount
    firstDate = data.orderDay.min().map { isoDate(Int($0)) }
    lastDate = data.orderDay.max().map { isoDate(Int($0)) }
    revenue = data.orderAmount.reduce(0, +)
    rejected = data.quality.rejected
    layout = data.quality.layout
    encoding = data.quality.encoding
    separator = data.quality.separator
    dateOrder = data.quality.dateOrder
    columns = data.quality.columns
  }

  /// JSON with snake_case keys.
  public func jsonData() throws -> Data {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(self)
  }

  /// A short Markdown page.
  public func markdown() -> String {
    var lines = [
      "# Dataset profile", "",
      "| Figure | Value |", "|---|---|",
      "| Rows read | \(rows) |", "| Rows used | \(rowsUsed) |", "| Customers | \(customers) |", "| Orders | \(orders) |",
      "| First order | \(firstDate ?? "-") |", "| Last order | \(lastDate ?? "-") |", "| Revenue | \(String(format: "%.2f", revenue)) |",
      "| Layout | \(layout.rawValue) |", "| Encoding | \(encoding) |", "| Separator | `\(separator)` |", "| Date order | \(dateOrder) |", "",
    ]
    if !rejected.isEmpty {
      lines += ["## Rejected rows", "", "| Reason | Rows |", "|---|---|"]
      lines += rejected.sorted { $0.key < $1.key }.map { "| \($0.key) | \($0.value) |" }
    }
    return lines.joined(separator: "\n") + "\n"
  }
}

/// A report language code as the service takes it (a tenant's default, a job's): one of the
/// languages Reports has strings for, lower-cased; INVALID_ARGUMENT's message otherwise.
public func checkedLanguage(_ code: String) throws(InvalidJobOption) -> String {
  guard let language = ReportLanguage(rawValue: code.lowercased()) else {
    let known = ReportLanguage.allCases.map(\.rawValue).joined(separator: " or ")
    throw InvalidJobOption(message: "language must be \(known) (got '\(code.prefix(40))')")
  }
  return language.rawValue
}
