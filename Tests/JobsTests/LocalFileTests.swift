import Foundation
import LocalFiles
import Testing

/// A file read in chunks, as an upload and a local analysis read it.
@Suite("Local files")
struct LocalFileTests {
  /// A file of `size` bytes that no two chunks share, in a folder of its own.
  private func file(size: Int) throws -> (LocalFile, Data, URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fidelis-file-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let bytes = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 20) })
    let url = directory.appendingPathComponent("data.csv")
    try bytes.write(to: url)
    return (LocalFile(path: url.path), bytes, directory)
  }

  @Test(
    "chunks come whole and in order, the last one short; the chunks a caller keeps do not change as the next ones are read",
    arguments: [0, 1, LocalFile.chunkBytes - 1, LocalFile.chunkBytes, LocalFile.chunkBytes + 1, 3 * LocalFile.chunkBytes + 12_345])
  func chunks(size: Int) async throws {
    let (file, bytes, directory) = try file(size: size)
    defer { try? FileManager.default.removeItem(at: directory) }
    var kept: [(offset: Int, chunk: Data)] = []
    var seen = Data()
    var count = 0
    try await file.readChunks { chunk in
      #expect(!chunk.isEmpty && chunk.count <= LocalFile.chunkBytes)
      // Every chunk whole but the last: a chunk never ends short of the file's end.
      #expect(chunk.count == min(LocalFile.chunkBytes, size - seen.count))
      // Every other chunk is kept as it came; the others are let go, their memory reused.
      if count % 2 == 0 { kept.append((seen.count, chunk)) }
      seen.append(chunk)
      count += 1
    }
    #expect(seen == bytes)
    #expect(count == (size + LocalFile.chunkBytes - 1) / LocalFile.chunkBytes)
    for (offset, chunk) in kept {
      #expect(chunk == bytes[offset..<offset + chunk.count])
    }
    var viaBuffers = Data()
    try file.readBuffers { viaBuffers.append($0) }
    #expect(viaBuffers == bytes)
  }

  @Test("a file that cannot be read is named, with the reason, before and while it is read")
  func unreadable() async throws {
    let file = LocalFile(path: "/nonexistent/fidelis/data.csv")
    let error = await #expect(throws: LocalFile.Unreadable.self) { try await file.readChunks { _ in } }
    #expect(error?.description == "cannot read /nonexistent/fidelis/data.csv: No such file or directory")
    let checked = #expect(throws: LocalFile.Unreadable.self) { try LocalFile.requireReadable(["/nonexistent/fidelis/data.csv"]) }
    #expect(checked?.description == error?.description)
    let folder = FileManager.default.temporaryDirectory.path
    let notAFile = #expect(throws: LocalFile.Unreadable.self) { try LocalFile.requireReadable([folder]) }
    #expect(notAFile?.description == "cannot read \(folder): it is a folder")
  }

  @Test("a named pipe is read to its end as it comes; it has no size to announce and no name of its own, which a file has")
  func pipe() async throws {
    let (regular, bytes, directory) = try file(size: 2 * LocalFile.chunkBytes + 777)
    defer { try? FileManager.default.removeItem(at: directory) }
    #expect(regular.byteCount == bytes.count && regular.hasOwnName)
    let path = directory.appendingPathComponent("pipe").path
    #expect(mkfifo(path, 0o600) == 0)
    let pipe = LocalFile(path: path)
    #expect(pipe.byteCount == nil && !pipe.hasOwnName)
    #expect(!LocalFile(path: "-").hasOwnName && !LocalFile(path: "/dev/stdin").hasOwnName)
    // The writer writes in pieces that are not chunks, as zcat would.
    let writer = Thread {
      let descriptor = open(path, O_WRONLY)
      bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
          let count = min(65_537, raw.count - offset)
          offset += write(descriptor, raw.baseAddress! + offset, count)
        }
      }
      close(descriptor)
    }
    writer.start()
    var seen = Data()
    var sizes: [Int] = []
    try await pipe.readChunks { chunk in
      seen.append(chunk)
      sizes.append(chunk.count)
    }
    #expect(seen == bytes)
    #expect(sizes == [LocalFile.chunkBytes, LocalFile.chunkBytes, 777])
  }

  /// `bytes` gzipped by the system's gzip (a tool nobody here wrote), at `level`.
  private func gzipped(_ bytes: Data, level: Int = 6) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = ["-c", "-\(level)"]
    let (input, output) = (Pipe(), Pipe())
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    let writer = Thread {
      input.fileHandleForWriting.write(bytes)
      try? input.fileHandleForWriting.close()
    }
    writer.start()
    let compressed = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return compressed
  }

  @Test(
    "a gzip file is inflated as it is read, in whole chunks, one member after another and past zeros of padding, as zcat reads it",
    arguments: [(1, 1, false), (6, 1, false), (9, 3, false), (6, 2, true)])
  func gzip(level: Int, members: Int, padded: Bool) async throws {
    let (plain, bytes, directory) = try file(size: 2 * LocalFile.chunkBytes + 4321)
    defer { try? FileManager.default.removeItem(at: directory) }
    var compressed = Data()
    for _ in 0..<members { compressed.append(try gzipped(bytes, level: level)) }
    if padded { compressed.append(Data(count: 512)) }
    let url = directory.appendingPathComponent("data.csv.gz")
    try compressed.write(to: url)
    let file = LocalFile(path: url.path)
    #expect(file.isGzip && !plain.isGzip)
    #expect(file.byteCount == nil && file.contentName == "data.csv" && plain.contentName == "data.csv")
    // The trailer's size is the last member's (short of the whole with several: a hint that
    // only makes tables grow); padding hides it.
    #expect(file.sizeHint == (padded ? nil : bytes.count))
    var sizes: [Int] = []
    var seen = Data()
    try await file.readChunks { chunk in
      sizes.append(chunk.count)
      seen.append(chunk)
    }
    let whole = (0..<members).reduce(into: Data()) { all, _ in all.append(bytes) }
    #expect(seen == whole)
    #expect(sizes.dropLast().allSatisfy { $0 == LocalFile.chunkBytes })
    var viaBuffers = Data()
    try file.readBuffers { viaBuffers.append($0) }
    #expect(viaBuffers == whole)
  }

  @Test("a gzip file cut short, or followed by bytes that are not gzip, is said with the reason, after what it gave")
  func damagedGzip() async throws {
    let (_, bytes, directory) = try file(size: LocalFile.chunkBytes + 99)
    defer { try? FileManager.default.removeItem(at: directory) }
    let compressed = try gzipped(bytes)
    let cases: [(Data, String)] = [
      (compressed.prefix(compressed.count / 2), "the gzip file ends before its data does (cut short?)"),
      (compressed + Data("junk".utf8), "bytes that are not gzip after the end of its data, at compressed byte \(compressed.count)"),
      (Data([0x1F, 0x8B]) + Data(repeating: 0x41, count: 100), "not a valid gzip file"),
    ]
    for (damaged, reason) in cases {
      let url = directory.appendingPathComponent("damaged.gz")
      try damaged.write(to: url)
      let error = await #expect(throws: LocalFile.Unreadable.self) { try await LocalFile(path: url.path).readChunks { _ in } }
      #expect(error?.description.hasPrefix("cannot read \(url.path): \(reason)") == true, "\(error?.description ?? "")")
    }
  }

  /// Text of every width in UTF-8: ASCII, accented letters (two bytes), the euro (three),
  /// an emoji (four, a surrogate pair in UTF-16), repeated past a few chunks.
  private static let mixedText = String(repeating: "customer\torder\tamount\nCliënte-001\tO-1\t12,50 €\n🛒-buyer\t日本-2\t3.00\n", count: 40_000)

  @Test("UTF-16 with its byte-order mark (Excel's Unicode Text), either byte order, is read as the same UTF-8, in whole chunks, without the mark", arguments: [false, true])
  func utf16(bigEndian: Bool) async throws {
    let (_, _, directory) = try file(size: 0)
    defer { try? FileManager.default.removeItem(at: directory) }
    let text = Self.mixedText
    var encoded = Data(bigEndian ? [0xFE, 0xFF] : [0xFF, 0xFE])
    for unit in text.utf16 {
      encoded.append(contentsOf: bigEndian ? [UInt8(unit >> 8), UInt8(unit & 0xFF)] : [UInt8(unit & 0xFF), UInt8(unit >> 8)])
    }
    let url = directory.appendingPathComponent("export.txt")
    try encoded.write(to: url)
    let file = LocalFile(path: url.path)
    // Its UTF-8 is of another size than the file: nothing announces the file's.
    #expect(file.byteCount == nil && !file.isGzip && file.sizeHint == encoded.count / 2)
    var sizes: [Int] = []
    var seen = Data()
    try await file.readChunks { chunk in
      sizes.append(chunk.count)
      seen.append(chunk)
    }
    #expect(seen == Data(text.utf8))
    #expect(sizes.count > 2 && sizes.dropLast().allSatisfy { $0 == LocalFile.chunkBytes })
    var viaBuffers = Data()
    try file.readBuffers { viaBuffers.append($0) }
    #expect(viaBuffers == Data(text.utf8))
  }

  @Test("UTF-16 that ends inside a character, or holds a lone surrogate, is said with the byte where; UTF-32's mark is not taken for UTF-16's")
  func damagedUTF16() async throws {
    let (_, _, directory) = try file(size: 0)
    defer { try? FileManager.default.removeItem(at: directory) }
    let cases: [(Data, String)] = [
      (Data([0xFF, 0xFE, 0x41, 0x00, 0x42]), "the file ends inside a UTF-16 character, at byte 4"),
      (Data([0xFF, 0xFE, 0x41, 0x00, 0x3D, 0xD8]), "the file ends inside a UTF-16 character, at byte 4"),
      (Data([0xFF, 0xFE, 0x41, 0x00, 0x3D, 0xD8, 0x41, 0x00]), "a lone UTF-16 surrogate at byte 4"),
      (Data([0xFE, 0xFF, 0x00, 0x41, 0xDC, 0x00]), "a lone UTF-16 surrogate at byte 4"),
    ]
    for (damaged, reason) in cases {
      let url = directory.appendingPathComponent("damaged.txt")
      try damaged.write(to: url)
      let error = await #expect(throws: LocalFile.Unreadable.self) { try await LocalFile(path: url.path).readChunks { _ in } }
      #expect(error?.description == "cannot read \(url.path): \(reason)")
    }
    // UTF-32 is handed out as it is, for the reader to refuse by what it is.
    let utf32 = Data([0xFF, 0xFE, 0x00, 0x00, 0x41, 0x00, 0x00, 0x00])
    let url = directory.appendingPathComponent("utf32.txt")
    try utf32.write(to: url)
    var seen = Data()
    try await LocalFile(path: url.path).readChunks { seen.append($0) }
    #expect(seen == utf32 && LocalFile(path: url.path).byteCount == utf32.count)
  }

  /// A ZIP archive of `entries`, each stored or deflated: the deflated data is gzip's (a
  /// tool nobody here wrote) without its header and trailer, its CRC-32 and size gzip's own.
  private func zipArchive(_ entries: [(name: String, data: Data, deflated: Bool)]) throws -> Data {
    func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xFF) } }
    var archive = Data()
    var directory = Data()
    for entry in entries {
      let gz = try gzipped(entry.data)
      let crc = gz.suffix(8).prefix(4).enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
      let body = entry.deflated ? Data(gz.dropFirst(10).dropLast(8)) : entry.data
      let name = Array(entry.name.utf8)
      let fields = le16(entry.deflated ? 8 : 0) + le16(0) + le16(0) + le32(crc) + le32(UInt32(body.count)) + le32(UInt32(entry.data.count)) + le16(name.count) + le16(0)
      let offset = UInt32(archive.count)
      archive.append(contentsOf: le32(0x0403_4B50) + le16(20) + le16(0) + fields + name)
      archive.append(body)
      directory.append(contentsOf: le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + fields + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + name)
    }
    let directoryOffset = UInt32(archive.count)
    archive.append(directory)
    archive.append(contentsOf: le32(0x0605_4B50) + le16(0) + le16(0) + le16(entries.count) + le16(entries.count) + le32(UInt32(directory.count)) + le32(directoryOffset) + le16(0))
    return archive
  }

  @Test("the one CSV of a ZIP archive, stored or deflated, in a folder or beside macOS's files, is read as it is inflated, under its own name", arguments: [false, true])
  func zip(deflated: Bool) async throws {
    let (_, bytes, directory) = try file(size: 2 * LocalFile.chunkBytes + 4321)
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("orders_export.zip")
    try zipArchive([("__MACOSX/._orders.csv", Data("junk".utf8), false), ("exports/orders.csv", bytes, deflated), (".DS_Store", Data([1]), false)]).write(to: url)
    let file = LocalFile(path: url.path)
    #expect(file.byteCount == nil && file.sizeHint == bytes.count && file.contentName == "orders.csv" && !file.isGzip)
    var sizes: [Int] = []
    var seen = Data()
    try await file.readChunks { chunk in
      sizes.append(chunk.count)
      seen.append(chunk)
    }
    #expect(seen == bytes)
    #expect(sizes.dropLast().allSatisfy { $0 == LocalFile.chunkBytes })
    var viaBuffers = Data()
    try file.readBuffers { viaBuffers.append($0) }
    #expect(viaBuffers == bytes)
  }

  @Test("a ZIP archive of several CSVs is refused with their names, a damaged entry by its CRC-32, and a workbook is handed out as it is")
  func zipRefusals() async throws {
    let (_, bytes, directory) = try file(size: 100_000)
    defer { try? FileManager.default.removeItem(at: directory) }
    let several = directory.appendingPathComponent("several.zip")
    try zipArchive([("a.csv", bytes, true), ("b.csv", bytes, false)]).write(to: several)
    let error = await #expect(throws: LocalFile.Unreadable.self) { try await LocalFile(path: several.path).readChunks { _ in } }
    #expect(error?.description == "cannot read \(several.path): the ZIP archive holds 2 files (a.csv, b.csv): take out the one to read")
    var damaged = try zipArchive([("a.csv", bytes, false)])
    damaged[30 + 5 + 500] ^= 0xFF
    let broken = directory.appendingPathComponent("broken.zip")
    try damaged.write(to: broken)
    let crc = await #expect(throws: LocalFile.Unreadable.self) { try await LocalFile(path: broken.path).readChunks { _ in } }
    #expect(crc?.description == "cannot read \(broken.path): a.csv is damaged in the ZIP archive (its size or CRC-32 is not the directory's)")
    let workbook = try zipArchive([("[Content_Types].xml", Data("<Types/>".utf8), true), ("xl/workbook.xml", Data("<workbook/>".utf8), true)])
    let xlsx = directory.appendingPathComponent("book.xlsx")
    try workbook.write(to: xlsx)
    var seen = Data()
    try await LocalFile(path: xlsx.path).readChunks { seen.append($0) }
    #expect(seen == workbook && LocalFile(path: xlsx.path).byteCount == workbook.count)
  }
}
