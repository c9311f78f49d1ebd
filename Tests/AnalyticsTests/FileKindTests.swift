import Foundation
import Testing

@testable import Analytics

/// Files saved or sent in place of a CSV are refused by what they are.
@Suite("Files that are not CSV")
struct FileKindTests {
  static let csv = Array("customer_id,order_id,order_date,amount\nC1,O1,2024-01-02,10.50\nC2,O2,2024-01-03,20.00\n".utf8)

  /// Real signatures: each file's first bytes as its tool writes them.
  static let kinds: [(name: String, head: [UInt8], says: String)] = [
    ("gzip", [0x1F, 0x8B, 0x08, 0x08] + Array(repeating: 0x41, count: 80), "gzip-compressed"),
    ("bzip2", Array("BZh91AY&SY".utf8) + Array(repeating: 0x41, count: 80), "bzip2-compressed"),
    ("xz", [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00] + Array(repeating: 0x41, count: 80), "xz-compressed"),
    ("zstd", [0x28, 0xB5, 0x2F, 0xFD] + Array(repeating: 0x41, count: 80), "zstd-compressed"),
    ("xlsx", [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00] + Array(repeating: 0x41, count: 80), "ZIP archive"),
    ("xls", [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] + Array(repeating: 0, count: 80), "Excel 97–2003"),
    ("pdf", Array("%PDF-1.7\n".utf8) + Array(repeating: 0x41, count: 80), "a PDF"),
    ("parquet", Array("PAR1".utf8) + Array(repeating: 0x41, count: 80), "Parquet"),
    ("UTF-16LE with its mark", [0xFF, 0xFE] + utf16(littleEndian: true), "UTF-16 text (as Excel's “Unicode Text” saves it), not UTF-8 or Windows-1252: send it with `fidelis dataset upload`"),
    ("UTF-16BE with its mark", [0xFE, 0xFF] + utf16(littleEndian: false), "UTF-16 text (as Excel's “Unicode Text” saves it)"),
    ("UTF-16LE without a mark", utf16(littleEndian: true), "UTF-16 text without a byte-order mark, not UTF-8 or Windows-1252: save it as “CSV UTF-8”, or convert it (`iconv -f UTF-16LE -t UTF-8 FILE`)"),
    ("UTF-16BE without a mark", utf16(littleEndian: false), "UTF-16 text without a byte-order mark, not UTF-8 or Windows-1252: save it as “CSV UTF-8”, or convert it (`iconv -f UTF-16BE -t UTF-8 FILE`)"),
    ("UTF-32LE", [0xFF, 0xFE, 0x00, 0x00] + Array(repeating: 0x41, count: 80), "UTF-32 text"),
  ]

  static func utf16(littleEndian: Bool) -> [UInt8] {
    String(decoding: csv, as: UTF8.self).utf16.flatMap { unit in
      littleEndian ? [UInt8(unit & 0xFF), UInt8(unit >> 8)] : [UInt8(unit >> 8), UInt8(unit & 0xFF)]
    }
  }

  @Test("each kind is named, whether its bytes come whole or one at a time, and so are the reading of a transactions file and of a customer file",
    arguments: kinds.indices)
  func refused(kind: Int) throws {
    let (_, head, says) = Self.kinds[kind]
    var whole = FileKindCheck()
    let error = #expect(throws: CSVFormatError.self) {
      try whole.observe(head)
      try whole.finish()
    }
    #expect(error?.reason.contains(says) == true, "\(error?.reason ?? "")")
    var byByte = FileKindCheck()
    let again = #expect(throws: CSVFormatError.self) {
      for byte in head { try byByte.observe([byte]) }
      try byByte.finish()
    }
    #expect(again == error)
    let reading = #expect(throws: CSVFormatError.self) { try TransactionIngestor.ingest(head) }
    #expect(reading == error)
    var customers = CustomerAttributesIngestor()
    let customerReading = #expect(throws: CSVFormatError.self) {
      try customers.consume(head)
      _ = try customers.finish()
    }
    #expect(customerReading == error)
  }

  @Test("text passes: UTF-8 with or without its mark, Windows-1252, a file shorter than the bytes looked at, an empty one")
  func textPasses() throws {
    let windows1252: [UInt8] = Array("customer_id,amount\nCl".utf8) + [0xE9] + Array("ment,10\n".utf8)
    for bytes in [Self.csv, [0xEF, 0xBB, 0xBF] + Self.csv, windows1252, Array("a,b\n1,2\n".utf8), []] {
      var check = FileKindCheck()
      try check.observe(bytes)
      try check.finish()
    }
    #expect(try TransactionIngestor.ingest(Self.csv).orderCount == 2)
  }
}
