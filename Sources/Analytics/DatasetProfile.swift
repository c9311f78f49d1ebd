import Foundation

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
  /// `DataQuality.furtherLineItems`.
  public var furtherLineItems: Int?
  /// `DataQuality.salesNotSettled`.
  public var salesNotSettled: [String: Int]?
  /// Return lines netted against the purchases.
  public var returns: ReturnSummary
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
    furtherLineItems = data.quality.furtherLineItems
    salesNotSettled = data.quality.salesNotSettled
    returns = data.quality.returns
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
}
