import Foundation

/// A local file the user named on a command line: a regular file, or a pipe (`-` for
/// standard input, `/dev/stdin`, a shell's `<(zcat export.csv.gz)`), read as it comes.
public struct LocalFile: Sendable {
  /// Bytes read at a time: what an upload sends per message, what an ingestor takes per chunk.
  public static let chunkBytes = 1 << 20

  public let path: String

  public init(path: String) {
    self.path = path
  }

  /// The path opened: `-` is standard input.
  private var openedPath: String { path == "-" ? "/dev/stdin" : path }

  /// A file that cannot be read, named in the message with the reason when one is known.
  public struct Unreadable: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String?
    public var description: String { "cannot read \(path)" + (reason.map { ": \($0)" } ?? "") }

    public init(path: String, reason: String? = nil) {
      (self.path, self.reason) = (path, reason)
    }
  }

  /// Throws `Unreadable` unless every file exists and can be read: checked before a
  /// connection is made or a job starts, so a typo fails at once and says which file, and
  /// why. A folder is not a file.
  public static func requireReadable(_ paths: [String]) throws(Unreadable) {
    for path in paths {
      let file = LocalFile(path: path)
      var status = stat()
      guard stat(file.openedPath, &status) == 0 else { throw Unreadable(path: path, reason: String(cString: strerror(errno))) }
      if status.st_mode & S_IFMT == S_IFDIR { throw Unreadable(path: path, reason: "it is a folder") }
      guard access(file.openedPath, R_OK) == 0 else { throw Unreadable(path: path, reason: String(cString: strerror(errno))) }
    }
  }

  /// The file's size in bytes; nil when it cannot be read, or is not a regular file: a
  /// pipe's size is what waits in it, not what it will carry.
  public var byteCount: Int? {
    var status = stat()
    guard stat(openedPath, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
    return Int(status.st_size)
  }

  /// Whether its name says what it holds: a regular file, not standard input or a
  /// descriptor (`-`, `/dev/stdin`, `/dev/fd/63` from `<(zcat …)`), whatever they read from.
  public var hasOwnName: Bool {
    path != "-" && !path.hasPrefix("/dev/") && !path.hasPrefix("/proc/") && byteCount != nil
  }

  /// Calls `consume` with the file's bytes, `chunkBytes` at a time, in order.
  ///
  /// Every chunk is the same `Data`, filled again once `consume` has returned: a chunk that
  /// `consume` let go of is refilled in place, and one it kept is copied first (copy on
  /// write), so the chunks a caller keeps never change. An upload thus reads each megabyte
  /// into memory already mapped and warm, where a fresh buffer per chunk cost a page fault
  /// per 4 KiB and a third of the command's processor time.
  public func readChunks(_ consume: (Data) async throws -> Void) async throws {
    let descriptor = open(openedPath, O_RDONLY)
    guard descriptor >= 0 else { throw Unreadable(path: path, reason: String(cString: strerror(errno))) }
    defer { close(descriptor) }
    var buffer = Data(count: Self.chunkBytes)
    while true {
      let filled = try buffer.withUnsafeMutableBytes { (bytes: UnsafeMutableRawBufferPointer) in
        try fill(descriptor, bytes.bindMemory(to: UInt8.self))
      }
      if filled == 0 { return }
      try await consume(filled == buffer.count ? buffer : buffer.prefix(filled))
      if filled < buffer.count { return }
    }
  }

  /// Calls `consume` with the file's bytes, `chunkBytes` at a time, in order, each time in
  /// the same buffer: what is read locally is not copied into a fresh allocation per chunk
  /// (on a file of hundreds of megabytes, that copying and its page faults cost more than
  /// a tenth of the reading).
  public func readBuffers(_ consume: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
    let descriptor = open(openedPath, O_RDONLY)
    guard descriptor >= 0 else { throw Unreadable(path: path, reason: String(cString: strerror(errno))) }
    defer { close(descriptor) }
    let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Self.chunkBytes)
    defer { buffer.deallocate() }
    while true {
      let filled = try fill(descriptor, buffer)
      if filled == 0 { return }
      try consume(UnsafeBufferPointer(rebasing: buffer[0..<filled]))
      if filled < buffer.count { return }
    }
  }

  /// Reads into `buffer` until it is full or the file ends; returns the bytes read. A short
  /// read is not the end: only 0 is. Filling the buffer keeps chunks whole.
  private func fill(_ descriptor: Int32, _ buffer: UnsafeMutableBufferPointer<UInt8>) throws -> Int {
    var filled = 0
    while filled < buffer.count {
      let count = read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
      if count < 0 {
        if errno == EINTR { continue }
        throw Unreadable(path: path, reason: String(cString: strerror(errno)))
      }
      if count == 0 { break }
      filled += count
    }
    return filled
  }
}
