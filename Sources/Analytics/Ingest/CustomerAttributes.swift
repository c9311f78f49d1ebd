import Foundation

/// Optional facts about one customer, from the per-customer file.
public struct CustomerAttributes: Sendable, Equatable {
  /// Number of contacts with customer service.
  public var serviceContacts: Int?
  /// Satisfaction score, 1 (worst) to 5 (best).
  public var satisfaction: Double?
  /// Day number of the sign-up date.
  public var signupDay: Int?

  public init(serviceContacts: Int? = nil, satisfaction: Double? = nil, signupDay: Int? = nil) {
    self.serviceContacts = serviceContacts
    self.satisfaction = satisfaction
    self.signupDay = signupDay
  }
}

/// Reads the per-customer file: `customer_id` plus any of `service_contacts`,
/// `satisfaction` (1–5) and `signup_date`. Lines with an unusable value keep the other values.
public struct CustomerAttributesIngestor {
  private var tokenizer = CSVTokenizer()
  /// Refuses a compressed export, a workbook or UTF-16 text by what it is.
  private var kindCheck = FileKindCheck()
  private var columns: (customer: Int, contacts: Int?, satisfaction: Int?, signup: Int?)?
  private var result: [String: CustomerAttributes] = [:]
  private var rows = 0
  private var problems: [String: Int] = [:]

  /// Creates an empty ingestor.
  public init() {}

  /// Reads the next chunk.
  public mutating func consume(_ chunk: UnsafeBufferPointer<UInt8>) throws {
    try kindCheck.observe(chunk)
    var tokenizer = self.tokenizer
    defer { self.tokenizer = tokenizer }
    lineEnds.observe(chunk)
    // A CR at the end of the first chunk of a CR-only file was read as part of CR LF: rare
    // enough (one position in a megabyte) to leave.
    if lineEnds.areCarriageReturns {
      try LineEnds.converted(chunk).withUnsafeBufferPointer { buffer in
        try tokenizer.consume(buffer) { try self.handle($0) }
      }
    } else {
      try tokenizer.consume(chunk) { try self.handle($0) }
    }
  }

  /// Reads the next chunk.
  public mutating func consume(_ chunk: [UInt8]) throws {
    try chunk.withUnsafeBufferPointer { try consume($0) }
  }

  /// How the file ends its lines.
  private var lineEnds = LineEnds()

  /// Ends the file: the attributes by customer id, rows read, and counts of unusable values.
  public mutating func finish() throws -> (attributes: [String: CustomerAttributes], rows: Int, problems: [String: Int]) {
    try kindCheck.finish()
    var tokenizer = self.tokenizer
    try tokenizer.finish { try self.handle($0) }
    self.tokenizer = tokenizer
    guard columns != nil else { throw CSVFormatError(line: 1, reason: "the customer file is empty") }
    return (result, rows, problems)
  }

  /// Reads a whole customer file held in memory.
  public static func ingest(_ bytes: [UInt8]) throws -> (attributes: [String: CustomerAttributes], rows: Int, problems: [String: Int]) {
    var ingestor = CustomerAttributesIngestor()
    try ingestor.consume(bytes)
    return try ingestor.finish()
  }

  private mutating func handle(_ record: CSVTokenizer.Record) throws {
    guard let columns else {
      let names = (0..<record.count).map { normalizeHeader(record.string($0, encoding: record.encoding)) }
      guard let customer = ColumnRole.customer.column(in: names) else {
        throw CSVFormatError(line: record.line, reason: "the customer file has no customer_id column")
      }
      let contacts = names.firstIndex(where: { ["servicecontacts", "contacts", "supportcontacts", "contactsservice", "servicecontact"].contains($0) })
      let satisfaction = names.firstIndex(where: { ["satisfaction", "csat", "satisfactionscore", "score"].contains($0) })
      let signup = names.firstIndex(where: { ["signupdate", "signup", "registrationdate", "createdat", "dateinscription"].contains($0) })
      guard contacts != nil || satisfaction != nil || signup != nil else {
        throw CSVFormatError(line: record.line, reason: "the customer file has none of service_contacts, satisfaction, signup_date")
      }
      self.columns = (customer, contacts, satisfaction, signup)
      return
    }
    let id = record.string(columns.customer, encoding: record.encoding)
    guard !id.isEmpty else {
      problems["missing customer", default: 0] += 1
      return
    }
    rows += 1
    var attributes = result[id] ?? CustomerAttributes()
    if let c = columns.contacts {
      if let value = record.withField(c, parseInteger), value >= 0 { attributes.serviceContacts = value } else { problems["bad service_contacts", default: 0] += 1 }
    }
    if let c = columns.satisfaction {
      if let value = record.withField(c, parseDecimal), (1...5).contains(value) { attributes.satisfaction = value } else { problems["satisfaction outside 1–5", default: 0] += 1 }
    }
    if let c = columns.signup {
      if let raw = record.withField(c, parseRawDate), let day = raw.day(order: .dayFirst) { attributes.signupDay = Int(day) } else { problems["bad signup_date", default: 0] += 1 }
    }
    result[id] = attributes
  }
}
