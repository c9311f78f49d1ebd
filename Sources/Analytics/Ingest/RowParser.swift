import Dispatch
import Foundation

/// Where each role's column sits in a transactions file, known once its header is read.
/// With it, any run of whole lines can be parsed on its own, so a chunk of the file is
/// split at record boundaries and its parts parsed on all cores.
struct RowLayout: Sendable {
  var separator: UInt8
  var encoding: TextEncoding
  /// Number of fields of the header; a line with fewer is rejected.
  var fieldCount: Int
  var customer: Int
  var date: Int
  var order: Int?
  var amount: Int?
  var quantity: Int?
  var price: Int?
  var category: Int?
  var promo: Int?
  var product: Int?
  var status: Int?
  /// The retail export marks returns with invoices that start with `C`.
  var isRetailExport: Bool
  /// Shopify's orders export: a line without an amount is a further line item of an order
  /// whose total is on its first line.
  var totalOnFirstLine = false
  /// The currency column and the report's currency, when both are known.
  var currency: CurrencyCheck?
  /// The column of the amount paid back of a sale.
  var refunded: Int?
  /// The report's currency code, in capitals, when known: an amount that names another
  /// currency is no amount of this report (`AmountCurrency`).
  var reportCurrency: [UInt8]?
  /// The header's names, as read: a line that repeats them is the header of an export
  /// joined to another (`cat jan.csv feb.csv`), no purchase.
  var headerNames: [String] = []
  /// The customer column's name as bytes: the one field compared on every line, so that a
  /// line is compared whole only when it starts to look like the header.
  var headerCustomer: [UInt8] = []
}

/// Identifier bytes copied into a parsed part's arena, with their hash.
struct KeyRef: Sendable, Equatable {
  var start: Int32 = 0
  var count: Int32 = 0
  var hash: UInt64 = 0
}

/// One line parsed on its own. What depends on earlier lines (duplicates, identifiers
/// already seen, an order id reused by another customer) is decided when the parts are
/// merged in file order.
struct ParsedRow: Sendable, Equatable {
  enum Outcome: UInt8, Sendable {
    /// A record with a single empty field: a blank line, not counted as read.
    case empty
    case shortLine
    /// Checked for duplicates first, then rejected for `reason`.
    case rejected
    case usable
  }

  var outcome: Outcome
  var reason: RejectReason = .badAmount
  var line: Int32
  var lineHash: UInt64 = 0
  var customer = KeyRef()
  var order = KeyRef()
  var category = KeyRef()
  var product = KeyRef()
  /// A return line: `amount` is negative, `quantity` the units returned.
  var isReturn = false
  /// Units of the line (positive), 0 without a quantity column.
  var quantity = 0.0
  var date = RawDate(year: 0, first: 0, second: 0, isYearFirst: true)
  var amount = 0.0
  var promo = false
  /// Numbers read with a decimal comma and with a decimal point (the decimal mark of the file).
  var commaNumbers: UInt8 = 0
  var pointNumbers: UInt8 = 0
  /// 1 + the index in `OrderStatus.notSettledNames` of what its status says, 0 for nothing.
  var notSettled: UInt8 = 0
}

/// The lines of one part of a file, parsed, with the identifier bytes they refer to.
struct ParsedPart: Sendable {
  var rows: [ParsedRow] = []
  var arena: [UInt8] = []
  /// Bytes of the file the part covers.
  var bytes = 0
  /// Each row's `OrderLineChecks.Verdict`, packed; empty before the checks, and without an
  /// order column.
  var verdicts: [Int64] = []
}

extension RowLayout {
  /// Parses whole records; `isEnd` also ends the file (last line without a line break, a
  /// quote never closed).
  /// `reusing` is an emptied part whose buffers the lines go into (see `ParsedPart.emptied`).
  func parse(_ bytes: UnsafeBufferPointer<UInt8>, firstLine: Int, isEnd: Bool, reusing part: consuming ParsedPart = ParsedPart()) throws -> ParsedPart {
    if let base = bytes.baseAddress, memchr(base, Int32(UInt8(ascii: "\"")), bytes.count) == nil {
      return parseUnquoted(bytes, firstLine: firstLine, reusing: part)
    }
    return try parseTokenized(bytes, firstLine: firstLine, isEnd: isEnd, reusing: part)
  }

  /// Whole records through the RFC 4180 tokenizer: quoted fields may hold anything.
  func parseTokenized(_ bytes: UnsafeBufferPointer<UInt8>, firstLine: Int, isEnd: Bool, reusing part: consuming ParsedPart = ParsedPart()) throws -> ParsedPart {
    var tokenizer = CSVTokenizer(separator: separator, encoding: encoding, line: firstLine)
    var part = part
    part.bytes = bytes.count
    part.rows.reserveCapacity(bytes.count / 32)
    try tokenizer.consume(bytes) { parse($0, into: &part) }
    if isEnd { try tokenizer.finish { parse($0, into: &part) } }
    return part
  }

  /// Whole records without a quote: each line is a record and each separator ends a field,
  /// so the fields are found in place, where the tokenizer copied every byte. The line
  /// feed, the separators and carriage returns are found eight bytes at a time (a set high
  /// bit per matching byte, `matchingBytes`). A line holding a carriage return other
  /// than its last byte (which the tokenizer drops wherever it is) goes through the tokenizer.
  func parseUnquoted(_ bytes: UnsafeBufferPointer<UInt8>, firstLine: Int, reusing part: consuming ParsedPart = ParsedPart()) -> ParsedPart {
    var part = part
    part.bytes = bytes.count
    part.rows.reserveCapacity(bytes.count / 32)
    guard let base = bytes.baseAddress else { return part }
    let raw = UnsafeRawPointer(base)
    let (newline, carriageReturn) = (UInt8(ascii: "\n"), UInt8(ascii: "\r"))
    let everyByte: UInt64 = 0x0101_0101_0101_0101
    let (newlines, separatorBytes, carriageReturns) = (UInt64(newline) &* everyByte, UInt64(separator) &* everyByte, UInt64(carriageReturn) &* everyByte)
    let count = bytes.count
    var separators = FieldEnds()
    var line = firstLine
    var start = 0
    while start < count {
      separators.removeAll(startingAt: start)
      var returns = 0
      var lineEnd = count
      var found = false
      var i = start
      while i + 8 <= count {
        let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        let ends = matchingBytes(word, newlines)
        var seps = matchingBytes(word, separatorBytes)
        var crs = matchingBytes(word, carriageReturns)
        if ends != 0 {
          // Only what comes before the line feed belongs to this line.
          let at = ends.trailingZeroBitCount
          let before: UInt64 = (1 << UInt64(at)) &- 1
          (seps, crs) = (seps & before, crs & before)
          lineEnd = i + at / 8
          found = true
        }
        while seps != 0 {
          separators.append(i + seps.trailingZeroBitCount / 8)
          seps &= seps &- 1
        }
        returns += crs.nonzeroBitCount
        if found { break }
        i += 8
      }
      if !found {
        while i < count {
          let byte = base[i]
          if byte == newline {
            lineEnd = i
            break
          }
          if byte == separator { separators.append(i) } else if byte == carriageReturn { returns += 1 }
          i += 1
        }
      }
      var stop = lineEnd
      if stop > start && base[stop - 1] == carriageReturn {
        stop -= 1
        returns -= 1
      }
      let strayCarriageReturn = returns > 0
      if strayCarriageReturn {
        var tokenizer = CSVTokenizer(separator: separator, encoding: encoding, line: line)
        let through = min(bytes.count, lineEnd + 1)
        try? tokenizer.consume(UnsafeBufferPointer(rebasing: bytes[start..<through])) { parse($0, into: &part) }
        if lineEnd == bytes.count { try? tokenizer.finish { parse($0, into: &part) } }
      } else if stop > start {
        // A line with nothing on it is blank, not a record.
        separators.append(stop)
        separators.withFieldEnds { ends in
          let record = CSVTokenizer.Record(
            line: UnsafeBufferPointer(start: base + start, count: stop - start), separatorPositions: ends,
            number: line, encoding: encoding, separator: separator)
          parse(record, into: &part)
        }
      }
      line += 1
      start = lineEnd + 1
    }
    return part
  }

  /// Parses one record; the checks run in the order of `RejectReason`'s documentation.
  func parse(_ record: CSVTokenizer.Record, into part: inout ParsedPart) {
    var row = ParsedRow(outcome: .usable, line: Int32(clamping: record.line))
    defer { part.rows.append(row) }
    if record.count == 1 && record.withField(0, { $0.isEmpty }) {
      row.outcome = .empty
      return
    }
    if record.count < fieldCount {
      row.outcome = .shortLine
      return
    }
    // Each field is hashed on its own, so the fields' hashes overlap in the processor where
    // a chain seeded field by field waited on each; the line's hash mixes them in order.
    // An identifier's field hash is its key's too, unless trimming changes its bytes.
    var lineHash: UInt64 = 0xcbf2_9ce4_8422_2325
    var identifierHashes = (customer: UInt64(0), order: UInt64(0), category: UInt64(0), product: UInt64(0))
    for i in 0..<record.count {
      let fieldHash = record.withField(i) { hashBytes($0) }
      lineHash = mixedLineHash(lineHash, fieldHash)
      if i == customer { identifierHashes.customer = fieldHash }
      if i == order { identifierHashes.order = fieldHash }
      if i == category { identifierHashes.category = fieldHash }
      if i == product { identifierHashes.product = fieldHash }
    }
    row.lineHash = lineHash
    func reject(_ reason: RejectReason) {
      row.outcome = .rejected
      row.reason = reason
    }
    // Called, never passed as a closure: a local function passed as one makes the variables
    // it captures (`row`) checked for exclusive access at run time, on every line.
    func decimal(_ column: Int) -> Double? {
      let (value, mark) = record.withField(column) { (parseDecimal($0), decimalMark($0)) }
      if mark == UInt8(ascii: ",") { row.commaNumbers &+= 1 } else if mark == UInt8(ascii: ".") { row.pointNumbers &+= 1 }
      return value
    }
    // An amount or a price: `decimal`, with the currency it may name read and checked.
    func money(_ column: Int) -> AmountCurrency.Reading {
      let (reading, mark) = record.withField(column) { (AmountCurrency.read($0, report: reportCurrency), decimalMark($0)) }
      if mark == UInt8(ascii: ",") { row.commaNumbers &+= 1 } else if mark == UInt8(ascii: ".") { row.pointNumbers &+= 1 }
      return reading
    }
    guard record.withField(customer, { field in field.contains { $0 != 0x20 } }) else { return reject(.missingCustomer) }
    if record.withField(customer, { unquotedTrimmed($0).elementsEqual(headerCustomer) }),
      (0..<fieldCount).allSatisfy({ record.string($0, encoding: encoding) == headerNames[$0] })
    {
      return reject(.repeatedHeader)
    }
    if record.withField(customer, AnonymousCustomer.isAnonymous) { return reject(.anonymousCustomer) }
    if let status {
      switch record.withField(status, OrderStatus.settlement) {
      case .noSale: return reject(.cancelledOrder)
      // A refunded amount column says what was paid back: nothing is left unknown.
      case .notSettled(let index) where index != OrderStatus.partiallyRefunded || refunded == nil: row.notSettled = UInt8(index + 1)
      case .notSettled, .sale: break
      }
    }
    if let currency, !record.withField(currency.column, currency.accepts) { return reject(.otherCurrency) }
    if totalOnFirstLine, let amount, record.withField(amount, { trimmed($0).isEmpty }) { return reject(.furtherLineItem) }
    guard let date = record.withField(date, parseRawDate) else { return reject(.badDate) }
    row.date = date
    var returned = false
    if let amount {
      switch money(amount) {
      case .value(let value): row.amount = value
      case .bad: return reject(.badAmount)
      case .otherCurrency: return reject(.otherCurrency)
      }
      if let quantity, let q = decimal(quantity) {
        row.quantity = abs(q)
        if q < 0 { returned = true }
      }
    } else if let quantity, let price {
      let p: Double
      switch money(price) {
      case .value(let value): p = value
      case .bad: return reject(.badAmount)
      case .otherCurrency: return reject(.otherCurrency)
      }
      guard let q = decimal(quantity) else { return reject(.badAmount) }
      row.amount = q * p
      row.quantity = abs(q)
      if q < 0 { returned = true }
    } else if let quantity, let q = decimal(quantity) {
      // A log without amounts: the quantity still tells a return.
      row.quantity = abs(q)
      if q < 0 { returned = true }
    }
    if let refunded, row.amount > 0, !returned, case .value(let paidBack) = money(refunded), paidBack > 0 {
      // A sale paid back in full is none; in part, what stays is the sale.
      if paidBack >= row.amount { return reject(.cancelledOrder) }
      row.amount -= paidBack
    }
    // Infinite or absurd amounts (1e309, forty digits) would poison every sum after them.
    guard row.amount.isFinite, abs(row.amount) <= largestLineAmount else { return reject(.amountOutOfRange) }
    if row.amount < 0 { returned = true }
    if isRetailExport, let order, record.withField(order, { $0.first == UInt8(ascii: "C") || $0.first == UInt8(ascii: "c") }) {
      returned = true
    }
    if returned {
      row.isReturn = true
      row.amount = -abs(row.amount)
    }
    row.customer = record.withField(customer) { part.store(trimmed($0), fieldHash: identifierHashes.customer, fieldCount: $0.count) }
    if let order { row.order = record.withField(order) { part.store(trimmed($0), fieldHash: identifierHashes.order, fieldCount: $0.count) } }
    if let promo { row.promo = record.withField(promo, parseFlag) }
    if let category { row.category = record.withField(category) { part.store($0, fieldHash: identifierHashes.category, fieldCount: $0.count) } }
    if let product { row.product = record.withField(product) { part.store(trimmed($0), fieldHash: identifierHashes.product, fieldCount: $0.count) } }
  }
}

/// The decimal mark a number's field shows, if any: a point wherever there is one (`1,234.56`),
/// else a comma; the file's is the one most of its numbers show.
@inline(__always)
private func decimalMark(_ field: UnsafeBufferPointer<UInt8>) -> UInt8? {
  var comma = false
  var point = false
  for b in field {
    if b == UInt8(ascii: ",") { comma = true } else if b == UInt8(ascii: ".") { point = true }
  }
  return point ? UInt8(ascii: ".") : comma ? UInt8(ascii: ",") : nil
}

/// A field without the blanks around it, nor the quotes around what is left.
private func unquotedTrimmed(_ field: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
  let value = trimmed(field)
  guard value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") else { return value }
  return UnsafeBufferPointer(rebasing: value[1..<value.count - 1])
}

extension ParsedPart {
  /// The part without its lines, its buffers kept for the lines of a later part: a chunk's
  /// parts are megabytes, and fresh ones cost the kernel's zeroing of every page again.
  consuming func emptied() -> ParsedPart {
    var part = self
    part.rows.removeAll(keepingCapacity: true)
    part.arena.removeAll(keepingCapacity: true)
    part.verdicts.removeAll(keepingCapacity: true)
    part.bytes = 0
    return part
  }

  /// Copies `bytes`, the trimmed field of `fieldCount` bytes whose `hashBytes` is
  /// `fieldHash`, into the arena: the field's hash is the key's when trimming left it whole.
  @inline(__always)
  mutating func store(_ bytes: UnsafeBufferPointer<UInt8>, fieldHash: UInt64, fieldCount: Int) -> KeyRef {
    let start = arena.count
    arena.append(contentsOf: bytes)
    return KeyRef(start: Int32(start), count: Int32(bytes.count), hash: bytes.count == fieldCount ? fieldHash : hashBytes(bytes))
  }
}

/// Finds record boundaries with the tokenizer's own quoting rules (a quote opens a quoted
/// field only at the start of a field), so that a part starting at a boundary tokenizes
/// exactly as it would have in one pass.
struct RecordBoundaries {
  /// Offset just past the last complete record (0 when none is complete).
  var end = 0
  /// Line breaks before `end`.
  var linesBeforeEnd = 0
  /// Offsets that split `0..<end` into parts of about equal size, with the line breaks before each.
  var cuts: [(offset: Int, lines: Int)] = []

  init(_ bytes: UnsafeBufferPointer<UInt8>, separator: UInt8, parts: Int) {
    if let base = bytes.baseAddress, memchr(base, Int32(UInt8(ascii: "\"")), bytes.count) == nil {
      self.init(unquoted: bytes, parts: parts)
    } else {
      self.init(quoted: bytes, separator: separator, parts: parts)
    }
  }

  /// The boundaries by the tokenizer's quoting state machine, byte by byte.
  init(scanning bytes: UnsafeBufferPointer<UInt8>, separator: UInt8, parts: Int) {
    let newline = UInt8(ascii: "\n")
    var quoting = CSVQuoting()
    var lines = 0
    var nextTarget = parts > 1 ? bytes.count / parts : Int.max
    for i in 0..<bytes.count {
      let byte = bytes[i]
      if byte == newline { lines += 1 }
      // Where the tokenizer ends a record (a blank line too: cutting after it changes nothing).
      let role = quoting.step(byte, separator: separator)
      guard role == .recordEnd || role == .recordEndAtFieldStart else { continue }
      end = i + 1
      linesBeforeEnd = lines
      if end >= nextTarget {
        cuts.append((end, lines))
        nextTarget = cuts.count + 1 < parts ? (cuts.count + 1) * bytes.count / parts : Int.max
      }
    }
    cuts.removeAll { $0.offset >= end }
  }
}

extension RecordBoundaries {
  /// The boundaries the quoting state machine gives, found from quote to quote: between two
  /// quotes nothing but a line feed matters (each ends a record outside quotes), and inside
  /// a quoted field nothing but its closing quote. The state machine's byte-by-byte pass ran
  /// alone, before the parts could start, on every chunk of a file with a quote anywhere (an
  /// export whose descriptions are quoted): a second of a million customers' file.
  init(quoted bytes: UnsafeBufferPointer<UInt8>, separator: UInt8, parts: Int) {
    guard let base = bytes.baseAddress else { return }
    let (quote, newline, carriageReturn) = (UInt8(ascii: "\""), UInt8(ascii: "\n"), UInt8(ascii: "\r"))
    let count = bytes.count
    var lines = 0
    var nextTarget = parts > 1 ? count / parts : Int.max
    // Outside quotes, as `CSVQuoting` has them: a quote opens a field at a field's start,
    // or right after a closing quote (a doubled quote); a carriage return changes neither.
    var (atFieldStart, quoteJustClosed) = (true, false)
    var position = 0
    func next(_ byte: UInt8, from start: Int, to stop: Int) -> Int? {
      guard start < stop, let found = memchr(base + start, Int32(byte), stop - start) else { return nil }
      return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }
    // Each line feed in position..<stop ends a record: the quotes are all elsewhere.
    func recordEnds(to stop: Int) {
      var i = position
      while let at = next(newline, from: i, to: stop) {
        lines += 1
        end = at + 1
        linesBeforeEnd = lines
        if end >= nextTarget {
          cuts.append((end, lines))
          nextTarget = cuts.count + 1 < parts ? (cuts.count + 1) * count / parts : Int.max
        }
        i = at + 1
      }
    }
    while position < count {
      guard let at = next(quote, from: position, to: count) else {
        recordEnds(to: count)
        break
      }
      recordEnds(to: at)
      // The state just before the quote: set by the last byte since `position` other than a
      // carriage return, else the one carried from before.
      var last = at - 1
      while last >= position && base[last] == carriageReturn { last -= 1 }
      if last >= position {
        (atFieldStart, quoteJustClosed) = (base[last] == separator || base[last] == newline, false)
      }
      guard atFieldStart || quoteJustClosed else {
        // A quote inside an unquoted field: content.
        (atFieldStart, quoteJustClosed) = (false, false)
        position = at + 1
        continue
      }
      // A quoted field: its line feeds are content, but lines all the same.
      guard let closing = next(quote, from: at + 1, to: count) else { break }
      lines += countLineFeeds(UnsafeBufferPointer(rebasing: bytes[(at + 1)..<closing]))
      (atFieldStart, quoteJustClosed) = (false, true)
      position = closing + 1
    }
    cuts.removeAll { $0.offset >= end }
  }

  /// Without a quote in the bytes, every line feed ends a record (a carriage return is
  /// ignored either way): the boundaries come from the C library's vectorised byte search
  /// and a count of line feeds eight bytes at a time, instead of the quoting state machine
  /// byte by byte — which ran alone, before the parts could start.
  init(unquoted bytes: UnsafeBufferPointer<UInt8>, parts: Int) {
    let newline = UInt8(ascii: "\n")
    guard let base = bytes.baseAddress, let last = bytes.lastIndex(of: newline) else { return }
    end = last + 1
    var counted = 0
    var lines = 0
    while cuts.count + 1 < parts {
      // The first record end at or past the target, as the byte-by-byte scan picks it.
      let target = max(counted, (cuts.count + 1) * bytes.count / parts - 1)
      guard target < end, let found = memchr(base + target, Int32(newline), end - target) else { break }
      let cut = base.distance(to: found.assumingMemoryBound(to: UInt8.self)) + 1
      guard cut < end else { break }
      lines += countLineFeeds(UnsafeBufferPointer(rebasing: bytes[counted..<cut]))
      counted = cut
      cuts.append((cut, lines))
    }
    linesBeforeEnd = lines + countLineFeeds(UnsafeBufferPointer(rebasing: bytes[counted..<end]))
  }
}

/// The positions where a line's fields end, relative to the line's start, in a buffer
/// reused from line to line.
private struct FieldEnds {
  private var ends = [Int](repeating: 0, count: 64)
  private var count = 0
  private var lineStart = 0

  /// Starts a line at `start`.
  @inline(__always)
  mutating func removeAll(startingAt start: Int) {
    (count, lineStart) = (0, start)
  }

  /// Adds a field that ends at `position` of the bytes.
  @inline(__always)
  mutating func append(_ position: Int) {
    if count == ends.count { ends += [Int](repeating: 0, count: ends.count) }
    ends[count] = position - lineStart
    count += 1
  }

  func withFieldEnds<R>(_ body: (UnsafeBufferPointer<Int>) -> R) -> R {
    ends.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<count])) }
  }
}

/// The bytes of `word` equal to the byte repeated in `pattern`, each marked by its high bit
/// and nothing else set: exact, with no borrow from one byte into the next.
@inline(__always)
func matchingBytes(_ word: UInt64, _ pattern: UInt64) -> UInt64 {
  let x = word ^ pattern
  let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
  return ~(((x & low7) &+ low7) | x | low7)
}

/// Number of line feeds in `bytes`, eight bytes at a time: each byte equal to LF becomes a
/// set high bit (exactly, with no borrow between bytes), then the bits are counted.
func countLineFeeds(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
  guard let base = UnsafeRawPointer(bytes.baseAddress) else { return 0 }
  let words = bytes.count / 8
  var count = 0
  for w in 0..<words {
    count += matchingBytes(base.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self), 0x0A0A_0A0A_0A0A_0A0A).nonzeroBitCount
  }
  for i in words * 8..<bytes.count where bytes[i] == UInt8(ascii: "\n") { count += 1 }
  return count
}

/// Parses `bytes` (whole records from `firstLine`) in the parts that `boundaries` cut, at
/// once, while `runAlongside` runs for 0..<`alongside` beside them, each on a thread. The
/// parts take their buffers from `spares` (emptied parts) while there are some.
func parseInParts(
  _ bytes: UnsafeBufferPointer<UInt8>, boundaries: RecordBoundaries, firstLine: Int, layout: RowLayout, isEnd: Bool,
  spares: inout [ParsedPart], alongside: Int = 0, runAlongside: (Int) -> Void = { _ in }
) throws -> [ParsedPart] {
  var ranges: [(start: Int, end: Int, line: Int)] = []
  var start = 0
  var line = firstLine
  for cut in boundaries.cuts {
    ranges.append((start, cut.offset, line))
    start = cut.offset
    line = firstLine + cut.lines
  }
  ranges.append((start, isEnd ? bytes.count : boundaries.end, line))
  let results = UnsafeMutableBufferPointer<Result<ParsedPart, any Error>>.allocate(capacity: ranges.count)
  defer { results.deallocate() }
  nonisolated(unsafe) let slots = results
  // Moved out of `spares` one by one, so that each part holds its buffers alone and fills
  // them in place instead of copying them first.
  let starts = UnsafeMutableBufferPointer<ParsedPart>.allocate(capacity: ranges.count)
  defer { starts.deallocate() }
  for i in 0..<ranges.count { starts.baseAddress!.advanced(by: i).initialize(to: spares.popLast() ?? ParsedPart()) }
  nonisolated(unsafe) let startSlots = starts
  // The work alongside comes first: it is the longest, and the parts fill in around it.
  concurrentChunks(alongside + ranges.count) { task in
    if task < alongside {
      runAlongside(task)
      return
    }
    let i = task - alongside
    let range = ranges[i]
    let isLast = i == ranges.count - 1
    slots.baseAddress!.advanced(by: i).initialize(
      to: Result {
        try layout.parse(
          UnsafeBufferPointer(rebasing: bytes[range.start..<range.end]), firstLine: range.line, isEnd: isEnd && isLast,
          reusing: startSlots.baseAddress!.advanced(by: i).move())
      })
  }
  defer { _ = results.baseAddress!.deinitialize(count: ranges.count) }
  return try results.map { try $0.get() }
}
