import Foundation

/// A UTF-16 file with its byte-order mark, handed out as UTF-8 as it is read: Excel's
/// "Unicode Text" (a tab-separated sheet) and some point-of-sale and Windows tools save
/// their exports so, and converting them with `iconv` was the user's to do. The mark is
/// dropped. A lone surrogate or a file that ends inside a character is an error that says
/// at which byte: a guessed character would change a customer's id without a word.
struct UTF16Stream: ~Copyable {
  private let file: LocalFile
  private let bigEndian: Bool
  /// Encoded bytes read from the file, from `start` to `end` not decoded yet.
  private let input = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 256 << 10)
  private var start = 0
  private var end = 0
  private var endOfFile = false
  /// The UTF-8 bytes of a character that did not fit in the last buffer filled.
  private var carry: [UInt8] = []
  /// Encoded bytes decoded before `input[start]`, mark included: where an error is.
  private var offset = 0

  /// Reads the file from `descriptor`, whose first bytes, `head`, were read already and
  /// start with the byte-order mark (FF FE: little-endian, FE FF: big-endian).
  init(file: LocalFile, head: [UInt8]) {
    self.file = file
    bigEndian = head.first == 0xFE
    let body = head.dropFirst(2)
    _ = UnsafeMutableBufferPointer(rebasing: input[0..<body.count]).initialize(from: body)
    end = body.count
    offset = 2
  }

  deinit { input.deallocate() }

  /// Whether `head` (a file's first bytes) is the byte-order mark of UTF-16, not UTF-32's.
  static func hasMark(_ head: [UInt8]) -> Bool {
    guard head.count >= 2, (head[0] == 0xFF && head[1] == 0xFE) || (head[0] == 0xFE && head[1] == 0xFF) else { return false }
    return !(head[0] == 0xFF && head.count >= 4 && head[2] == 0 && head[3] == 0)
  }

  /// Fills `buffer` with UTF-8 unless the file ends first; returns how many bytes.
  mutating func fill(_ buffer: UnsafeMutableBufferPointer<UInt8>, from descriptor: Int32) throws -> Int {
    var filled = 0
    while filled < buffer.count, !carry.isEmpty {
      buffer[filled] = carry.removeFirst()
      filled += 1
    }
    while filled < buffer.count {
      if end - start < 4 && !endOfFile { try refill(descriptor) }
      if start == end { break }
      // ASCII, most of an export: a byte a unit, without the general path (which took a
      // quarter of a second more per 100 MB).
      let units = min(buffer.count - filled, (end - start) / 2)
      let (low, high) = bigEndian ? (1, 0) : (0, 1)
      var ascii = 0
      while ascii < units, input[start + 2 * ascii + high] == 0, input[start + 2 * ascii + low] < 0x80 {
        buffer[filled + ascii] = input[start + 2 * ascii + low]
        ascii += 1
      }
      (filled, start, offset) = (filled + ascii, start + 2 * ascii, offset + 2 * ascii)
      if ascii > 0 { continue }
      guard end - start >= 2 else { throw unreadable("the file ends inside a UTF-16 character, at byte \(offset)") }
      let unit = self.unit(at: start)
      var scalar = UInt32(unit)
      var width = 2
      if (0xD800...0xDBFF).contains(unit) {
        guard end - start >= 4, case let low = self.unit(at: start + 2), (0xDC00...0xDFFF).contains(low) else {
          throw unreadable(end - start < 4 ? "the file ends inside a UTF-16 character, at byte \(offset)" : "a lone UTF-16 surrogate at byte \(offset)")
        }
        scalar = 0x10000 + (UInt32(unit - 0xD800) << 10) + UInt32(low - 0xDC00)
        width = 4
      } else if (0xDC00...0xDFFF).contains(unit) {
        throw unreadable("a lone UTF-16 surrogate at byte \(offset)")
      }
      start += width
      offset += width
      let (count, bytes) = Self.utf8(scalar)
      for i in 0..<count {
        let byte = UInt8(truncatingIfNeeded: bytes >> (8 * i))
        if filled < buffer.count {
          buffer[filled] = byte
          filled += 1
        } else {
          carry.append(byte)
        }
      }
    }
    return filled
  }

  private func unit(at index: Int) -> UInt16 {
    bigEndian ? UInt16(input[index]) << 8 | UInt16(input[index + 1]) : UInt16(input[index + 1]) << 8 | UInt16(input[index])
  }

  /// The UTF-8 bytes of a scalar: how many (one to four), and the bytes, the first in
  /// the lowest eight bits (no array per character).
  private static func utf8(_ scalar: UInt32) -> (count: Int, bytes: UInt32) {
    switch scalar {
    case ..<0x80: (1, scalar)
    case ..<0x800: (2, (0xC0 | scalar >> 6) | (0x80 | scalar & 0x3F) << 8)
    case ..<0x10000: (3, (0xE0 | scalar >> 12) | (0x80 | scalar >> 6 & 0x3F) << 8 | (0x80 | scalar & 0x3F) << 16)
    default: (4, (0xF0 | scalar >> 18) | (0x80 | scalar >> 12 & 0x3F) << 8 | (0x80 | scalar >> 6 & 0x3F) << 16 | (0x80 | scalar & 0x3F) << 24)
    }
  }

  /// Moves what is left to the front and reads more behind it.
  private mutating func refill(_ descriptor: Int32) throws {
    let left = end - start
    if left > 0 && start > 0 {
      for i in 0..<left { input[i] = input[start + i] }
    }
    (start, end) = (0, left)
    let count = try ByteReader.readFully(descriptor, UnsafeMutableBufferPointer(rebasing: input[end...]), file: file)
    end += count
    endOfFile = end < input.count
  }

  private func unreadable(_ reason: String) -> LocalFile.Unreadable {
    LocalFile.Unreadable(path: file.path, reason: reason)
  }
}
