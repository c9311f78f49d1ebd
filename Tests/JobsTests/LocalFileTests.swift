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
}
