import Foundation

/// The columns of the per-customer CSV (a job's `csv` file), in file order: the one
/// definition that the writer below and the segment export's reader share.
public enum CustomerColumn: String, CaseIterable, Sendable {
  case customerId = "customer_id"
  case segment
  case lifecycleGroup = "lifecycle_group"
  case cluster
  case clusterName = "cluster_name"
  case recencyDays = "recency_days"
  case frequency
  case monetary
  case averageOrderValue = "average_order_value"
  case rScore = "r_score"
  case fScore = "f_score"
  case mScore = "m_score"
  case probabilityAlive = "probability_alive"
  case expectedPurchases = "expected_purchases"
  case predictedCLV = "predicted_clv"
}

extension CustomerResults {
  /// CSV with a header: one row per customer, the columns of `CustomerColumn`.
  public func csv() -> String { String(decoding: csvData(), as: UTF8.self) }

  /// The same CSV as bytes, written straight into one buffer: a million customers in a
  /// fraction of a second, where a string per field and `String(format:)` took several.
  public func csvData() -> Data {
    var result = Data()
    result.reserveCapacity(64 + table.count * 90)
    writeCSV { result.append(contentsOf: $0) }
    return result
  }

  /// The same CSV handed to `sink` a block at a time, in order, so that a caller may keep
  /// the file in pieces (the worker deflates them as they come) instead of whole: 2 M
  /// customers with e-mail addresses for identifiers make a 274 MB file. Blocks of rows
  /// are written on every core, a few at a time.
  public func writeCSV(_ sink: (UnsafeBufferPointer<UInt8>) -> Void) {
    let header = Array((CustomerColumn.allCases.map(\.rawValue).joined(separator: ",") + "\n").utf8)
    header.withUnsafeBufferPointer(sink)
    let labels = Labels(clusterNames: clusterNames)
    let (rowsPerBlock, blocks) = (16_384, (table.count + 16_383) / 16_384)
    let batch = max(1, activeCores) * 2
    var parts = [[UInt8]](repeating: [], count: batch)
    var first = 0
    while first < blocks {
      let count = min(batch, blocks - first)
      parts.withUnsafeMutableBufferPointer { parts in
        concurrentChunks(count) { k in
          let rows = (first + k) * rowsPerBlock..<min(table.count, (first + k + 1) * rowsPerBlock)
          var out: [UInt8] = []
          out.reserveCapacity(rows.count * 100)
          appendRows(rows, labels: labels, to: &out)
          parts[k] = out
        }
      }
      for k in 0..<count {
        parts[k].withUnsafeBufferPointer(sink)
        parts[k] = []
      }
      first += count
    }
  }

  /// The names written in the rows, as bytes, indexed as the rows index them.
  private struct Labels {
    /// By `RFMSegment.index`, `LifecycleGroup.index` and cluster number.
    let segments: [[UInt8]]
    let groups: [[UInt8]]
    let clusters: [[UInt8]]
    /// The longest of them.
    let longest: Int

    init(clusterNames: [ClusterName]) {
      segments = RFMSegment.allCases.sorted { $0.index < $1.index }.map { Array(csvField($0.rawValue).utf8) }
      groups = LifecycleGroup.allCases.sorted { $0.index < $1.index }.map { Array($0.rawValue.utf8) }
      clusters = clusterNames.map { Array($0.description.utf8) }
      longest = (segments + groups + clusters).map(\.count).max() ?? 0
    }
  }

  /// Appends the rows of the customers in `rows`, each ended by a line feed, in the order
  /// of `CustomerColumn`. Each row is written through a pointer into a scratch buffer that
  /// has room for its longest form, and the buffer appended to `out` when nearly full:
  /// appending to the array byte by byte checked its capacity and uniqueness at each of
  /// 80 MB of bytes, and looking the names up by enum hashed each one.
  private func appendRows(_ rows: Range<Int>, labels: Labels, to out: inout [UInt8]) {
    // The columns taken once: read through `self`, each access may retain and release them.
    let table = table
    let (rScores, fScores, mScores) = (scores.r, scores.f, scores.m)
    let (segment, group, cluster) = (segment, group, cluster)
    let (alive, purchases, clv) = (probabilityAlive, expectedPurchases, predictedCLV)
    // Five numbers with decimals, five integers, three names and separators; the
    // identifier's room is added per row.
    let rowRoom = 5 * ByteCursor.fixedRoom(digits: 4) + 5 * ByteCursor.integerRoom + 3 * labels.longest + 16
    var scratch = [UInt8](repeating: 0, count: 1 << 20)
    var used = 0
    func flush() {
      scratch.withUnsafeBufferPointer { out.append(contentsOf: $0[..<used]) }
      used = 0
    }
    for i in rows {
      // The identifier's bytes as they are stored, when they need no quotes: most do.
      let plainLength = table.ids.withUTF8(i) { isPlainCSVField($0) ? $0.count : nil }
      let plain = plainLength != nil
      let quoted = plain ? [] : Array(csvField(table.ids[i]).utf8)
      let room = rowRoom + (plainLength ?? quoted.count)
      if used + room > scratch.count {
        flush()
        if room > scratch.count { scratch = [UInt8](repeating: 0, count: room) }
      }
      used = scratch.withUnsafeMutableBufferPointer { buffer -> Int in
        var cursor = ByteCursor(buffer.baseAddress! + used)
        let comma = UInt8(ascii: ",")
        if plain { table.ids.withUTF8(i) { cursor.write($0) } } else { quoted.withUnsafeBufferPointer { cursor.write($0) } }
        cursor.write(comma)
        labels.segments[segment[i].index].withUnsafeBufferPointer { cursor.write($0) }
        cursor.write(comma)
        labels.groups[group[i].index].withUnsafeBufferPointer { cursor.write($0) }
        cursor.write(comma)
        cursor.writeInteger(Int64(cluster[i]))
        cursor.write(comma)
        labels.clusters[Int(cluster[i])].withUnsafeBufferPointer { cursor.write($0) }
        cursor.write(comma)
        cursor.writeInteger(Int64(table.recency[i]))
        cursor.write(comma)
        cursor.writeInteger(Int64(table.frequency[i]))
        cursor.write(comma)
        cursor.writeFixed(table.monetary[i], digits: 2)
        cursor.write(comma)
        cursor.writeFixed(table.averageOrderValue(i), digits: 2)
        cursor.write(comma)
        cursor.writeInteger(Int64(rScores[i]))
        cursor.write(comma)
        cursor.writeInteger(Int64(fScores[i]))
        cursor.write(comma)
        cursor.writeInteger(Int64(mScores[i]))
        cursor.write(comma)
        cursor.writeFixed(alive[i], digits: 4)
        cursor.write(comma)
        cursor.writeFixed(purchases[i], digits: 4)
        cursor.write(comma)
        cursor.writeFixed(clv[i], digits: 2)
        cursor.write(UInt8(ascii: "\n"))
        return cursor.position - buffer.baseAddress!
      }
    }
    flush()
  }
}

/// Whether `csvField` leaves the text as it is: no leading character a spreadsheet reads as
/// a formula, and nothing to quote.
func isPlainCSVField(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
  guard let first = bytes.first else { return true }
  if first == UInt8(ascii: "=") || first == UInt8(ascii: "+") || first == UInt8(ascii: "-") || first == UInt8(ascii: "@")
    || first == UInt8(ascii: "\t") || first == UInt8(ascii: "\r")
  {
    return false
  }
  for byte in bytes where byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
    return false
  }
  return true
}

/// A text field of a CSV export: neutralised for spreadsheets, then quoted when needed.
///
/// A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to
/// Excel, LibreOffice and Google Sheets (`=cmd|' /C calc'!A0` runs a program): such a value
/// gets a leading apostrophe, which spreadsheets show as text and do not evaluate (OWASP,
/// "CSV Injection").
func csvField(_ text: String) -> String {
  var value = text
  if let first = value.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) { value = "'" + value }
  let needsQuotes = value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
  return needsQuotes ? "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : value
}

/// `value` with `digits` decimals, as `String(format: "%.<digits>f")` writes it.
func fixed(_ value: Double, _ digits: Int) -> String {
  var out: [UInt8] = []
  appendFixed(value, digits: digits, to: &out)
  return String(decoding: out, as: UTF8.self)
}

/// Powers of ten that a Double holds exactly.
private let exactPowersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

/// Appends `value` with `digits` decimals exactly as C's `printf("%.*f")` does.
func appendFixed(_ value: Double, digits: Int, to out: inout [UInt8]) {
  append(room: ByteCursor.fixedRoom(digits: digits), to: &out) { $0.writeFixed(value, digits: digits) }
}

/// Appends the decimal digits of `value`.
func appendInteger(_ value: Int64, to out: inout [UInt8]) {
  append(room: ByteCursor.integerRoom, to: &out) { $0.writeInteger(value) }
}

/// Appends what `write` writes, at most `room` bytes, through a cursor on the stack.
private func append(room: Int, to out: inout [UInt8], _ write: (inout ByteCursor) -> Void) {
  withUnsafeTemporaryAllocation(of: UInt8.self, capacity: room) { buffer in
    var cursor = ByteCursor(buffer.baseAddress!)
    write(&cursor)
    out.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress, count: cursor.position - buffer.baseAddress!))
  }
}

/// Writes bytes at a position in memory that the caller has made room in, each write
/// bounded (`integerRoom`, `fixedRoom`): a writer that checks for room once a row, not once
/// a byte.
struct ByteCursor {
  /// Where the next byte goes.
  private(set) var position: UnsafeMutablePointer<UInt8>

  init(_ position: UnsafeMutablePointer<UInt8>) { self.position = position }

  /// The most bytes `writeInteger` writes: a sign and 19 digits.
  static let integerRoom = 20

  /// The most bytes `writeFixed` writes with `digits` decimals: a sign, the 309 digits of
  /// the largest Double, a point and the decimals ("-inf" and "nan" are shorter).
  static func fixedRoom(digits: Int) -> Int { 311 + max(0, digits) }

  @inline(__always) mutating func write(_ byte: UInt8) {
    position.initialize(to: byte)
    position += 1
  }

  @inline(__always) mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let base = bytes.baseAddress else { return }
    position.initialize(from: base, count: bytes.count)
    position += bytes.count
  }

  /// Writes the decimal digits of `value`.
  mutating func writeInteger(_ value: Int64) {
    if value < 0 { write(UInt8(ascii: "-")) }
    writeDigits(value.magnitude, atLeast: 1, point: 0)
  }

  /// Writes `magnitude`'s digits, at least `atLeast` of them (zeros in front), with a
  /// decimal point before the last `point` ones when `point` > 0; from the last digit back.
  @inline(__always) private mutating func writeDigits(_ magnitude: UInt64, atLeast: Int, point: Int) {
    var count = 1
    var rest = magnitude / 10
    while rest > 0 {
      count += 1
      rest /= 10
    }
    count = max(count, atLeast)
    let end = position + count + (point > 0 ? 1 : 0)
    var cursor = end
    var value = magnitude
    for k in 0..<count {
      if point > 0 && k == point {
        cursor -= 1
        cursor.initialize(to: UInt8(ascii: "."))
      }
      cursor -= 1
      cursor.initialize(to: UInt8(ascii: "0") + UInt8(value % 10))
      value /= 10
    }
    position = end
  }

  /// Writes `value` with `digits` decimals exactly as C's `printf("%.*f")` does: the binary
  /// value rounded to nearest, ties to even. value × 10^digits is taken with its rounding
  /// error (a fused multiply-add gives it exactly), so that a product that lands on or near
  /// a half rounds the way the exact value does.
  mutating func writeFixed(_ value: Double, digits: Int) {
    let scale = digits >= 0 && digits <= 22 ? exactPowersOfTen[digits] : .nan
    let product = value * scale
    guard product.isFinite, abs(product) < 0x1p52 else {
      // Beyond 2^52 units (or not finite), printf's own digits; fixedRoom bounds them.
      var text = String(format: "%.\(digits)f", value)
      text.withUTF8 { write($0) }
      return
    }
    let error = (-product).addingProduct(value, scale)  // value × scale − product, exactly
    var units = product.rounded(.toNearestOrEven)
    let fraction = product - units  // exact: units is within one half of product
    if fraction == 0.5 {
      if error > 0 { units += 1 }
    } else if fraction == -0.5 {
      if error < 0 { units -= 1 }
    }
    // A tie at exactly one half was settled to even by the rounding above; off-tie, the
    // error (below half an ulp) cannot move the result across a half.
    if value.sign == .minus { write(UInt8(ascii: "-")) }
    writeDigits(UInt64(abs(units)), atLeast: digits + 1, point: digits)
  }
}

/// The groups of customers an export can ask for, named the way the report names them.
public enum CustomerSelection: Hashable, Sendable {
  /// An RFM segment: "At Risk", "Can't Lose Them" (any case, with a capital first letter).
  case segment(RFMSegment)
  /// A lifecycle group: "lost", "at_risk" or "at risk".
  case group(LifecycleGroup)
  /// A cluster by number: "cluster:2".
  case cluster(Int)
  /// A cluster by name: "dormant", "high value (2)".
  case clusterNamed(ClusterName)

  /// The selection `name` asks for; nil when it names nothing Fidelis makes. A name with a
  /// capital first letter is an RFM segment, so "Lost" (segment) and "lost" (group) differ.
  public init?(_ name: String) {
    let text = name.trimmingCharacters(in: .whitespaces)
    if text.first?.isUppercase == true {
      guard let segment = RFMSegment.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) else { return nil }
      self = .segment(segment)
    } else if let group = LifecycleGroup(rawValue: text.replacingOccurrences(of: " ", with: "_")) {
      self = .group(group)
    } else if text.hasPrefix("cluster:"), let id = Int(text.dropFirst(8)), id >= 0 {
      self = .cluster(id)
    } else if let name = ClusterName(text) {
      self = .clusterNamed(name)
    } else {
      return nil
    }
  }

  /// Whether a customer with these results belongs to the selection.
  public func contains(_ row: CustomerRow) -> Bool {
    switch self {
    case .segment(let segment): row.segment == segment
    case .group(let group): row.group == group
    case .cluster(let id): row.cluster == id
    case .clusterNamed(let name): row.clusterName == name
    }
  }
}

/// The fields of a per-customer CSV row that a selection or a comparison looks at, decoded.
public struct CustomerRow: Equatable, Sendable {
  public var customerId: String
  /// Orders (distinct purchase days).
  public var frequency: Int
  public var segment: RFMSegment
  public var group: LifecycleGroup
  public var cluster: Int
  public var clusterName: ClusterName
}

/// The rows of a per-customer CSV that arrives in pieces: the header read from the first,
/// each later piece's complete records decoded.
public struct CustomerCSVStream {
  private var reader: CustomerCSVReader?
  /// The bytes not yet decoded, from the start of a record: they are decoded a few MB at a
  /// time, enough records for every core, where pieces as they come over the network hold
  /// a few hundred.
  /// One buffer for the whole file, the rest of each batch moved to its front: a fresh
  /// buffer for each batch was faulted in again, page by page.
  private var pending: [UInt8] = []
  static let batchBytes = 4 << 20

  public init() {}

  /// The rows the pieces so far complete, once they make a batch (a row that does not
  /// decode is left out). Throws when the file's header lacks the columns a `CustomerRow`
  /// is made of.
  public mutating func rows(in piece: Data) throws -> [CustomerRow] {
    try piece.withUnsafeBytes { try rows(in: $0.bindMemory(to: UInt8.self)) }
  }

  /// `rows(in:)` of a piece read in place.
  public mutating func rows(in piece: UnsafeBufferPointer<UInt8>) throws -> [CustomerRow] {
    if pending.capacity < Self.batchBytes * 2 { pending.reserveCapacity(Self.batchBytes * 2) }
    pending.append(contentsOf: piece)
    return pending.count >= Self.batchBytes ? try decode(isEnd: false) : []
  }

  /// The rows of the file's last bytes.
  public mutating func finish() throws -> [CustomerRow] {
    try decode(isEnd: true)
  }

  /// Decodes the complete records of `pending` (all of it at the end) and keeps the rest.
  private mutating func decode(isEnd: Bool) throws -> [CustomerRow] {
    let (records, used) = pending.withUnsafeBufferPointer { CustomerCSVReader.records(in: $0, isEnd: isEnd) }
    defer { pending.removeFirst(used) }
    var first = 0
    if reader == nil, let header = records.first {
      guard let headerReader = CustomerCSVReader(header: Data(pending[header])) else {
        throw CSVFormatError(line: 1, reason: "the customer file lacks the columns \(CustomerCSVReader.selectionColumns.map(\.rawValue).joined(separator: ", "))")
      }
      reader = headerReader
      first = 1
    }
    guard let reader, first < records.count else { return [] }
    return pending.withUnsafeBufferPointer { reader.decodedRows(in: $0, records: records[first...]) }
  }
}

/// Reads the per-customer CSV back, a record at a time, by column name.
public struct CustomerCSVReader {
  private var records: RecordCursor
  /// The header line, as written.
  public let header: Data
  /// Where each column of the selection is among a record's fields, by `selectionColumns`' order.
  private let positions: [Int]
  private let lastNeeded: Int

  /// The columns a `CustomerRow` is made of.
  static let selectionColumns: [CustomerColumn] = [.customerId, .frequency, .segment, .lifecycleGroup, .cluster, .clusterName]

  /// A reader of `csv`; nil when it lacks a header with the selection's columns.
  public init?(_ csv: Data) {
    var records = RecordCursor(bytes: csv, offset: csv.startIndex)
    guard let header = records.next() else { return nil }
    self.init(header: header, records: records)
  }

  /// A reader of the records that follow `header`, handed to it with `rows(in:)` (a file
  /// read in pieces); nil when the header lacks the selection's columns.
  public init?(header: Data) {
    self.init(header: header, records: RecordCursor(bytes: Data(), offset: 0))
  }

  private init?(header: Data, records: RecordCursor) {
    let names = Self.fields(header, upTo: CustomerColumn.allCases.count)
    var positions: [Int] = []
    for column in Self.selectionColumns {
      guard let index = names.firstIndex(of: column.rawValue) else { return nil }
      positions.append(index)
    }
    self.header = header
    self.positions = positions
    self.lastNeeded = positions.max()!
    self.records = records
  }

  /// The next record as written (without its line break) and its decoded row; a row whose
  /// fields do not decode comes with nil. Nil at the end.
  public mutating func next() -> (record: Data, row: CustomerRow?)? {
    guard let record = records.next() else { return nil }
    return (record, row(record))
  }

  /// The records of `bytes`, whole records each ended by a line break (the last one may
  /// lack it), with their decoded rows.
  public func rows(in bytes: Data) -> [(record: Data, row: CustomerRow?)] {
    let records = Self.recordRanges(in: bytes)
    // Decoded in slices on every core (a previous report of a million customers is read
    // before each comparison), each in its place in file order.
    return concurrentArray(count: records.count, threadsFrom: 8192) { i in
      let record = bytes.subdata(in: records[i])
      return (record, row(record))
    }
  }

  /// The decoded rows of the `records` of `bytes` (ranges from `records(in:isEnd:)`), as
  /// `rows(in:)` gives them but without the records themselves and the rows that do not
  /// decode: what a comparison reads.
  func decodedRows(in bytes: UnsafeBufferPointer<UInt8>, records: ArraySlice<Range<Int>>) -> [CustomerRow] {
    let first = records.startIndex
    return concurrentArray(count: records.count, threadsFrom: 8192) { i in
      row(UnsafeBufferPointer(rebasing: bytes[records[first + i]]))
    }.compactMap { $0 }
  }

  /// The non-empty records of `bytes` (which start at a record's start), as ranges without
  /// their line breaks, and how many bytes they take: those up to the last line break
  /// outside quotes, or all of them when `isEnd`. A line break inside quotes stays in its
  /// record. Line breaks and quotes are found eight bytes at a time; a word holding a quote,
  /// or inside quotes, is read byte by byte.
  static func records(in bytes: UnsafeBufferPointer<UInt8>, isEnd: Bool) -> (records: [Range<Int>], used: Int) {
    var records: [Range<Int>] = []
    records.reserveCapacity(bytes.count / 64)
    guard let base = bytes.baseAddress else { return ([], 0) }
    let raw = UnsafeRawPointer(base)
    let (newline, quote) = (UInt8(ascii: "\n"), UInt8(ascii: "\""))
    var (start, inQuotes, i) = (0, false, 0)
    func byte(at index: Int) {
      let value = base[index]
      if value == quote {
        inQuotes.toggle()
      } else if value == newline && !inQuotes {
        if index > start { records.append(start..<index) }
        start = index + 1
      }
    }
    while i + 8 <= bytes.count {
      let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
      if inQuotes || matchingBytes(word, 0x2222_2222_2222_2222) != 0 {
        for k in i..<i + 8 { byte(at: k) }
      } else {
        var ends = matchingBytes(word, 0x0A0A_0A0A_0A0A_0A0A)
        while ends != 0 {
          let index = i + ends.trailingZeroBitCount / 8
          if index > start { records.append(start..<index) }
          start = index + 1
          ends &= ends &- 1
        }
      }
      i += 8
    }
    while i < bytes.count {
      byte(at: i)
      i += 1
    }
    guard isEnd else { return (records, start) }
    if bytes.count > start { records.append(start..<bytes.count) }
    return (records, bytes.count)
  }

  /// The ranges (in `bytes`' indices) of its non-empty records, without their line breaks:
  /// a line break inside quotes stays in its record.
  static func recordRanges(in bytes: Data) -> [Range<Int>] {
    bytes.withUnsafeBytes { records(in: $0.bindMemory(to: UInt8.self), isEnd: true).records }
      .map { (bytes.startIndex + $0.lowerBound)..<(bytes.startIndex + $0.upperBound) }
  }

  /// A record's row; nil when its fields do not decode.
  func row(_ record: Data) -> CustomerRow? {
    record.withUnsafeBytes { row($0.bindMemory(to: UInt8.self)) }
  }

  /// A record's row, from its bytes: the fields' bounds found in one pass and only the
  /// selection's fields decoded, each as `fields(_:upTo:)` would give it. A previous report
  /// of a million customers is read this way before each comparison: a string and a buffer
  /// for every field up to the last needed took most of that time.
  func row(_ record: UnsafeBufferPointer<UInt8>) -> CustomerRow? {
    let needed = lastNeeded + 1
    return withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: needed) { bounds -> CustomerRow? in
      // A field ends at a comma outside quotes; every quote flips quoting (an escaped one
      // twice), as in `fields(_:upTo:)`.
      var (found, start, inQuotes, quoted) = (0, 0, false, false)
      for i in 0..<record.count where found < needed {
        let byte = record[i]
        if byte == UInt8(ascii: "\"") {
          inQuotes.toggle()
          quoted = true
        } else if byte == UInt8(ascii: ",") && !inQuotes {
          bounds[found] = start..<i
          found += 1
          start = i + 1
        }
      }
      if found < needed {
        bounds[found] = start..<record.count
        found += 1
      }
      guard found == needed else { return nil }
      // The k-th field of `selectionColumns`, as `fields` gives it: in a record with quotes,
      // taken out of them. Names and numbers are then read from its bytes: a string made
      // and switched over for each one took most of a row's time.
      func field<Value>(_ k: Int, _ read: (UnsafeBufferPointer<UInt8>) -> Value?) -> Value? {
        let bytes = UnsafeBufferPointer(rebasing: record[bounds[positions[k]]])
        guard quoted else { return read(bytes) }
        var text = Self.fields(bytes, upTo: 1)[0]
        return text.withUTF8(read)
      }
      guard let customerId = field(0, { String(decoding: $0, as: UTF8.self) }), let frequency = field(1, Self.integer),
        let segment = field(2, Self.segments.match), let group = field(3, Self.groups.match), let cluster = field(4, Self.integer),
        let clusterName = field(5, Self.clusterName)
      else { return nil }
      return CustomerRow(customerId: customerId, frequency: frequency, segment: segment, group: group, cluster: cluster, clusterName: clusterName)
    }
  }

  /// The names of a closed set of values, as bytes, for reading them without a string.
  struct Names<Value: Sendable>: Sendable {
    let bytes: [[UInt8]]
    let values: [Value]

    init(_ values: [Value], name: (Value) -> String) {
      (self.values, bytes) = (values, values.map { Array(name($0).utf8) })
    }

    /// The value named exactly `field`, as `init(rawValue:)` finds it; nil for no name.
    func match(_ field: UnsafeBufferPointer<UInt8>) -> Value? {
      for (k, name) in bytes.enumerated() where name.count == field.count {
        if field.isEmpty || name.withUnsafeBufferPointer({ memcmp($0.baseAddress!, field.baseAddress!, field.count) }) == 0 { return values[k] }
      }
      return nil
    }
  }

  static let segments = Names(RFMSegment.allCases) { $0.rawValue }
  static let groups = Names(LifecycleGroup.allCases) { $0.rawValue }
  static let clusterKinds = Names(ClusterKind.allCases) { $0.rawValue }

  /// The cluster name `field` holds: a first cluster of its kind is named by the kind alone,
  /// matched from the bytes; the others ("dormant (2)") are read from a string.
  static func clusterName(_ field: UnsafeBufferPointer<UInt8>) -> ClusterName? {
    clusterKinds.match(field).map { ClusterName(kind: $0) } ?? ClusterName(String(decoding: field, as: UTF8.self))
  }

  /// The integer `Int(String)` reads from `field`: an optional sign and decimal digits, nil
  /// when there are none, another byte, or the value does not fit.
  static func integer(_ field: UnsafeBufferPointer<UInt8>) -> Int? {
    var i = 0
    var negative = false
    if let first = field.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
      negative = first == UInt8(ascii: "-")
      i = 1
    }
    guard i < field.count else { return nil }
    var value = 0
    while i < field.count {
      let digit = Int(field[i]) - 48
      guard digit >= 0 && digit <= 9 else { return nil }
      let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
      let (next, overflowAdd) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
      guard !overflowTimes && !overflowAdd else { return nil }
      value = next
      i += 1
    }
    return value
  }

  /// The records of a CSV held in memory: a line break inside quotes stays in its record.
  struct RecordCursor {
    let bytes: Data
    var offset: Int

    mutating func next() -> Data? {
      while offset < bytes.endIndex {
        var inQuotes = false
        var i = offset
        while i < bytes.endIndex {
          let byte = bytes[i]
          if byte == UInt8(ascii: "\"") {
            inQuotes.toggle()
          } else if byte == 0x0A && !inQuotes {
            break
          }
          i += 1
        }
        let record = bytes[offset..<i]
        offset = i + 1
        if !record.isEmpty { return Data(record) }
      }
      return nil
    }
  }

  /// Whole CSV records out of a file that arrives in pieces: a piece may end inside a record,
  /// even inside a quoted field with a line break in it; `take` hands out only the bytes up
  /// to the last line break that ends a record and keeps the rest for the next piece.
  public struct RecordAssembler {
    private var pending = Data()
    private var scanned = 0
    private var inQuotes = false

    public init() {}

    /// Adds `piece`; returns the whole records now complete (with their line breaks), or
    /// nil when none is.
    public mutating func take(_ piece: Data) -> Data? {
      pending.append(piece)
      var lastEnd: Int?
      var index = scanned
      pending.withUnsafeBytes { bytes in
        while index < bytes.count {
          let byte = bytes[index]
          if byte == UInt8(ascii: "\"") {
            inQuotes.toggle()
          } else if byte == 0x0A && !inQuotes {
            lastEnd = index
          }
          index += 1
        }
      }
      scanned = pending.count
      guard let lastEnd else { return nil }
      let complete = pending.prefix(lastEnd + 1)
      pending = Data(pending.suffix(from: lastEnd + 1))
      scanned = pending.count
      return Data(complete)
    }

    /// What is left at the end of the file: the last record, when it has no line break.
    public mutating func finish() -> Data? {
      defer { pending = Data() }
      return pending.isEmpty ? nil : pending
    }
  }

  /// The first `count` fields of a record, unquoted as `csvField` quotes them.
  static func fields(_ record: Data, upTo count: Int) -> [String] {
    record.withUnsafeBytes { fields($0.bindMemory(to: UInt8.self), upTo: count) }
  }

  static func fields(_ record: UnsafeBufferPointer<UInt8>, upTo count: Int) -> [String] {
    var fields: [String] = []
    var current: [UInt8] = []
    var inQuotes = false
    var previousWasQuote = false
    for byte in record {
      if inQuotes {
        if byte == UInt8(ascii: "\"") {
          inQuotes = false
          previousWasQuote = true
        } else {
          current.append(byte)
        }
        continue
      }
      if byte == UInt8(ascii: "\"") {
        if previousWasQuote { current.append(byte) }
        inQuotes = true
        previousWasQuote = false
      } else if byte == UInt8(ascii: ",") {
        fields.append(String(decoding: current, as: UTF8.self))
        current = []
        previousWasQuote = false
        if fields.count == count { return fields }
      } else {
        current.append(byte)
        previousWasQuote = false
      }
    }
    fields.append(String(decoding: current, as: UTF8.self))
    return fields
  }
}
