/// Lines above a transactions file's header: a report's title, its date range, a blank
/// line (accounting and point-of-sale reports), or Excel's `sep=;` line. `fidelis analyze`,
/// `dataset upload` and `append` leave them out as they read the file, so that the header
/// is its first line, as the service and every reader expect; a client that sends them
/// gets the reader's error, which names the line it took for the header.
///
/// The header is the first of the file's first `searchedLines` lines whose names give a
/// customer and a date column (`ColumnRole.mapping`, with the job's `--column` names).
/// A file whose first line is one, or none of whose first lines is, is read as it is.
public struct LeadingLines: Sendable, Equatable {
  /// Where the lines above the header are in the bytes given: after a UTF-8 byte-order
  /// mark, which stays.
  public var range: Range<Int>
  /// How many lines they are.
  public var count: Int

  /// Lines looked at for the header.
  public static let searchedLines = 30

  /// The lines above the header in a file's first bytes (its first chunk); nil when the
  /// header is its first line, or is not among its first complete lines.
  public static func find(in head: UnsafeBufferPointer<UInt8>, columns: [String: String] = [:]) -> LeadingLines? {
    let bom = head.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    var start = bom
    var lines = 0
    var forcedSeparator: UInt8?
    while lines < searchedLines, start < head.count, let newline = head[start...].firstIndex(of: UInt8(ascii: "\n")) {
      var line = Array(head[start..<newline])
      if line.last == UInt8(ascii: "\r") { line.removeLast() }
      if isHeader(line, separator: forcedSeparator, columns: columns) {
        return lines == 0 ? nil : LeadingLines(range: bom..<start, count: lines)
      }
      // Excel's directive: the separator of the lines below it.
      if lines == 0, line.count == 5, String(decoding: line.prefix(4), as: UTF8.self).lowercased() == "sep=" { forcedSeparator = line[4] }
      lines += 1
      start = newline + 1
    }
    return nil
  }

  /// Whether a line's names give a customer and a date column.
  static func isHeader(_ line: [UInt8], separator: UInt8?, columns: [String: String]) -> Bool {
    let separator = separator ?? detectSeparator(line)
    guard line.contains(separator) else { return false }
    do {
      let mapping = try ColumnRole.mapping(names: try headerFields(of: line, separator: separator).names, overrides: columns)
      return mapping[.customer] != nil && mapping[.date] != nil
    } catch {
      return false
    }
  }

  /// What a command says of them.
  public var description: String {
    "the header is on line \(count + 1): the \(count == 1 ? "line" : "\(count) lines") above it (a title, a date range, Excel's sep= line) \(count == 1 ? "was" : "were") left out"
  }
}
