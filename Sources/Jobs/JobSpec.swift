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

  /// The kind a request names; an empty name is an analysis.
  public init(named name: String) throws(InvalidJobOption) {
    guard let kind = name.isEmpty ? .analysis : JobKind(rawValue: name) else {
      throw InvalidJobOption(message: "unknown job kind '\(name.prefix(40))' (kinds: \(JobKind.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    self = kind
  }
}

/// A job option that is out of range or malformed; the message names the option.
public struct InvalidJobOption: Error, Equatable, Sendable {
  public var message: String
}

/// What a job is asked to do, checked: the one form a job takes between the wire and the
/// analysis. Each program builds it once where a request comes in (the coordinator at
/// submit, a worker at lease, `fidelis analyze` from its flags); `JobRunner` runs it.
public struct JobSpec: Sendable, Equatable {
  public var kind: JobKind
  /// How the transactions file is read.
  public var ingest: IngestOptions
  /// What the analysis computes.
  public var analysis: AnalysisOptions
  /// The language of the report's text.
  public var language: ReportLanguage
  /// The per-customer dataset to join, when the job names one.
  public var customersDatasetId: String?
  /// The succeeded analysis this one is compared with, when there is one.
  public var compareTo: String?

  public init(
    kind: JobKind, ingest: IngestOptions = IngestOptions(), analysis: AnalysisOptions = AnalysisOptions(), language: ReportLanguage = .en,
    customersDatasetId: String? = nil, compareTo: String? = nil
  ) {
    self.kind = kind
    self.ingest = ingest
    self.analysis = analysis
    self.language = language
    self.customersDatasetId = customersDatasetId
    self.compareTo = compareTo
  }

  /// The job a request asks for, every option checked: a value out of range or malformed
  /// is refused with a message naming it. Zero or empty fields take the defaults; the
  /// language and the currency, when the request has none, are the tenant's defaults.
  public init(kind: String, options: Fidelis_V1_JobOptions, defaultLanguage: String, defaultCurrency: String = "EUR") throws(InvalidJobOption) {
    var options = options
    if options.currency.isEmpty { options.currency = defaultCurrency }
    self.init(
      kind: try JobKind(named: kind), ingest: try options.checkedIngestOptions(), analysis: try options.checkedAnalysisOptions(),
      language: try ReportLanguage(checking: options.language.isEmpty ? defaultLanguage : options.language),
      customersDatasetId: options.customersDatasetID.isEmpty ? nil : options.customersDatasetID,
      compareTo: options.compareTo.isEmpty ? nil : options.compareTo)
    if compareTo != nil && self.kind != .analysis { throw InvalidJobOption(message: "compare_to applies to analysis jobs only") }
  }
}

/// A currency code as the service takes it (a tenant's default), in capitals.
public func checkedCurrency(_ code: String) throws(InvalidJobOption) -> String {
  let upper = code.uppercased()
  guard AnalysisOptions.isCurrencyCode(upper) else {
    throw InvalidJobOption(message: "currency must be an ISO 4217 code such as EUR (got '\(code.prefix(40))')")
  }
  return upper
}

extension JobSpec {
  /// The column roles a job's options may map, for the commands' help and errors.
  public static let columnRoles = ColumnRole.names
}

extension ReportLanguage {
  /// A language code as the service takes it (a tenant's default, a job's), any case;
  /// INVALID_ARGUMENT's message naming the languages otherwise.
  public init(checking code: String) throws(InvalidJobOption) {
    guard let language = ReportLanguage(rawValue: code.lowercased()) else {
      let known = ReportLanguage.allCases.map(\.rawValue).joined(separator: " or ")
      throw InvalidJobOption(message: "language must be \(known) (got '\(code.prefix(40))')")
    }
    self = language
  }
}

extension Fidelis_V1_JobOptions {
  /// The analysis options these job options ask for, checked.
  func checkedAnalysisOptions() throws(InvalidJobOption) -> AnalysisOptions {
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
    if holdoutDays != 0 { options.holdoutDays = Int(holdoutDays) }
    if !clvModel.isEmpty {
      guard let model = PurchaseModel(rawValue: clvModel.lowercased()) else {
        throw InvalidJobOption(message: "clv_model must be \(PurchaseModel.allCases.map(\.rawValue).joined(separator: " or ")) (got '\(clvModel.prefix(40))')")
      }
      options.purchaseModel = model
    }
    if monthlyDiscountRate != 0 { options.monthlyDiscountRate = monthlyDiscountRate }
    // As a tenant's default is taken: `usd` is USD.
    if !currency.isEmpty { options.currency = currency.uppercased() }
    options.thresholds.inactiveDays = options.atRiskDays
    do {
      try options.validate()
    } catch {
      throw InvalidJobOption(message: error.description)
    }
    return options
  }

  /// Column mapping and date order, checked.
  func checkedIngestOptions() throws(InvalidJobOption) -> IngestOptions {
    var ingest = IngestOptions()
    for (role, name) in columns {
      guard ColumnRole(rawValue: role.lowercased()) != nil else {
        throw InvalidJobOption(message: "unknown column role '\(role.prefix(40))' (roles: \(JobSpec.columnRoles))")
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

