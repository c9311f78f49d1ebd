import Foundation
import Testing

@testable import Client

@Suite("Command output files")
struct OutputFileTests {
  static func directory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("fidelis-output-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  static func leftovers(_ directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".part-") }
  }

  @Test("the old file stays whole until the new one is written; then it is replaced, keeping its permissions, with nothing left beside it")
  func replacedAtTheEnd() throws {
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("report.csv").path
    try Data("old".utf8).write(to: URL(fileURLWithPath: path))
    #expect(chmod(path, 0o600) == 0)
    let file = try OutputFile(path: path)
    try file.write(Data("new, ".utf8))
    try file.write(Data("in two blocks".utf8))
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "old")
    #expect(try file.finish() == 18)
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "new, in two blocks")
    #expect(try Self.leftovers(directory).isEmpty)
    var status = stat()
    #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600)
  }

  @Test("nothing is made before the first write (an analysis stopped before it leaves nothing); an abandoned output leaves the old file as it was and no partial file")
  func abandoned() throws {
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("report.md").path
    try Data("old".utf8).write(to: URL(fileURLWithPath: path))
    let file = try OutputFile(path: path)
    #expect(try Self.leftovers(directory).isEmpty)
    try file.write(Data("half a report".utf8))
    #expect(try Self.leftovers(directory).count == 1)
    file.abandon()
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "old")
    #expect(try Self.leftovers(directory).isEmpty)
  }

  @Test("an output with nothing written is an empty file")
  func empty() throws {
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("empty.csv").path
    #expect(try OutputFile(path: path).finish() == 0)
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
  }

  @Test("a symbolic link is followed: its target gets the file and the link stays a link, dangling or not", arguments: [false, true])
  func throughALink(targetExists: Bool) throws {
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let target = directory.appendingPathComponent("target.csv").path
    if targetExists { try Data("old".utf8).write(to: URL(fileURLWithPath: target)) }
    let link = directory.appendingPathComponent("link.csv").path
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "target.csv")
    let file = try OutputFile(path: link)
    try file.write(Data("new".utf8))
    try file.finish()
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "target.csv")
    #expect(try String(contentsOfFile: target, encoding: .utf8) == "new")
  }

  @Test("a device is written in place, not replaced by a file; a full disk is said, with the path, and nothing written after it")
  func devices() throws {
    let null = try OutputFile(path: "/dev/null")
    try null.write(Data(repeating: 7, count: 1 << 20))
    #expect(try null.finish() == 1 << 20)
    var status = stat()
    #expect(stat("/dev/null", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR)

    let full = try OutputFile(path: "/dev/full")
    let bytes = Data(repeating: 7, count: 4096)
    let error = #expect(throws: CLIError.self) { try full.write(bytes) }
    #expect(error?.message == "cannot write /dev/full: No space left on device")
    bytes.withUnsafeBytes { full.writeBlock($0.bindMemory(to: UInt8.self)) }
    let kept = #expect(throws: CLIError.self) { try full.finish() }
    #expect(kept?.message == error?.message)
    #expect(stat("/dev/full", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR)
  }

  @Test("a path in a folder that does not exist, or a folder, is refused at once, with the path as given")
  func missingFolder() throws {
    let error = #expect(throws: CLIError.self) { try OutputFile(path: "/nonexistent-fidelis-folder/report.csv") }
    #expect(error?.message == "cannot write /nonexistent-fidelis-folder/report.csv: No such file or directory")
    let directory = try Self.directory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let folder = #expect(throws: CLIError.self) { try OutputFile(path: directory.path) }
    #expect(folder?.message == "cannot write \(directory.path): it is a folder")
  }
}
