/// The text encodings Fidelis reads. Chosen once per file from its first bytes.
public enum TextEncoding: String, Sendable, Codable {
  case utf8 = "UTF-8"
  case utf8WithBOM = "UTF-8 (BOM)"
  case windows1252 = "Windows-1252"
}

/// An error that makes a whole file unreadable, with the line where it was found.
public struct CSVFormatError: Error, Equatable, Sendable, CustomStringConvertible {
  /// 1-based physical line number where the problem was detected.
  public var line: Int
  /// What is wrong, for a person.
  public var reason: String

  /// Longest reason kept: a reason may quote the file (a header of a million names), and
  /// it travels in messages and job records of bounded size.
  public static let maxReasonLength = 1000

  public init(line: Int, reason: String) {
    self.line = line
    self.reason = reason.count > Self.maxReasonLength ? reason.prefix(Self.maxReasonLength) + "…" : reason
  }

  public var description: String { "line \(line): \(reason)" }
}

/// A streaming RFC 4180 tokenizer over bytes: quoted fields may hold separators, quotes
/// (doubled) and line breaks. It is fed chunks of any size and calls back once per record,
/// so memory does not grow with the file.
///
/// Fields are handed out as byte ranges into a reusable buffer; decoding to text is left
/// to the caller, which only pays for the fields it needs.
public struct CSVTokenizer: Sendable {
  /// The field separator (`,`, `;` or tab); detected from the header line when nil.
  public private(set) var separator: UInt8? {
    didSet { separatorByte = separator ?? 0 }
  }
  /// `separator` once known, unwrapped for the per-byte loop (which runs only then).
  private var separatorByte: UInt8 = 0
  /// The encoding detected from the first chunk.
  public private(set) var encoding: TextEncoding?
  /// Number of the physical line being read (1-based).
  public private(set) var line = 1
  /// Line on which the current record started.
  public private(set) var recordLine = 1

  private var fieldBytes: [UInt8] = []
  private var fieldEnds: [Int] = []
  private var quoting = CSVQuoting()
  private var started = false
  /// Bytes of the first line kept until the separator is known.
  private var headerProbe: [UInt8] = []

  /// Creates a tokenizer; `separator` nil means detect it from the header line.
  public init(separator: UInt8? = nil) {
    self.separator = separator
    self.separatorByte = separator ?? 0
  }

  /// A tokenizer for a part of a file whose encoding is already known, starting on `line`
  /// at a record boundary.
  init(separator: UInt8?, encoding: TextEncoding, line: Int) {
    self.separator = separator
    self.separatorByte = separator ?? 0
    self.encoding = encoding
    self.line = line
    self.recordLine = line
    self.started = true
  }

  /// One record: the fields as byte ranges, valid until the callback returns.
  public struct Record {
    fileprivate let bytes: UnsafeBufferPointer<UInt8>
    /// Where each field ends in `bytes`; a field starts where the one before ends, or, with
    /// `separated`, one byte later (past the separator, when `bytes` is the line itself).
    fileprivate let ends: UnsafeBufferPointer<Int>
    fileprivate let separated: Bool
    /// The line on which this record started.
    public let line: Int
    /// The file's encoding and separator, as detected.
    public let encoding: TextEncoding
    public let separator: UInt8

    /// A record whose fields are the bytes between separators of one unquoted line.
    init(line bytes: UnsafeBufferPointer<UInt8>, separatorPositions ends: UnsafeBufferPointer<Int>, number: Int, encoding: TextEncoding, separator: UInt8) {
      (self.bytes, self.ends, self.separated, self.line, self.encoding, self.separator) = (bytes, ends, true, number, encoding, separator)
    }

    fileprivate init(bytes: UnsafeBufferPointer<UInt8>, ends: UnsafeBufferPointer<Int>, line: Int, encoding: TextEncoding, separator: UInt8) {
      (self.bytes, self.ends, self.separated, self.line, self.encoding, self.separator) = (bytes, ends, false, line, encoding, separator)
    }

    /// Number of fields.
    public var count: Int { ends.count }

    /// The bytes of field `index` (empty when absent).
    public func withField<R>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
      guard index >= 0, index < ends.count else {
        return try body(UnsafeBufferPointer(start: nil, count: 0))
      }
      let start = index == 0 ? 0 : ends[index - 1] + (separated ? 1 : 0)
      return try body(UnsafeBufferPointer(rebasing: bytes[start..<ends[index]]))
    }

    /// Field `index` decoded as text with `encoding`, trimmed of surrounding blanks.
    public func string(_ index: Int, encoding: TextEncoding) -> String {
      withField(index) { decodeText($0, encoding: encoding) }
    }
  }

  /// Feeds bytes; calls `onRecord` for every complete record.
  public mutating func consume(
    _ chunk: UnsafeBufferPointer<UInt8>, onRecord: (Record) throws -> Void
  ) throws {
    var index = chunk.startIndex
    if !started {
      // The encoding is chosen on the first chunk: a BOM, or valid UTF-8, or Windows-1252.
      started = true
      if chunk.count >= 3, chunk[0] == 0xEF, chunk[1] == 0xBB, chunk[2] == 0xBF {
        encoding = .utf8WithBOM
        index += 3
      } else {
        encoding = looksLikeUTF8(UnsafeBufferPointer(rebasing: chunk[index...])) ? .utf8 : .windows1252
      }
    }
    while index < chunk.endIndex {
      let byte = chunk[index]
      index += 1
      if separator == nil {
        // Hold the header back until its end tells which separator it uses.
        headerProbe.append(byte)
        if byte == UInt8(ascii: "\n") && !probeInQuotes() {
          separator = detectSeparator(headerProbe)
          let probe = headerProbe
          headerProbe = []
          try probe.withUnsafeBufferPointer { try feed($0, onRecord: onRecord) }
        }
        continue
      }
      try feedByte(byte, onRecord: onRecord)
    }
  }

  /// Ends the input: emits the last record when the file does not end with a line break.
  public mutating func finish(onRecord: (Record) throws -> Void) throws {
    if separator == nil {
      separator = detectSeparator(headerProbe)
      let probe = headerProbe
      headerProbe = []
      try probe.withUnsafeBufferPointer { try feed($0, onRecord: onRecord) }
    }
    if quoting.inQuotes {
      throw CSVFormatError(line: recordLine, reason: "a quoted field opened here is never closed")
    }
    if !quoting.atFieldStart || !fieldEnds.isEmpty || quoting.quoteJustClosed {
      fieldEnds.append(fieldBytes.count)
      try emit(onRecord)
    }
  }

  private mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>, onRecord: (Record) throws -> Void) throws {
    for byte in bytes { try feedByte(byte, onRecord: onRecord) }
  }

  private func probeInQuotes() -> Bool {
    var quoted = false
    for byte in headerProbe where byte == UInt8(ascii: "\"") { quoted.toggle() }
    return quoted
  }

  @inline(__always)
  private mutating func feedByte(_ byte: UInt8, onRecord: (Record) throws -> Void) throws {
    if byte == UInt8(ascii: "\n") { line += 1 }
    let role = quoting.step(byte, separator: separatorByte)
    if role == .content {
      fieldBytes.append(byte)
      return
    }
    switch role {
    case .content:
      fieldBytes.append(byte)
    case .escapedQuote:
      fieldBytes.append(UInt8(ascii: "\""))
    case .quote, .ignored:
      break
    case .fieldEnd:
      fieldEnds.append(fieldBytes.count)
    case .recordEndAtFieldStart where fieldEnds.isEmpty:
      recordLine = line  // a blank line
    case .recordEnd, .recordEndAtFieldStart:
      fieldEnds.append(fieldBytes.count)
      try emit(onRecord)
    }
  }

  private mutating func emit(_ onRecord: (Record) throws -> Void) throws {
    defer {
      // The record is gone by now, so the buffers are uniquely held and keep their storage.
      fieldBytes.removeAll(keepingCapacity: true)
      fieldEnds.removeAll(keepingCapacity: true)
      recordLine = line
    }
    let (line, encoding, separator) = (recordLine, encoding ?? .utf8, separator ?? 44)
    try fieldBytes.withUnsafeBufferPointer { bytes in
      try fieldEnds.withUnsafeBufferPointer { ends in
        try onRecord(Record(bytes: bytes, ends: ends, line: line, encoding: encoding, separator: separator))
      }
    }
  }
}

/// Picks the separator that occurs most often outside quotes in the header line.
/// The names of one line (without its line break) read as a header by the ingestor's own
/// tokenizer: its separator detection (or `separator`, when the file says it), quoting and
/// decoding. An append's plan and the search for a header below a title read lines so.
func headerFields(of line: [UInt8], separator: UInt8? = nil) throws -> (names: [String], separator: UInt8) {
  var tokenizer = CSVTokenizer(separator: separator)
  var names: [String] = []
  var detected = separator ?? detectSeparator(line)
  let read = { (record: CSVTokenizer.Record) in
    guard names.isEmpty else { return }
    detected = record.separator
    names = (0..<record.count).map { record.string($0, encoding: record.encoding) }
  }
  try (line + [0x0A]).withUnsafeBufferPointer { try tokenizer.consume($0, onRecord: read) }
  try tokenizer.finish(onRecord: read)
  return (names, detected)
}

func detectSeparator(_ header: [UInt8]) -> UInt8 {
  var counts: [UInt8: Int] = [UInt8(ascii: ","): 0, UInt8(ascii: ";"): 0, UInt8(ascii: "\t"): 0, UInt8(ascii: "|"): 0]
  var quoted = false
  for byte in header {
    if byte == UInt8(ascii: "\"") { quoted.toggle() }
    if !quoted, counts[byte] != nil { counts[byte]! += 1 }
  }
  let best = counts.max { a, b in a.value == b.value ? a.key > b.key : a.value < b.value }!
  return best.value == 0 ? UInt8(ascii: ",") : best.key
}

/// True when `bytes` are valid UTF-8 (a sequence cut at the end of the chunk is accepted).
func looksLikeUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
  var i = 0
  let n = bytes.count
  while i < n {
    let b = bytes[i]
    if b < 0x80 { i += 1; continue }
    let length: Int
    if b & 0xE0 == 0xC0 { length = 2 } else if b & 0xF0 == 0xE0 { length = 3 } else if b & 0xF8 == 0xF0 { length = 4 } else { return false }
    if b == 0xC0 || b == 0xC1 { return false }
    for j in 1..<length {
      if i + j >= n { return true }
      if bytes[i + j] & 0xC0 != 0x80 { return false }
    }
    i += length
  }
  return true
}

/// Windows-1252 code points for bytes 0x80–0x9F (the rest map to Latin-1).
private let windows1252High: [UInt32] = [
  0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
  0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
]

/// Decodes a field, trimming spaces; invalid UTF-8 falls back to Windows-1252 for that field.
func decodeText(_ bytes: UnsafeBufferPointer<UInt8>, encoding: TextEncoding) -> String {
  var start = bytes.startIndex
  var end = bytes.endIndex
  while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
  while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
  let slice = UnsafeBufferPointer(rebasing: bytes[start..<end])
  if encoding != .windows1252, looksLikeUTF8(slice) {
    return String(decoding: slice, as: UTF8.self)
  }
  var scalars = String.UnicodeScalarView()
  for byte in slice {
    let value = (0x80...0x9F).contains(byte) ? windows1252High[Int(byte) - 0x80] : UInt32(byte)
    scalars.append(Unicode.Scalar(value) ?? "?")
  }
  return String(scalars)
}

/// The quoting rules of RFC 4180, one byte at a time: the tokenizer follows them to split
/// fields, and the scan that cuts a chunk into parts for both cores follows them to cut only
/// where the tokenizer would end a record. One definition, so the two cannot disagree.
struct CSVQuoting: Sendable {
  private(set) var inQuotes = false
  /// A quoted field just closed: a quote now is a doubled quote inside it.
  private(set) var quoteJustClosed = false
  private(set) var atFieldStart = true

  /// What a byte is to the record being read.
  enum Role {
    /// Part of the field's value.
    case content
    /// The second quote of a doubled quote: one quote in the value.
    case escapedQuote
    /// A quote that opens or closes a quoted field.
    case quote
    /// A separator outside quotes.
    case fieldEnd
    /// A line break outside quotes.
    case recordEnd
    /// A line break outside quotes with nothing read since the last field end: a blank line
    /// if no field ended either.
    case recordEndAtFieldStart
    /// A carriage return outside quotes (CRLF: the LF ends the record).
    case ignored
  }

  @inline(__always)
  mutating func step(_ byte: UInt8, separator: UInt8) -> Role {
    let quote = UInt8(ascii: "\"")
    if inQuotes {
      if byte == quote {
        inQuotes = false
        quoteJustClosed = true
        return .quote
      }
      return .content
    }
    if quoteJustClosed && byte == quote {
      inQuotes = true
      quoteJustClosed = false
      return .escapedQuote
    }
    if byte == separator {
      atFieldStart = true
      quoteJustClosed = false
      return .fieldEnd
    }
    switch byte {
    case UInt8(ascii: "\n"):
      let role: Role = atFieldStart && !quoteJustClosed ? .recordEndAtFieldStart : .recordEnd
      atFieldStart = true
      quoteJustClosed = false
      return role
    case UInt8(ascii: "\r"):
      return .ignored
    case quote where atFieldStart:
      inQuotes = true
      atFieldStart = false
      return .quote
    default:
      atFieldStart = false
      quoteJustClosed = false
      return .content
    }
  }
}

/// Files from old Mac software end their lines with a lone carriage return. Such a file
/// reads as one endless line; its line ends are turned into line feeds before tokenizing.
/// The kind of line end is decided by the first one met: CR LF and LF files pass unchanged.
struct LineEnds: Sendable {
  private enum Kind { case undecided, lineFeed, carriageReturnOnly }
  private var kind = Kind.undecided
  /// The last chunk ended with a CR: the next byte tells CR LF from CR alone.
  private var endedWithCarriageReturn = false

  /// True once the file is known to end its lines with CR alone.
  var areCarriageReturns: Bool { kind == .carriageReturnOnly }

  /// Looks at the next chunk while the kind is not known yet.
  mutating func observe(_ chunk: UnsafeBufferPointer<UInt8>) {
    guard kind == .undecided, !chunk.isEmpty else { return }
    if endedWithCarriageReturn {
      kind = chunk[chunk.startIndex] == 0x0A ? .lineFeed : .carriageReturnOnly
      return
    }
    for i in chunk.indices {
      if chunk[i] == 0x0A {
        kind = .lineFeed
        return
      }
      if chunk[i] == 0x0D {
        // A CR at the very end of a chunk may be the first half of CR LF: the next chunk tells.
        guard i + 1 < chunk.endIndex else {
          endedWithCarriageReturn = true
          return
        }
        kind = chunk[i + 1] == 0x0A ? .lineFeed : .carriageReturnOnly
        return
      }
    }
  }

  /// `bytes` with every CR made a LF.
  static func converted(_ bytes: some Sequence<UInt8>) -> [UInt8] {
    bytes.map { $0 == 0x0D ? 0x0A : $0 }
  }
}

/// At most `limit` names, each cut at 40 characters, then how many more: for messages that
/// quote a file's header.
func abbreviatedList(_ names: [String], limit: Int = 20) -> String {
  let shown = names.prefix(limit).map { $0.count > 40 ? $0.prefix(40) + "…" : $0 }
  let rest = names.count - shown.count
  return shown.joined(separator: ", ") + (rest > 0 ? " and \(rest) more" : "")
}
