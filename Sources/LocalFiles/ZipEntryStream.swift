import CZlib
import Foundation

/// The one CSV of a ZIP archive, inflated as it is read: shops and reporting tools hand
/// their exports out zipped (`orders_export.zip`), and unzipping was the user's to do.
///
/// The archive's directory (at its end) is read first, so only a regular file, not a pipe.
/// It is read when, leaving out folders and the files macOS adds (`__MACOSX/`,
/// `.DS_Store`), it holds exactly one file, named `.csv`, `.tsv` or `.txt`, stored or
/// deflated. One that holds several such files is refused with their names; any other (an
/// `.xlsx` workbook is a ZIP archive too) is handed out as it is, for the reader to refuse
/// by what it is. The entry's CRC-32 is checked at its end.
struct ZipEntryStream: ~Copyable {
  /// An entry of the archive's directory.
  struct Entry {
    var name: String
    var method: UInt16
    var flags: UInt16
    var crc: UInt32
    var compressedSize: Int
    var size: Int
    var localHeaderOffset: Int

    /// The entry's name without its folders: the name of what the archive holds.
    var baseName: String { name.split(separator: "/").last.map(String.init) ?? "" }
  }

  private let file: LocalFile
  /// zlib's state, at a fixed address (zlib keeps pointers into it); nil for a stored entry.
  private let stream: UnsafeMutablePointer<z_stream>?
  private let input = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 256 << 10)
  /// Compressed bytes of the entry not read from the file yet.
  private var remaining: Int
  private let entry: Entry
  private var crc: UInt32 = 0
  private var produced = 0
  private var finished = false

  /// The entry of the archive open at `descriptor` to read, when the archive is one CSV;
  /// nil when it is no archive of one CSV (to be handed out as it is). Throws when it holds
  /// several, or its one CSV cannot be read.
  static func csvEntry(of file: LocalFile, descriptor: Int32) throws -> Entry? {
    var status = stat()
    guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
    let size = Int(status.st_size)
    // The end of the central directory: 22 bytes, then a comment of at most 65,535.
    let tailSize = min(size, 22 + 65_535)
    var tail = [UInt8](repeating: 0, count: tailSize)
    guard pread(descriptor, &tail, tailSize, off_t(size - tailSize)) == tailSize else { return nil }
    guard let end = stride(from: tailSize - 22, through: 0, by: -1).first(where: { tail.le32($0) == 0x0605_4B50 }) else { return nil }
    let count = Int(tail.le16(end + 10))
    let directorySize = Int(tail.le32(end + 12))
    let directoryOffset = Int(tail.le32(end + 16))
    if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
      throw LocalFile.Unreadable(path: file.path, reason: "a ZIP64 archive is not read: unzip it, then read the CSV")
    }
    guard directoryOffset + directorySize <= size else { return nil }
    var directory = [UInt8](repeating: 0, count: directorySize)
    guard pread(descriptor, &directory, directorySize, off_t(directoryOffset)) == directorySize else { return nil }
    var entries: [Entry] = []
    var at = 0
    for _ in 0..<count {
      guard at + 46 <= directory.count, directory.le32(at) == 0x0201_4B50 else { return nil }
      let nameLength = Int(directory.le16(at + 28)), extraLength = Int(directory.le16(at + 30)), commentLength = Int(directory.le16(at + 32))
      guard at + 46 + nameLength <= directory.count else { return nil }
      let name = String(decoding: directory[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
      entries.append(
        Entry(
          name: name, method: directory.le16(at + 10), flags: directory.le16(at + 8), crc: directory.le32(at + 16),
          compressedSize: Int(directory.le32(at + 20)), size: Int(directory.le32(at + 24)), localHeaderOffset: Int(directory.le32(at + 42))))
      at += 46 + nameLength + extraLength + commentLength
    }
    let files = entries.filter { entry in
      !entry.name.hasSuffix("/") && !entry.name.hasPrefix("__MACOSX/") && entry.baseName != ".DS_Store" && !entry.baseName.isEmpty
    }
    let tables = files.filter { [".csv", ".tsv", ".txt"].contains(where: $0.name.lowercased().hasSuffix) }
    guard tables.count == files.count, let only = tables.first else { return nil }
    guard tables.count == 1 else {
      let names = tables.prefix(5).map(\.name).joined(separator: ", ") + (tables.count > 5 ? "…" : "")
      throw LocalFile.Unreadable(path: file.path, reason: "the ZIP archive holds \(tables.count) files (\(names)): take out the one to read")
    }
    if only.flags & 1 != 0 { throw LocalFile.Unreadable(path: file.path, reason: "\(only.name) is encrypted in the ZIP archive: unzip it, then read the CSV") }
    guard only.method == 0 || only.method == 8 else {
      throw LocalFile.Unreadable(path: file.path, reason: "\(only.name) is compressed with ZIP method \(only.method), which is not read: unzip it, then read the CSV")
    }
    return only
  }

  /// Reads `entry` of the archive open at `descriptor`: its data starts after its local
  /// header, whose name and extra field may differ in length from the directory's.
  init(file: LocalFile, entry: Entry, descriptor: Int32) throws {
    self.file = file
    self.entry = entry
    remaining = entry.compressedSize
    var header = [UInt8](repeating: 0, count: 30)
    guard pread(descriptor, &header, 30, off_t(entry.localHeaderOffset)) == 30, header.le32(0) == 0x0403_4B50 else {
      input.deallocate()
      throw LocalFile.Unreadable(path: file.path, reason: "the ZIP archive's entry \(entry.name) has no local header where its directory says")
    }
    let dataOffset = entry.localHeaderOffset + 30 + Int(header.le16(26)) + Int(header.le16(28))
    guard lseek(descriptor, off_t(dataOffset), SEEK_SET) == off_t(dataOffset) else {
      input.deallocate()
      throw LocalFile.Unreadable(path: file.path, reason: String(cString: strerror(errno)))
    }
    if entry.method == 8 {
      let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
      stream.initialize(to: z_stream())
      // Negative window bits: raw deflate, as ZIP stores it, without zlib's header.
      guard inflateInit2_(stream, -MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        stream.deallocate()
        input.deallocate()
        throw LocalFile.Unreadable(path: file.path, reason: "zlib could not start")
      }
      self.stream = stream
    } else {
      stream = nil
    }
  }

  deinit {
    if let stream {
      inflateEnd(stream)
      stream.deallocate()
    }
    input.deallocate()
  }

  /// Fills `buffer` with the entry's bytes unless it ends first; returns how many.
  mutating func fill(_ buffer: UnsafeMutableBufferPointer<UInt8>, from descriptor: Int32) throws -> Int {
    var filled = 0
    if let stream {
      while filled < buffer.count && !finished {
        if stream.pointee.avail_in == 0 && remaining > 0 { try refill(descriptor, stream: stream) }
        stream.pointee.next_out = buffer.baseAddress! + filled
        stream.pointee.avail_out = UInt32(buffer.count - filled)
        let status = inflate(stream, Z_NO_FLUSH)
        filled = buffer.count - Int(stream.pointee.avail_out)
        switch status {
        case Z_STREAM_END: finished = true
        case Z_OK: continue
        case Z_BUF_ERROR where stream.pointee.avail_in == 0 && remaining == 0:
          throw LocalFile.Unreadable(path: file.path, reason: "\(entry.name) ends in the ZIP archive before its data does (cut short?)")
        case Z_BUF_ERROR: continue
        default:
          let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
          throw LocalFile.Unreadable(path: file.path, reason: "\(entry.name) is damaged in the ZIP archive (\(message))")
        }
      }
    } else {
      let wanted = min(buffer.count, remaining)
      filled = try ByteReader.readFully(descriptor, UnsafeMutableBufferPointer(rebasing: buffer[0..<wanted]), file: file)
      remaining -= filled
      if filled < wanted { throw LocalFile.Unreadable(path: file.path, reason: "\(entry.name) ends in the ZIP archive before its data does (cut short?)") }
      finished = remaining == 0
    }
    crc = UInt32(truncatingIfNeeded: crc32(UInt(crc), buffer.baseAddress, UInt32(filled)))
    produced += filled
    // The call that comes short is the last: the whole entry has been given.
    if finished && filled < buffer.count {
      guard produced == entry.size, crc == entry.crc else {
        throw LocalFile.Unreadable(path: file.path, reason: "\(entry.name) is damaged in the ZIP archive (its size or CRC-32 is not the directory's)")
      }
    }
    return filled
  }

  private mutating func refill(_ descriptor: Int32, stream: UnsafeMutablePointer<z_stream>) throws {
    let count = try ByteReader.readFully(descriptor, UnsafeMutableBufferPointer(rebasing: input[0..<min(input.count, remaining)]), file: file)
    remaining = count == 0 ? 0 : remaining - count
    stream.pointee.next_in = input.baseAddress
    stream.pointee.avail_in = UInt32(count)
  }
}

extension [UInt8] {
  /// The little-endian 16-bit value at `offset`.
  fileprivate func le16(_ offset: Int) -> UInt16 { UInt16(self[offset]) | UInt16(self[offset + 1]) << 8 }

  /// The little-endian 32-bit value at `offset`.
  fileprivate func le32(_ offset: Int) -> UInt32 {
    UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16 | UInt32(self[offset + 3]) << 24
  }
}
