import Foundation

/// Byte ranges of a stored file, sorted and disjoint: the lines a dataset version leaves out
/// of one of its files.
public struct ByteRanges: Sendable, Equatable {
  /// The ranges, ascending, never touching one another.
  public private(set) var ranges: [Range<Int64>] = []

  /// No range.
  public init() {}

  /// The ranges written by `encoded`; nil when the bytes are not such an encoding.
  public init?(encoded: Data) {
    guard encoded.count % 16 == 0 else { return nil }
    var values: [Int64] = []
    values.reserveCapacity(encoded.count / 8)
    encoded.withUnsafeBytes { raw in
      for i in stride(from: 0, to: raw.count, by: 8) { values.append(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: Int64.self))) }
    }
    for i in stride(from: 0, to: values.count, by: 2) {
      guard values[i] < values[i + 1], ranges.last.map({ $0.upperBound < values[i] }) ?? (values[i] >= 0) else { return nil }
      ranges.append(values[i]..<values[i + 1])
    }
  }

  /// Bounds as little-endian pairs, for the store.
  public var encoded: Data {
    var data = Data(capacity: ranges.count * 16)
    for range in ranges {
      withUnsafeBytes(of: range.lowerBound.littleEndian) { data.append(contentsOf: $0) }
      withUnsafeBytes(of: range.upperBound.littleEndian) { data.append(contentsOf: $0) }
    }
    return data
  }

  /// Bytes covered.
  public var byteCount: Int64 { ranges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) } }

  /// Adds a range that starts at or after every range held (a scan in file order); one that
  /// touches the last is merged with it.
  public mutating func append(_ range: Range<Int64>) {
    guard !range.isEmpty else { return }
    if let last = ranges.last {
      precondition(range.lowerBound >= last.upperBound, "ranges must be appended in file order")
      if range.lowerBound == last.upperBound {
        ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
        return
      }
    }
    ranges.append(range)
  }

  /// Both sets of ranges at once.
  public func union(_ other: ByteRanges) -> ByteRanges {
    var merged = ByteRanges()
    var i = 0
    var j = 0
    while i < ranges.count || j < other.ranges.count {
      let next: Range<Int64>
      if j == other.ranges.count || (i < ranges.count && ranges[i].lowerBound <= other.ranges[j].lowerBound) {
        next = ranges[i]
        i += 1
      } else {
        next = other.ranges[j]
        j += 1
      }
      if let last = merged.ranges.last, next.lowerBound <= last.upperBound {
        merged.ranges[merged.ranges.count - 1] = last.lowerBound..<max(last.upperBound, next.upperBound)
      } else {
        merged.ranges.append(next)
      }
    }
    return merged
  }

  /// Whether `offset` lies in a range.
  public func contains(_ offset: Int64) -> Bool {
    var low = 0
    var high = ranges.count
    while low < high {
      let mid = (low + high) / 2
      if ranges[mid].upperBound <= offset { low = mid + 1 } else { high = mid }
    }
    return low < ranges.count && ranges[low].contains(offset)
  }

  /// The parts of `window` outside every range, in order.
  public func kept(in window: Range<Int64>) -> [Range<Int64>] {
    var pieces: [Range<Int64>] = []
    var start = window.lowerBound
    var low = 0
    var high = ranges.count
    while low < high {
      let mid = (low + high) / 2
      if ranges[mid].upperBound <= start { low = mid + 1 } else { high = mid }
    }
    var k = low
    while start < window.upperBound {
      guard k < ranges.count, ranges[k].lowerBound < window.upperBound else {
        pieces.append(start..<window.upperBound)
        break
      }
      if ranges[k].lowerBound > start { pieces.append(start..<ranges[k].lowerBound) }
      start = max(start, ranges[k].upperBound)
      k += 1
    }
    return pieces
  }
}

/// How a dataset version reads one of its files: the first file whole but for the lines it
/// leaves out; a later one also without its header line; a line break added after a file
/// that lacks one, unless it is the last.
public struct VersionFile: Sendable, Equatable {
  /// Bytes at the start left out: the header line of a file after the first, else 0.
  public var headerBytes: Int64
  public var skipped: ByteRanges
  /// Whether a line break follows the file's bytes.
  public var addsLineBreak: Bool

  public init(position: Int, isLast: Bool, headerBytes: Int64, skipped: ByteRanges, endsWithBreak: Bool) {
    self.headerBytes = position > 0 ? headerBytes : 0
    self.skipped = skipped
    self.addsLineBreak = !endsWithBreak && !isLast
  }

  /// The byte ranges of `window` (a stretch of the file, as read chunk by chunk) the
  /// version reads, in order.
  public func kept(in window: Range<Int64>) -> [Range<Int64>] {
    let start = max(window.lowerBound, headerBytes)
    guard start < window.upperBound else { return [] }
    return skipped.kept(in: start..<window.upperBound)
  }
}

/// The header of a CSV file as a batch of a dataset sees it: its columns, how they are
/// separated and how lines end.
public struct BatchLayout: Sendable, Equatable {
  /// Column names as written (without a byte-order mark or quotes).
  public var columns: [String]
  public var separator: UInt8
  /// `\n` (also for CRLF files) or `\r` (old Mac files).
  public var lineBreak: UInt8
  /// Bytes of the header line, its line break included.
  public var headerBytes: Int64

  /// Why a batch with this layout cannot join a dataset with `held`; nil when it can: the
  /// same columns in the same order (names compared without case, accents, spaces or
  /// punctuation), separated the same way.
  public func mismatch(joining held: BatchLayout) -> String? {
    if columns.map(normalizeHeader) != held.columns.map(normalizeHeader) {
      return "the batch's columns (\(abbreviatedList(columns))) are not the dataset's (\(abbreviatedList(held.columns))): an append keeps the layout, in the same order"
    }
    if separator != held.separator {
      return "the batch separates its fields with \(Self.name(separator)), the dataset with \(Self.name(held.separator))"
    }
    return nil
  }

  static func name(_ separator: UInt8) -> String { separator == 9 ? "tabs" : "'\(String(UnicodeScalar(separator)))'" }
}

/// How the lines of an appended batch are matched with those a dataset holds (docs/datasets.md).
public enum OverlapRule: String, Sendable, Codable {
  /// Lines carry an order id: a batch line whose order id the dataset holds is skipped.
  case orderId = "order id"
  /// No order id: the batch's days replace the same days held (the export of a period is
  /// the truth for that period).
  case batchDays = "days"
}

/// What appending a batch to a dataset version keeps and leaves out, computed from the
/// files alone (`planAppend`).
public struct AppendPlan: Sendable, Equatable {
  public var rule: OverlapRule
  public var batchLayout: BatchLayout
  /// Lines of the batch left out (order ids already held).
  public var batchSkipped = ByteRanges()
  /// For each file the dataset holds, its lines left out from the new version on: the
  /// earlier ones and those the batch replaces.
  public var heldSkipped: [ByteRanges] = []
  /// Whether each held file ends with a line break (else one is added before the next).
  public var heldEndsWithBreak: [Bool] = []
  public var batchEndsWithBreak = true
  /// Each held file's header line, in bytes.
  public var heldHeaderBytes: [Int64] = []
  /// Batch lines kept, and skipped as already held.
  public var linesAdded = 0
  public var linesSkipped = 0
  /// Held lines replaced by the batch's, and the distinct days they fell on.
  public var linesReplaced = 0
  public var daysReplaced = 0
  /// First and last day (days since 1970-01-01) of the lines replaced; nil when none were.
  public var replacedFrom: Int?
  public var replacedThrough: Int?

  /// Bytes of the new version as a job reads it, the held files and the batch being
  /// `heldSizes` and `batchSize` bytes long: the first file's header, no other header, no
  /// line left out, and a line break after a file that lacks one.
  public func contentBytes(heldSizes: [Int64], batchSize: Int64) -> Int64 {
    var total: Int64 = 0
    for (i, size) in heldSizes.enumerated() {
      total += size - heldSkipped[i].byteCount - (i > 0 ? heldHeaderBytes[i] : 0) + (heldEndsWithBreak[i] ? 0 : 1)
    }
    return total + batchSize - batchSkipped.byteCount - batchLayout.headerBytes
  }
}

/// Reads stored files in chunks: `read(file, seq)` returns chunk `seq` of file `file`, nil
/// past its end.
public typealias ChunkReader = (_ file: Int, _ seq: Int) throws -> Data?

/// Plans the append of a batch to a dataset version, by the rule of `OverlapRule`: the
/// order id column when the header has one (`columns` overrides the recognised names, as
/// for ingestion), else the date column. The version holds files `0..<heldSkipped.count`
/// (the first one's header is the dataset's layout), each without its `heldSkipped` bytes;
/// the batch is file `heldSkipped.count`. Reads every file once; keeps one 64-bit hash per
/// distinct order id (or day) in memory, not the lines.
///
/// Throws `CSVFormatError` when the batch has no header, another layout, or no date column.
public func planAppend(heldSkipped: [ByteRanges], read: ChunkReader, columns: [String: String] = [:]) throws -> AppendPlan {
  precondition(!heldSkipped.isEmpty, "a dataset holds at least one file")
  let batch = heldSkipped.count
  guard let heldLayout = try readLayout({ try read(0, $0) }) else { throw CSVFormatError(line: 1, reason: "the dataset's first file has no header line") }
  guard let batchLayout = try readLayout({ try read(batch, $0) }) else { throw CSVFormatError(line: 1, reason: "the batch is empty or has no complete header line") }
  if let why = batchLayout.mismatch(joining: heldLayout) { throw CSVFormatError(line: 1, reason: why) }
  let roles = try overlapColumns(batchLayout.columns, overrides: columns)
  var plan = AppendPlan(rule: roles.order == nil ? .batchDays : .orderId, batchLayout: batchLayout)
  var heldKeys = HashSet64(capacity: 1 << 12)
  var batchKeys = HashSet64(capacity: 1 << 12)
  switch roles.order {
  case .some(let orderColumn):
    // Held order ids first, then the batch against them.
    for (file, skipped) in heldSkipped.enumerated() {
      var scanner = CSVRecordScanner(lineBreak: heldLayout.lineBreak, separator: heldLayout.separator, fields: (orderColumn, -1))
      try scanner.scan({ try read(file, $0) }) { start, _, order, _ in
        if order.count > 0, !skipped.contains(start) { _ = heldKeys.insert(identityHash(order)) }
      }
      plan.heldSkipped.append(skipped)
      plan.heldEndsWithBreak.append(scanner.endsWithBreak)
      plan.heldHeaderBytes.append(scanner.headerBytes)
    }
    var scanner = CSVRecordScanner(lineBreak: batchLayout.lineBreak, separator: batchLayout.separator, fields: (orderColumn, -1))
    var skipped = ByteRanges()
    try scanner.scan({ try read(batch, $0) }) { start, end, order, _ in
      if order.count > 0, heldKeys.contains(identityHash(order)) {
        skipped.append(start..<end)
        plan.linesSkipped += 1
      } else {
        plan.linesAdded += 1
      }
    }
    plan.batchSkipped = skipped
    plan.batchEndsWithBreak = scanner.endsWithBreak
  case .none:
    // The batch's days first, then the held lines on those days.
    var scanner = CSVRecordScanner(lineBreak: batchLayout.lineBreak, separator: batchLayout.separator, fields: (roles.date, -1))
    try scanner.scan({ try read(batch, $0) }) { _, _, date, _ in
      if let raw = parseRawDate(CSVRecordScanner.unquoted(date)) { _ = batchKeys.insert(dateKey(raw)) }
      plan.linesAdded += 1
    }
    plan.batchEndsWithBreak = scanner.endsWithBreak
    var replacedDays = HashSet64(capacity: 1 << 10)
    var dayOrder = DateOrderVotes()
    for (file, skipped) in heldSkipped.enumerated() {
      var scanner = CSVRecordScanner(lineBreak: heldLayout.lineBreak, separator: heldLayout.separator, fields: (roles.date, -1))
      var replaced = ByteRanges()
      try scanner.scan({ try read(file, $0) }) { start, end, date, _ in
        guard !skipped.contains(start), let raw = parseRawDate(CSVRecordScanner.unquoted(date)) else { return }
        dayOrder.note(raw)
        let key = dateKey(raw)
        guard batchKeys.contains(key) else { return }
        replaced.append(start..<end)
        plan.linesReplaced += 1
        if replacedDays.insert(key) {
          plan.daysReplaced += 1
          dayOrder.noteReplaced(raw)
        }
      }
      plan.heldSkipped.append(skipped.union(replaced))
      plan.heldEndsWithBreak.append(scanner.endsWithBreak)
      plan.heldHeaderBytes.append(scanner.headerBytes)
    }
    (plan.replacedFrom, plan.replacedThrough) = dayOrder.replacedSpan
  }
  return plan
}

/// The columns `planAppend` reads: the order id's when there is one, and the date's.
func overlapColumns(_ names: [String], overrides: [String: String]) throws -> (order: Int?, date: Int) {
  let mapping: [ColumnRole: Int]
  do {
    mapping = try ColumnRole.mapping(names: names, overrides: overrides)
  } catch {
    throw CSVFormatError(line: 1, reason: error.reason)
  }
  guard let date = mapping[.date] else {
    throw CSVFormatError(line: 1, reason: "no date column (expected order_date, InvoiceDate, date…; or map it with --column date=NAME)")
  }
  return (mapping[.order], date)
}

/// The layout of a stored file from its first chunks; nil when it has no complete header.
func readLayout(_ read: (Int) throws -> Data?) throws -> BatchLayout? {
  var head: [UInt8] = []
  var seq = 0
  while head.count < TransactionIngestor.longestHeader, let chunk = try read(seq) {
    head.append(contentsOf: chunk)
    seq += 1
    if head.contains(UInt8(ascii: "\n")) || head.contains(UInt8(ascii: "\r")) { break }
  }
  var bom = 0
  if head.count >= 3, head[0] == 0xEF, head[1] == 0xBB, head[2] == 0xBF { bom = 3 }
  let lineBreak = lineBreakOf(head)
  guard let end = CSVRecordScanner.recordEnd(head, from: bom, lineBreak: lineBreak) else {
    // A file that is only a header without a line break.
    guard head.count > bom, try read(seq) == nil else { return nil }
    return try layout(of: Array(head[bom...]), lineBreak: lineBreak, headerBytes: Int64(head.count))
  }
  return try layout(of: Array(head[bom..<end]), lineBreak: lineBreak, headerBytes: Int64(end))
}

/// The header line's layout, its names as the ingestor reads them (`headerFields`).
private func layout(of line: [UInt8], lineBreak: UInt8, headerBytes: Int64) throws -> BatchLayout {
  let (columns, separator) = try headerFields(of: line)
  return BatchLayout(columns: columns, separator: separator, lineBreak: lineBreak, headerBytes: headerBytes)
}

/// `\n` when the bytes hold one (LF and CRLF files), else `\r` when they hold one.
func lineBreakOf(_ bytes: [UInt8]) -> UInt8 {
  if bytes.contains(UInt8(ascii: "\n")) { return UInt8(ascii: "\n") }
  return bytes.contains(UInt8(ascii: "\r")) ? UInt8(ascii: "\r") : UInt8(ascii: "\n")
}

/// One key per calendar day as written: two lines of one export that carry the same day
/// carry the same numbers in the same order, whatever that order is.
func dateKey(_ raw: RawDate) -> UInt64 {
  finalMix(UInt64(UInt32(bitPattern: raw.year)) << 17 | UInt64(UInt8(bitPattern: raw.first)) << 9 | UInt64(UInt8(bitPattern: raw.second)) << 1 | (raw.isYearFirst ? 1 : 0))
}

/// The identifier's bytes, without quotes or spaces, hashed: two distinct ids of a dataset
/// collide with a probability near n²/2⁶⁵ (3·10⁻⁶ for ten million orders).
func identityHash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
  hashBytes(CSVRecordScanner.unquoted(bytes))
}

/// The day order the held lines show, to date the days a batch replaces: the same
/// evidence the ingestor uses (a first number above 12 is a day).
struct DateOrderVotes {
  private var dayFirst = false
  private var monthFirst = false
  private var replaced: [RawDate] = []

  mutating func note(_ raw: RawDate) {
    guard !raw.isYearFirst else { return }
    if raw.first > 12 { dayFirst = true }
    if raw.second > 12 { monthFirst = true }
  }

  mutating func noteReplaced(_ raw: RawDate) { replaced.append(raw) }

  var replacedSpan: (Int?, Int?) {
    let order: DateOrder = monthFirst && !dayFirst ? .monthFirst : .dayFirst
    let days = replaced.compactMap { $0.day(order: order) }.map(Int.init)
    return (days.min(), days.max())
  }
}

/// Walks the records of a CSV file chunk by chunk, with each record's byte offsets in the
/// file and up to two of its fields: enough to match the lines of two exports without
/// parsing them. Quoted fields may hold separators and line breaks (RFC 4180).
struct CSVRecordScanner {
  let lineBreak: UInt8
  let separator: UInt8
  /// The fields handed out (−1: none).
  let fields: (Int, Int)
  /// Bytes of the header line (skipped, not handed out).
  private(set) var headerBytes: Int64 = 0
  /// Whether the file's last byte is a line break.
  private(set) var endsWithBreak = true

  init(lineBreak: UInt8, separator: UInt8, fields: (Int, Int)) {
    self.lineBreak = lineBreak
    self.separator = separator
    self.fields = fields
  }

  /// Calls `onRecord(start, end, field0, field1)` for each record after the header, in file
  /// order; `end` is past the record's line break. Blank lines are passed over.
  ///
  /// Throws `CSVFormatError` at a record that runs past `TransactionIngestor.longestRecord`
  /// bytes without ending (a quote never closed): the rest of the file would be held whole.
  mutating func scan(
    _ read: (Int) throws -> Data?, onRecord: (Int64, Int64, UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) throws -> Void
  ) throws {
    var pending: [UInt8] = []
    var pendingStart: Int64 = 0
    var inQuotes = false
    var scanned = 0
    var seq = 0
    var sawHeader = false
    var lastByte: UInt8 = lineBreak
    // Line breaks before the unfinished record, and all those seen: its first line is one more.
    var (breaksBeforeRecord, breaks) = (0, 0)
    while true {
      let chunk = try read(seq)
      seq += 1
      if let chunk {
        guard !chunk.isEmpty else { continue }
        lastByte = chunk[chunk.index(before: chunk.endIndex)]
        pending.append(contentsOf: chunk)
      }
      let atEnd = chunk == nil
      var consumed = 0
      try pending.withUnsafeBufferPointer { bytes in
        var i = scanned
        let n = bytes.count
        while i < n {
          let b = bytes[i]
          if b == 0x22 {
            inQuotes.toggle()
          } else if b == lineBreak {
            breaks += 1
            if !inQuotes {
              try emit(bytes, consumed..<(i + 1), fileStart: pendingStart, isHeader: !sawHeader, onRecord: onRecord)
              sawHeader = true
              consumed = i + 1
              breaksBeforeRecord = breaks
            }
          }
          i += 1
        }
        if atEnd, consumed < n {
          try emit(bytes, consumed..<n, fileStart: pendingStart, isHeader: !sawHeader, onRecord: onRecord)
          sawHeader = true
          consumed = n
        }
        scanned = n - consumed
      }
      if scanned > TransactionIngestor.longestRecord {
        throw CSVFormatError(
          line: breaksBeforeRecord + 1,
          reason: "the record starting on line \(breaksBeforeRecord + 1) \(TransactionIngestor.unendedRecord)")
      }
      pending.removeFirst(consumed)
      pendingStart += Int64(consumed)
      if atEnd { break }
    }
    endsWithBreak = lastByte == lineBreak
  }

  private mutating func emit(
    _ bytes: UnsafeBufferPointer<UInt8>, _ record: Range<Int>, fileStart: Int64, isHeader: Bool,
    onRecord: (Int64, Int64, UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) throws -> Void
  ) throws {
    let start = fileStart + Int64(record.lowerBound)
    let end = fileStart + Int64(record.upperBound)
    if isHeader {
      headerBytes = end
      return
    }
    var line = UnsafeBufferPointer(rebasing: bytes[record])
    // Without its line break (and a CRLF's carriage return).
    var count = line.count
    while count > 0, line[count - 1] == lineBreak || line[count - 1] == 0x0D { count -= 1 }
    line = UnsafeBufferPointer(rebasing: line[0..<count])
    guard count > 0 else { return }
    let empty = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
    var first = empty
    var second = empty
    var index = 0
    var fieldStart = 0
    var quoted = false
    let last = max(fields.0, fields.1)
    var i = 0
    while i <= count && index <= last {
      if i == count || (line[i] == separator && !quoted) {
        if index == fields.0 { first = UnsafeBufferPointer(rebasing: line[fieldStart..<i]) }
        if index == fields.1 { second = UnsafeBufferPointer(rebasing: line[fieldStart..<i]) }
        index += 1
        fieldStart = i + 1
      } else if line[i] == 0x22 {
        quoted.toggle()
      }
      i += 1
    }
    try onRecord(start, end, first, second)
  }

  /// Where the record that starts at `from` ends (past its line break); nil when it does not
  /// end within `bytes`.
  static func recordEnd(_ bytes: [UInt8], from: Int, lineBreak: UInt8) -> Int? {
    var quoted = false
    var i = from
    while i < bytes.count {
      if bytes[i] == 0x22 { quoted.toggle() } else if bytes[i] == lineBreak && !quoted { return i + 1 }
      i += 1
    }
    return nil
  }

  /// A field without the quotes around it (doubled quotes inside are left as they are: the
  /// bytes identify the field, they are not shown).
  static func unquoted(_ field: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
    let field = trimmed(field)
    guard field.count >= 2, field[field.startIndex] == 0x22, field[field.endIndex - 1] == 0x22 else { return field }
    return trimmed(UnsafeBufferPointer(rebasing: field[(field.startIndex + 1)..<(field.endIndex - 1)]))
  }
}
