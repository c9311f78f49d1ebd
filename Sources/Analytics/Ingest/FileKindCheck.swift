/// Tells, from a file's first bytes, that it is something people save or send in place of a
/// CSV (a compressed export, a workbook, UTF-16 text), so that it is refused with what it is
/// and how to make the CSV, where reading it as text quoted a header of binary noise.
///
/// Fed the file's first chunks as they come (of any size); decides once it has `window`
/// bytes or the file ends. A file that starts like text is left to the CSV reader.
public struct FileKindCheck: Sendable {
  /// Bytes looked at: enough for every signature and for UTF-16 without a byte-order mark.
  static let window = 64
  private var head: [UInt8] = []
  private var decided = false

  public init() {}

  /// Looks at the next bytes of the file; throws when the file is no CSV.
  public mutating func observe(_ bytes: UnsafeBufferPointer<UInt8>) throws(CSVFormatError) {
    guard !decided else { return }
    head.append(contentsOf: bytes.prefix(Self.window - head.count))
    if head.count >= Self.window { try decide() }
  }

  /// Looks at the next bytes of the file; throws when the file is no CSV.
  public mutating func observe(_ bytes: [UInt8]) throws(CSVFormatError) {
    try bytes.withUnsafeBufferPointer { (bytes) throws(CSVFormatError) in try observe(bytes) }
  }

  /// Ends the file: a file shorter than the window is judged on what it has.
  public mutating func finish() throws(CSVFormatError) {
    guard !decided else { return }
    try decide()
  }

  private mutating func decide() throws(CSVFormatError) {
    decided = true
    if let reason = Self.reason(head) { throw CSVFormatError(line: 1, reason: reason) }
  }

  /// What the file is, said with what to do, when its first bytes show that it is not
  /// CSV text; nil otherwise.
  public static func reason(_ head: [UInt8]) -> String? {
    func starts(_ signature: [UInt8]) -> Bool { head.starts(with: signature) }
    let decompress = "decompress it first (for example `zcat FILE | fidelis analyze -`, or `fidelis dataset upload <(zcat FILE) --name NAME`)"
    if starts([0x1F, 0x8B]) {
      return "the file is gzip-compressed, not a CSV: send it inflated (`fidelis dataset upload` and `fidelis analyze` inflate a .gz file themselves)"
    }
    if starts(Array("BZh".utf8)) && head.count > 3 && (0x31...0x39).contains(head[3]) { return "the file is bzip2-compressed, not a CSV: \(decompress.replacingOccurrences(of: "zcat", with: "bzcat"))" }
    if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return "the file is xz-compressed, not a CSV: \(decompress.replacingOccurrences(of: "zcat", with: "xzcat"))" }
    if starts([0x28, 0xB5, 0x2F, 0xFD]) { return "the file is zstd-compressed, not a CSV: \(decompress.replacingOccurrences(of: "zcat", with: "zstdcat"))" }
    if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) {
      return "the file is a ZIP archive (an Excel .xlsx workbook is one), not a CSV: save the sheet as “CSV UTF-8”, or take the CSV out of the archive (`fidelis dataset upload` and `analyze` read an archive of one CSV given by its path)"
    }
    if starts([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) { return "the file is an Excel 97–2003 workbook (.xls), not a CSV: save the sheet as “CSV UTF-8”" }
    if starts(Array("%PDF-".utf8)) { return "the file is a PDF, not a CSV: export the data itself as CSV" }
    if starts(Array("PAR1".utf8)) { return "the file is Parquet, not a CSV: write it out as CSV (for example with pandas' to_csv)" }
    let convert = "save it as “CSV UTF-8”, or convert it (`iconv -f UTF-16 -t UTF-8 FILE`)"
    if starts([0xFF, 0xFE, 0x00, 0x00]) || starts([0x00, 0x00, 0xFE, 0xFF]) {
      return "the file is UTF-32 text, not UTF-8 or Windows-1252: \(convert.replacingOccurrences(of: "UTF-16", with: "UTF-32"))"
    }
    if starts([0xFF, 0xFE]) || starts([0xFE, 0xFF]) {
      return "the file is UTF-16 text (as Excel's “Unicode Text” saves it), not UTF-8 or Windows-1252: send it with `fidelis dataset upload` or `append`, which read it as UTF-8, or \(convert)"
    }
    if isUTF16WithoutMark(head) {
      return "the file is UTF-16 text without a byte-order mark, not UTF-8 or Windows-1252: \(convert.replacingOccurrences(of: "-f UTF-16", with: "-f \(head[0] == 0 ? "UTF-16BE" : "UTF-16LE")"))"
    }
    return nil
  }

  /// Text in UTF-16 without a byte-order mark: one byte of every pair zero (Latin text), the
  /// other not.
  private static func isUTF16WithoutMark(_ head: [UInt8]) -> Bool {
    let pairs = head.count / 2
    guard pairs >= 4 else { return false }
    let high = (0..<pairs).filter { head[2 * $0 + 1] == 0 }.count
    let low = (0..<pairs).filter { head[2 * $0] == 0 }.count
    return (high == pairs && low == 0) || (low == pairs && high == 0)
  }
}
