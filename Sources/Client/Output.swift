import FidelisProto
import Foundation
import Synchronization
import GRPCCore
import SwiftProtobuf

/// An error printed as one line on stderr, with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}

func printJSON(_ message: some SwiftProtobuf.Message) throws {
  var options = JSONEncodingOptions()
  options.preserveProtoFieldNames = true
  print(try message.jsonString(options: options))
}

func stderr(_ text: String) {
  try? FileHandle.standardError.write(contentsOf: Data((text + "\n").utf8))
}

/// A command's output, written as its bytes come: to stdout, or to a temporary file beside
/// `path` that replaces `path` at `finish`, so that a failure leaves no partial file in its
/// place. A path that is not a regular file (`/dev/null`, a named pipe) is written in place:
/// renaming onto it would replace the device. The file is opened at the first write, so that
/// an analysis interrupted before it leaves nothing behind; a folder that cannot take it is
/// refused at once. `abandon` removes the temporary file.
final class OutputFile: Sendable {
  let path: String?
  /// Where the bytes go: `path` with its symbolic links followed, or the temporary file
  /// beside it (`renamedOnto` is then that path).
  private let written: String?
  private let renamedOnto: String?
  /// The permissions of the file replaced, which the new one keeps.
  private let mode: mode_t?
  /// The open file (once written to), bytes written so far, and the first failure, after
  /// which nothing is written.
  private let state = Mutex<(descriptor: Int32?, bytes: Int, failure: CLIError?)>((nil, 0, nil))

  init(path: String?) throws {
    self.path = path
    guard let path else {
      (written, renamedOnto, mode) = (nil, nil, nil)
      state.withLock { $0.descriptor = STDOUT_FILENO }
      return
    }
    var status = stat()
    let target = Self.followingLinks(path)
    let exists = stat(target, &status) == 0
    if exists && status.st_mode & S_IFMT != S_IFREG {
      // A device or a pipe, written in place; a folder is refused when it is opened.
      guard status.st_mode & S_IFMT != S_IFDIR else { throw CLIError(message: "cannot write \(path): it is a folder") }
      (written, renamedOnto, mode) = (target, nil, nil)
      return
    }
    let folder = URL(fileURLWithPath: target).deletingLastPathComponent().path
    guard access(folder, W_OK) == 0 else { throw CLIError(message: "cannot write \(path): \(String(cString: strerror(errno)))") }
    (written, renamedOnto, mode) = (target + ".part-\(getpid())", target, exists ? status.st_mode & 0o7777 : nil)
  }

  /// The file a path names once its symbolic links are followed, even to a file not made
  /// yet: the link's target is written, not the link replaced.
  private static func followingLinks(_ path: String) -> String {
    var path = path
    for _ in 0..<40 {
      guard let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { break }
      path = destination.hasPrefix("/") ? destination : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(destination).path
    }
    return path
  }

  deinit {
    if let descriptor = state.withLock({ $0.descriptor }), descriptor != STDOUT_FILENO { close(descriptor) }
  }

  /// The open file, opened now if it is not yet.
  private func opened(_ state: inout (descriptor: Int32?, bytes: Int, failure: CLIError?)) throws(CLIError) -> Int32 {
    if let descriptor = state.descriptor { return descriptor }
    let descriptor = open(written!, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw CLIError(message: "cannot write \(path!): \(String(cString: strerror(errno)))") }
    if let mode { fchmod(descriptor, mode) }
    state.descriptor = descriptor
    return descriptor
  }

  /// Appends `bytes`.
  func write(_ bytes: Data) throws {
    try bytes.withUnsafeBytes { try write($0) }
  }

  /// Appends `bytes`.
  func write(_ bytes: UnsafeRawBufferPointer) throws {
    try state.withLock { state in
      if let failure = state.failure { throw failure }
      do throws(CLIError) {
        let descriptor = try opened(&state)
        var rest = bytes
        while !rest.isEmpty {
          let done = Glibc.write(descriptor, rest.baseAddress, rest.count)
          if done < 0 && errno == EINTR { continue }
          guard done > 0 else { throw CLIError(message: "cannot write \(path ?? "to stdout"): \(String(cString: strerror(errno)))") }
          rest = UnsafeRawBufferPointer(rebasing: rest[done...])
        }
      } catch {
        state.failure = error
        throw error
      }
      state.bytes += bytes.count
    }
  }

  /// Appends `bytes`, for writers that cannot throw: a failure is kept for `finish`, and
  /// the later blocks are dropped.
  @Sendable func writeBlock(_ bytes: UnsafeBufferPointer<UInt8>) {
    try? write(UnsafeRawBufferPointer(bytes))
  }

  /// Puts the file in its place (empty if nothing was written) and says so on stderr, or
  /// throws the first failed write (the temporary file removed); returns the bytes written.
  @discardableResult
  func finish() throws -> Int {
    let (bytes, failure) = try state.withLock { state in
      if state.failure == nil, path != nil { _ = try opened(&state) }
      return (state.bytes, state.failure)
    }
    if let failure {
      abandon()
      throw failure
    }
    guard let path else { return bytes }
    if let written, let renamedOnto, rename(written, renamedOnto) != 0 {
      let reason = String(cString: strerror(errno))
      abandon()
      throw CLIError(message: "cannot write \(path): \(reason)")
    }
    stderr("wrote \(path) (\(bytes) bytes)")
    return bytes
  }

  /// Removes the temporary file, if any.
  func abandon() {
    if let written, renamedOnto != nil { unlink(written) }
  }
}

/// The items of a paged listing: pages of at most 1,000 asked for with `page` (size, token
/// of the previous page's end) until the server gives no next token or `limit` are in hand.
func fetchPages<Item>(limit: Int?, _ page: (_ size: Int32, _ token: String) async throws -> (items: [Item], next: String)) async throws -> [Item] {
  var items: [Item] = []
  var token = ""
  repeat {
    let wanted = limit.map { min(1000, $0 - items.count) } ?? 1000
    let (more, next) = try await page(Int32(wanted), token)
    items += more
    token = next
  } while !token.isEmpty && items.count < (limit ?? .max)
  return items
}
