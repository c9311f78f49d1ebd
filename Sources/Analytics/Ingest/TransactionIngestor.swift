import Foundation

/// What a column of the transactions file means.
public enum ColumnRole: String, CaseIterable, Sendable, Codable {
  case customer, order, date, amount, quantity, price, category, promo

  /// Header names recognised for the role, compared after lower-casing and dropping
  /// accents, spaces and punctuation.
  var aliases: [String] {
    switch self {
    case .customer: ["customerid", "customer", "client", "clientid", "idclient", "userid", "customerno", "custid", "numeroclient"]
    case .order: ["orderid", "invoiceno", "invoice", "invoiceid", "order", "orderno", "ordernumber", "transactionid", "commande", "numerocommande", "idcommande"]
    case .date: ["orderdate", "invoicedate", "date", "purchasedate", "transactiondate", "timestamp", "datecommande", "dateachat"]
    case .amount: ["amount", "total", "revenue", "montant", "sales", "ordervalue", "value", "linetotal", "totalprice"]
    case .quantity: ["quantity", "qty", "quantite"]
    case .price: ["unitprice", "price", "prix", "prixunitaire"]
    case .category: ["category", "categorie", "productcategory", "famille"]
    case .promo: ["promo", "promotion", "ispromo", "onpromo", "promotional"]
    }
  }
}

/// Options of ingestion.
public struct IngestOptions: Sendable, Codable, Equatable {
  /// Role → header name, overriding the recognised names.
  public var columns: [String: String] = [:]
  /// Day/month order of slashed dates; nil: detected from the data (day first when nothing tells).
  public var dateOrder: DateOrder?

  public init(columns: [String: String] = [:], dateOrder: DateOrder? = nil) {
    self.columns = columns
    self.dateOrder = dateOrder
  }
}

/// Why a line of the file was not used. Raw values are the keys of `data_quality.rejected`.
public enum RejectReason: String, CaseIterable, Sendable, Codable {
  case missingCustomer = "missing customer"
  case badDate = "bad date"
  case badAmount = "bad amount"
  case zeroAmount = "zero amount"
  case returned = "return"
  case duplicateLine = "duplicate line"
  case orderOfAnotherCustomer = "order id of another customer"
  case shortLine = "missing fields"
}

/// Purchases read from a file, one entry per order, in contiguous arrays.
public struct TransactionData: Sendable {
  /// Customer identifiers; a customer's index is its position here.
  public var customerIDs: [String] = []
  /// Per order: customer index, day number (days since 1970-01-01), amount, promotion flag.
  public var orderCustomer: [Int32] = []
  public var orderDay: [Int32] = []
  public var orderAmount: [Double] = []
  public var orderPromo: [Bool] = []
  /// Category names, and the spend per customer and category (key: customer << 20 | category).
  public var categories: [String] = []
  public var categorySpend: [Int64: Double] = [:]
  /// Whether the file had a promotion column / a category column.
  public var hasPromo = false
  public var hasCategory = false
  /// What was read and what was left out.
  public var quality = DataQuality()

  public init() {}

  /// Number of orders.
  public var orderCount: Int { orderDay.count }
}

/// How a file was read: counts, reasons, detected format.
public struct DataQuality: Sendable, Codable, Equatable {
  public var rowsRead = 0
  public var rowsUsed = 0
  /// Rejected rows by reason (`RejectReason` raw values); reasons with no row are absent.
  public var rejected: [String: Int] = [:]
  public var encoding = ""
  public var separator = ""
  public var decimalMark = "."
  public var dateOrder = ""
  public var layout = ""
  /// Role → header name actually used.
  public var columns: [String: String] = [:]
  public var warnings: [String] = []
  /// Customer attribute rows read / matched to a customer of the transactions.
  public var customerRowsRead = 0
  public var customerRowsMatched = 0

  public init() {}

  /// Total rejected rows.
  public var rowsRejected: Int { rejected.values.reduce(0, +) }
}

/// Reads a transactions CSV in chunks and builds `TransactionData`. Memory grows with
/// customers and orders, not with lines or bytes.
public struct TransactionIngestor {
  private let options: IngestOptions
  private var tokenizer = CSVTokenizer()
  private var header: [String]?
  private var column: [ColumnRole: Int] = [:]
  private var isRetailExport = false
  private var customers = ByteInterner(capacity: 1 << 14)
  private var orderIDs = ByteInterner(capacity: 1 << 16)
  /// Orders keyed by (customer, date) when the file has no order column.
  private var dailyOrders: [Int64: Int32] = [:]
  private var orderRaw: [RawDate] = []
  private var orderLines: [Int32] = []
  private var seenLines = Set<UInt64>()
  private var categoryIndex: [String: Int] = [:]
  private var data = TransactionData()
  private var commaDecimals = 0
  private var pointDecimals = 0
  private var firstDayFirstLine: Int?
  private var firstMonthFirstLine: Int?
  private var allYearFirst = true
  private var maxFields = 0

  /// Creates an ingestor with the given options.
  public init(options: IngestOptions = IngestOptions()) {
    self.options = options
  }

  /// Reads the next chunk of the file.
  public mutating func consume(_ chunk: UnsafeBufferPointer<UInt8>) throws {
    var tokenizer = self.tokenizer
    defer { self.tokenizer = tokenizer }
    try tokenizer.consume(chunk) { try self.handle($0) }
  }

  /// Reads the next chunk of the file.
  public mutating func consume(_ chunk: [UInt8]) throws {
    try chunk.withUnsafeBufferPointer { try consume($0) }
  }

  /// Ends the file and returns what was read.
  public mutating func finish() throws -> TransactionData {
    var tokenizer = self.tokenizer
    try tokenizer.finish { try self.handle($0) }
    self.tokenizer = tokenizer
    guard header != nil else { throw CSVFormatError(line: 1, reason: "the file is empty") }
    return try resolve()
  }

  /// Reads a whole file held in memory.
  public static func ingest(_ bytes: [UInt8], options: IngestOptions = IngestOptions()) throws -> TransactionData {
    var ingestor = TransactionIngestor(options: options)
    try ingestor.consume(bytes)
    return try ingestor.finish()
  }

  private mutating func handle(_ record: CSVTokenizer.Record) throws {
    guard header != nil else {
      try readHeader(record)
      return
    }
    data.quality.rowsRead += 1
    if record.count == 1 && record.withField(0, { $0.isEmpty }) {
      data.quality.rowsRead -= 1  // an empty line
      return
    }
    if record.count < maxFields {
      reject(.shortLine)
      return
    }
    // An exact copy of an earlier line is a duplicate export, not a second purchase.
    var lineHash: UInt64 = 0xcbf2_9ce4_8422_2325
    for i in 0..<record.count {
      lineHash = record.withField(i) { fnv1a($0, seed: lineHash &+ UInt64(i)) }
    }
    if !seenLines.insert(lineHash).inserted {
      reject(.duplicateLine)
      return
    }
    guard let customerColumn = column[.customer], let dateColumn = column[.date] else { return }
    let hasCustomer = record.withField(customerColumn) { field in field.contains { $0 != 0x20 } }
    guard hasCustomer else {
      reject(.missingCustomer)
      return
    }
    guard let raw = record.withField(dateColumn, parseRawDate) else {
      reject(.badDate)
      return
    }
    var amount: Double
    var returned = false
    if let amountColumn = column[.amount] {
      guard let value = record.withField(amountColumn, { noteDecimal($0) }) else {
        reject(.badAmount)
        return
      }
      amount = value
      if let quantityColumn = column[.quantity], let q = record.withField(quantityColumn, { noteDecimal($0) }), q < 0 { returned = true }
    } else if let quantityColumn = column[.quantity], let priceColumn = column[.price] {
      guard let quantity = record.withField(quantityColumn, { noteDecimal($0) }), let price = record.withField(priceColumn, { noteDecimal($0) }) else {
        reject(.badAmount)
        return
      }
      amount = quantity * price
      if quantity < 0 { returned = true }
    } else {
      return
    }
    if amount < 0 { returned = true }
    if isRetailExport, let orderColumn = column[.order],
      record.withField(orderColumn, { $0.first == UInt8(ascii: "C") || $0.first == UInt8(ascii: "c") })
    {
      returned = true
    }
    if returned {
      reject(.returned)
      return
    }
    if amount == 0 {
      reject(.zeroAmount)
      return
    }
    let (customer, _) = record.withField(customerColumn) { field in
      customers.intern(trimmed(field))
    }
    // Find or open the order.
    let order: Int
    if let orderColumn = column[.order] {
      let (index, isNew) = record.withField(orderColumn) { orderIDs.intern(trimmed($0)) }
      if isNew {
        openOrder(customer: customer, raw: raw)
      } else if data.orderCustomer[index] != Int32(customer) {
        reject(.orderOfAnotherCustomer)
        return
      }
      order = index
    } else {
      let key = Int64(customer) << 32 | Int64(raw.year) << 16 | Int64(raw.first) << 8 | Int64(raw.second)
      if let existing = dailyOrders[key] {
        order = Int(existing)
      } else {
        order = data.orderCustomer.count
        dailyOrders[key] = Int32(order)
        openOrder(customer: customer, raw: raw)
      }
    }
    noteDateOrder(raw, line: record.line)
    data.orderAmount[order] += amount
    orderLines[order] += 1
    if let promoColumn = column[.promo], record.withField(promoColumn, parseFlag) {
      data.orderPromo[order] = true
    }
    if let categoryColumn = column[.category] {
      let name = record.string(categoryColumn, encoding: record.encoding)
      let category: Int
      if let known = categoryIndex[name] {
        category = known
      } else {
        category = data.categories.count
        categoryIndex[name] = category
        data.categories.append(name)
      }
      data.categorySpend[Int64(customer) << 20 | Int64(category), default: 0] += amount
    }
    data.quality.rowsUsed += 1
  }

  private mutating func openOrder(customer: Int, raw: RawDate) {
    data.orderCustomer.append(Int32(customer))
    data.orderAmount.append(0)
    data.orderPromo.append(false)
    orderRaw.append(raw)
    orderLines.append(0)
  }

  private mutating func reject(_ reason: RejectReason) {
    data.quality.rejected[reason.rawValue, default: 0] += 1
  }

  private mutating func noteDecimal(_ field: UnsafeBufferPointer<UInt8>) -> Double? {
    var comma = false
    var point = false
    for b in field {
      if b == UInt8(ascii: ",") { comma = true } else if b == UInt8(ascii: ".") { point = true }
    }
    if comma && !point { commaDecimals += 1 } else if point { pointDecimals += 1 }
    return parseDecimal(field)
  }

  private mutating func noteDateOrder(_ raw: RawDate, line: Int) {
    guard !raw.isYearFirst else { return }
    allYearFirst = false
    if raw.first > 12, firstDayFirstLine == nil { firstDayFirstLine = line }
    if raw.second > 12, firstMonthFirstLine == nil { firstMonthFirstLine = line }
  }

  private mutating func readHeader(_ record: CSVTokenizer.Record) throws {
    let encoding = record.encoding
    let names = (0..<record.count).map { record.string($0, encoding: encoding) }
    header = names
    maxFields = names.count
    let normalized = names.map(normalizeHeader)
    var mapping: [ColumnRole: Int] = [:]
    for (roleName, headerName) in options.columns {
      guard let role = ColumnRole(rawValue: roleName.lowercased()) else {
        throw CSVFormatError(line: record.line, reason: "unknown column role '\(roleName)' (roles: \(ColumnRole.allCases.map(\.rawValue).joined(separator: ", ")))")
      }
      guard let index = normalized.firstIndex(of: normalizeHeader(headerName)) else {
        throw CSVFormatError(line: record.line, reason: "no column named '\(headerName)' for \(roleName); the header has: \(names.joined(separator: ", "))")
      }
      mapping[role] = index
    }
    for role in ColumnRole.allCases where mapping[role] == nil {
      if let index = normalized.firstIndex(where: { role.aliases.contains($0) }), !mapping.values.contains(index) {
        mapping[role] = index
      }
    }
    guard mapping[.customer] != nil else {
      throw CSVFormatError(line: record.line, reason: "no customer column (expected one of customer_id, CustomerID, client…; or map it with --column customer=NAME); the header has: \(names.joined(separator: ", "))")
    }
    guard mapping[.date] != nil else {
      throw CSVFormatError(line: record.line, reason: "no date column (expected order_date, InvoiceDate, date…; or map it with --column date=NAME)")
    }
    guard mapping[.amount] != nil || (mapping[.quantity] != nil && mapping[.price] != nil) else {
      throw CSVFormatError(line: record.line, reason: "no amount column, nor quantity and unit price columns (or map one with --column amount=NAME)")
    }
    column = mapping
    let retail = ["invoiceno", "stockcode", "description", "quantity", "invoicedate", "unitprice", "customerid", "country"]
    isRetailExport = retail.allSatisfy(normalized.contains)
    let layout: String
    if isRetailExport {
      layout = "retail export (InvoiceNo, StockCode, …, CustomerID, Country)"
    } else if mapping[.order] != nil && mapping[.amount] != nil {
      layout = "orders (customer, order, date, amount)"
    } else if mapping[.order] == nil {
      layout = "daily purchases (customer, date, amount; one order per customer and day)"
    } else {
      layout = "custom"
    }
    data.quality.layout = layout
    data.quality.columns = Dictionary(uniqueKeysWithValues: mapping.map { ($0.key.rawValue, names[$0.value]) })
    data.quality.encoding = encoding.rawValue
    let separator = record.separator
    data.quality.separator = separator == 9 ? "tab" : String(UnicodeScalar(separator))
    data.hasPromo = mapping[.promo] != nil
    data.hasCategory = mapping[.category] != nil
  }

  private mutating func resolve() throws -> TransactionData {
    var order: DateOrder
    if let forced = options.dateOrder {
      order = forced
    } else if allYearFirst {
      order = .yearFirst
    } else if let dayLine = firstDayFirstLine, let monthLine = firstMonthFirstLine {
      throw CSVFormatError(
        line: max(dayLine, monthLine),
        reason: "dates mix day-first (line \(dayLine)) and month-first (line \(monthLine)) forms; pass the date order explicitly (--date-order dmy|mdy)")
    } else if firstMonthFirstLine != nil {
      order = .monthFirst
    } else {
      order = .dayFirst
      if firstDayFirstLine == nil {
        data.quality.warnings.append("every date could be day/month or month/day: read as day/month; pass --date-order mdy if wrong")
      }
    }
    data.quality.dateOrder = order.rawValue
    data.quality.decimalMark = commaDecimals > pointDecimals ? "," : "."
    data.orderDay = []
    data.orderDay.reserveCapacity(orderRaw.count)
    var keep = [Bool](repeating: true, count: orderRaw.count)
    var dropped = false
    for (i, raw) in orderRaw.enumerated() {
      if let day = raw.day(order: order) {
        data.orderDay.append(day)
      } else {
        data.orderDay.append(0)
        keep[i] = false
        dropped = true
        data.quality.rejected[RejectReason.badDate.rawValue, default: 0] += Int(orderLines[i])
        data.quality.rowsUsed -= Int(orderLines[i])
      }
    }
    if dropped {
      func filter<T>(_ values: [T]) -> [T] { zip(values, keep).compactMap { $1 ? $0 : nil } }
      data.orderCustomer = filter(data.orderCustomer)
      data.orderDay = filter(data.orderDay)
      data.orderAmount = filter(data.orderAmount)
      data.orderPromo = filter(data.orderPromo)
    }
    let encoding = tokenizer.encoding ?? .utf8
    data.customerIDs = (0..<customers.count).map { index in
      customers.key(index).withUnsafeBufferPointer { decodeText($0, encoding: encoding) }
    }
    return data
  }
}

/// Lower-cases, drops accents, spaces and punctuation: `Customer ID` → `customerid`.
func normalizeHeader(_ name: String) -> String {
  let folded = name.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
  return String(folded.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) && $0.isASCII }.map(Character.init))
}

@inline(__always)
func trimmed(_ field: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
  var start = field.startIndex
  var end = field.endIndex
  while start < end, field[start] == 0x20 { start += 1 }
  while end > start, field[end - 1] == 0x20 { end -= 1 }
  return UnsafeBufferPointer(rebasing: field[start..<end])
}
