import Foundation

/// A local file the user named on a command line: a regular file, or a pipe (`-` for
/// standard input, `/dev/stdin`, a shell's `<(xzcat export.csv.xz)`), read as it comes; a
/// gzip file (`export.csv.gz`), from a pipe too, is inflated as it is read, so is the one CSV
/// of a ZIP archive (`orders_export.zip`, a regular file only), and UTF-16 text with its
/// byte-order mark (Excel's "Unicode Text") is read as UTF-8.
public struct LocalFile: Sendable {
  /// Bytes read at a time: what an upload sends per message, what an ingestor takes per chunk.
  public static let chunkBytes = 1 << 20

  public let path: String

  public init(path: String) {
    self.path = path
  }

  /// The path opened: `-` is standard input.
  fileprivate var openedPath: String { path == "-" ? "/dev/stdin" : path }

  /// The first two bytes of every gzip file.
  fileprivate static let gzipMagic: [UInt8] = [0x1F, 0x8B]

  /// How a file's bytes become what it holds.
  fileprivate enum Form: Equatable {
    case plain
    /// Inflated (`GzipStream`).
    case gzip
    /// UTF-16 with its byte-order mark, read as UTF-8 (`UTF16Stream`).
    case utf16
    /// The one CSV of a ZIP archive, `size` bytes once inflated (`ZipEntryStream`).
    case zip(name: String, size: Int)

    /// The form of a file that starts with `head` (its first four bytes, or fewer when it
    /// is shorter).
    init(head: [UInt8]) {
      if head.starts(with: LocalFile.gzipMagic) {
        self = .gzip
      } else if UTF16Stream.hasMark(head) {
        self = .utf16
      } else {
        self = .plain
      }
    }
  }

  /// A regular file's size and form (from its first bytes); nil for anything else: a pipe's
  /// bytes would be taken by looking.
  private var regularFile: (size: Int, form: Form)? {
    var status = stat()
    guard stat(openedPath, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
    let descriptor = open(openedPath, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return (Int(status.st_size), .plain) }
    defer { close(descriptor) }
    var head: [UInt8] = [0, 0, 0, 0]
    let count = read(descriptor, &head, 4)
    if count == 4, head == Self.zipMagic, let entry = try? ZipEntryStream.csvEntry(of: self, descriptor: descriptor) {
      return (Int(status.st_size), .zip(name: entry.baseName, size: entry.size))
    }
    return (Int(status.st_size), Form(head: Array(head.prefix(max(0, count)))))
  }

  /// The first four bytes of a ZIP archive (its first entry's local header).
  fileprivate static let zipMagic: [UInt8] = [0x50, 0x4B, 0x03, 0x04]

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

  /// The size in bytes of what it reads; nil when it cannot be read, is not a regular file
  /// (a pipe's size is what waits in it, not what it will carry), is gzip (its size is
  /// the compressed one) or UTF-16 (its UTF-8 is of another size).
  public var byteCount: Int? {
    regularFile.flatMap { $0.form == .plain ? $0.size : nil }
  }

  /// About how many bytes it reads, to size tables by: `byteCount`, or for a gzip file the
  /// size its trailer gives (modulo 4 GiB, so only when it is at least the compressed size;
  /// a hint that is short only makes tables grow).
  public var sizeHint: Int? {
    guard let file = regularFile else { return nil }
    // Two bytes a character in UTF-16, one in UTF-8 for most of an export's.
    if file.form == .utf16 { return file.size / 2 }
    if case .zip(_, let size) = file.form { return size }
    guard file.form == .gzip else { return file.size }
    guard file.size >= 18 else { return nil }
    let descriptor = open(openedPath, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var trailer: UInt32 = 0
    guard pread(descriptor, &trailer, 4, off_t(file.size - 4)) == 4 else { return nil }
    let size = Int(UInt32(littleEndian: trailer))
    return size >= file.size ? size : nil
  }

  /// The file's name without its directory, and without `.gz` when it is gzip: the name of
  /// what it holds.
  public var contentName: String {
    if case .zip(let name, _)? = regularFile?.form { return name }
    let name = URL(fileURLWithPath: path).lastPathComponent
    return isGzip && name.lowercased().hasSuffix(".gz") && name.count > 3 ? String(name.dropLast(3)) : name
  }

  /// Whether its name says what it holds: a regular file, not standard input or a
  /// descriptor (`-`, `/dev/stdin`, `/dev/fd/63` from `<(zcat …)`), whatever they read from.
  public var hasOwnName: Bool {
    path != "-" && !path.hasPrefix("/dev/") && !path.hasPrefix("/proc/") && regularFile != nil
  }

  /// Calls `consume` with the file's bytes, `chunkBytes` at a time, in order.
  ///
  /// Every chunk is the same `Data`, filled again once `consume` has returned: a chunk that
  /// `consume` let go of is refilled in place, and one it kept is copied first (copy on
  /// write), so the chunks a caller keeps never change. An upload thus reads each megabyte
  /// into memory already mapped and warm, where a fresh buffer per chunk cost a page fault
  /// per 4 KiB and a third of the command's processor time.
  public func readChunks(_ consume: (Data) async throws -> Void) async throws {
    var reader = try ByteReader(self)
    var buffer = Data(count: Self.chunkBytes)
    while true {
      let filled = try buffer.withUnsafeMutableBytes { (bytes: UnsafeMutableRawBufferPointer) in
        try reader.fill(bytes.bindMemory(to: UInt8.self))
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
    var reader = try ByteReader(self)
    let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Self.chunkBytes)
    defer { buffer.deallocate() }
    while true {
      let filled = try reader.fill(buffer)
      if filled == 0 { return }
      try consume(UnsafeBufferPointer(rebasing: buffer[0..<filled]))
      if filled < buffer.count { return }
    }
  }

  /// Whether it is a regular file, which can be read again from its start; false for a pipe.
  public var isRegularFile: Bool { regularFile != nil }

  /// Whether the file is gzip-compressed (its first two bytes are gzip's); false for a pipe,
  /// whose bytes would be taken by looking.
  public var isGzip: Bool { regularFile?.form == .gzip }
}

/// A file's bytes as `LocalFile` hands them out: as they are, inflated when the file is
/// gzip (its first two bytes tell), a member after another, as `zcat` reads them, or as
/// UTF-8 when it is UTF-16 with its byte-order mark.
struct ByteReader: ~Copyable {
  private let file: LocalFile
  private let descriptor: Int32
  /// The bytes read to tell the file's kind, not handed out yet (a file as it is).
  private var head: [UInt8] = []
  private var gzip: GzipStream?
  private var utf16: UTF16Stream?
  private var zip: ZipEntryStream?

  init(_ file: LocalFile) throws {
    self.file = file
    descriptor = open(file.openedPath, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw LocalFile.Unreadable(path: file.path, reason: String(cString: strerror(errno))) }
    // Four bytes: UTF-32's mark starts as UTF-16's does.
    var magic = [UInt8](repeating: 0, count: 4)
    let count = try magic.withUnsafeMutableBufferPointer { try Self.readFully(descriptor, $0, file: file) }
    magic.removeLast(4 - count)
    if magic == LocalFile.zipMagic {
      do {
        if let entry = try ZipEntryStream.csvEntry(of: file, descriptor: descriptor) {
          zip = try ZipEntryStream(file: file, entry: entry, descriptor: descriptor)
          return
        }
      } catch {
        close(descriptor)
        throw error
      }
    }
    switch LocalFile.Form(head: magic) {
    case .gzip:
      do {
        gzip = try GzipStream(file: file, starting: magic)
      } catch {
        close(descriptor)
        throw error
      }
    case .utf16:
      utf16 = UTF16Stream(file: file, head: magic)
    case .plain, .zip:
      head = magic
    }
  }

  deinit { close(descriptor) }

  /// Fills `buffer` unless the file ends first; returns the bytes given. A short count is
  /// the end: chunks stay whole.
  mutating func fill(_ buffer: UnsafeMutableBufferPointer<UInt8>) throws -> Int {
    if gzip != nil { return try gzip!.fill(buffer, from: descriptor) }
    if utf16 != nil { return try utf16!.fill(buffer, from: descriptor) }
    if zip != nil { return try zip!.fill(buffer, from: descriptor) }
    var filled = min(head.count, buffer.count)
    if filled > 0 {
      _ = UnsafeMutableBufferPointer(rebasing: buffer[0..<filled]).initialize(from: head[0..<filled])
      head.removeFirst(filled)
    }
    filled += try Self.readFully(descriptor, UnsafeMutableBufferPointer(rebasing: buffer[filled...]), file: file)
    return filled
  }

  /// Reads into `buffer` until it is full or the file ends; returns the bytes read. A short
  /// read is not the end: only 0 is.
  static func readFully(_ descriptor: Int32, _ buffer: UnsafeMutableBufferPointer<UInt8>, file: LocalFile) throws -> Int {
    var filled = 0
    while filled < buffer.count {
      let count = read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
      if count < 0 {
        if errno == EINTR { continue }
        throw LocalFile.Unreadable(path: file.path, reason: String(cString: strerror(errno)))
      }
      if count == 0 { break }
      filled += count
    }
    return filled
  }
}
