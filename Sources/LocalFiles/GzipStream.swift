import CZlib
import Foundation

/// A gzip file inflated as it is read, with zlib: exports are often sent as `.csv.gz`, and
/// reading them through `zcat` was the user's to do. Members one after another (`cat a.gz
/// b.gz`) read as one file, as `zcat` reads them; zeros after the last member (padding of
/// tape and block tools) are ignored; anything else is an error that says where.
struct GzipStream: ~Copyable {
  private let file: LocalFile
  /// zlib's state, at a fixed address (zlib keeps pointers into it).
  private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
  /// Compressed bytes read from the file, `stream` reading from `next_in`.
  private let input = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 256 << 10)
  private var endOfFile = false
  private var finished = false

  init(file: LocalFile, starting magic: [UInt8]) throws {
    self.file = file
    stream.initialize(to: z_stream())
    // 16 + 15: a gzip header and trailer, the largest window.
    guard inflateInit2_(stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      input.deallocate()
      stream.deallocate()
      throw LocalFile.Unreadable(path: file.path, reason: "zlib could not start")
    }
    _ = input.initialize(from: magic)
    stream.pointee.next_in = input.baseAddress
    stream.pointee.avail_in = UInt32(magic.count)
  }

  deinit {
    inflateEnd(stream)
    stream.deallocate()
    input.deallocate()
  }

  /// Fills `buffer` with inflated bytes unless the file ends first; returns how many.
  mutating func fill(_ buffer: UnsafeMutableBufferPointer<UInt8>, from descriptor: Int32) throws -> Int {
    var filled = 0
    while filled < buffer.count && !finished {
      if stream.pointee.avail_in == 0 && !endOfFile { try refill(descriptor) }
      stream.pointee.next_out = buffer.baseAddress! + filled
      stream.pointee.avail_out = UInt32(buffer.count - filled)
      let status = inflate(stream, Z_NO_FLUSH)
      filled = buffer.count - Int(stream.pointee.avail_out)
      switch status {
      case Z_OK:
        continue
      case Z_STREAM_END:
        try nextMember(descriptor)
      case Z_BUF_ERROR where stream.pointee.avail_in == 0 && endOfFile:
        throw LocalFile.Unreadable(path: file.path, reason: "the gzip file ends before its data does (cut short?)")
      case Z_BUF_ERROR:
        continue
      default:
        let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
        throw LocalFile.Unreadable(path: file.path, reason: "not a valid gzip file (\(message)) after \(stream.pointee.total_in) compressed bytes")
      }
    }
    return filled
  }

  /// After a member's end: another member, zeros to the end, or the end.
  private mutating func nextMember(_ descriptor: Int32) throws {
    while true {
      if stream.pointee.avail_in == 0 {
        if endOfFile { finished = true; return }
        try refill(descriptor)
        continue
      }
      let next = stream.pointee.next_in.pointee
      if next == 0x1F {
        guard inflateReset(stream) == Z_OK else { throw LocalFile.Unreadable(path: file.path, reason: "zlib could not go on to the next gzip member") }
        return
      }
      guard next == 0 else {
        throw LocalFile.Unreadable(path: file.path, reason: "bytes that are not gzip after the end of its data, at compressed byte \(stream.pointee.total_in)")
      }
      stream.pointee.next_in += 1
      stream.pointee.avail_in -= 1
    }
  }

  private mutating func refill(_ descriptor: Int32) throws {
    while true {
      let count = read(descriptor, input.baseAddress, input.count)
      if count < 0 {
        if errno == EINTR { continue }
        throw LocalFile.Unreadable(path: file.path, reason: String(cString: strerror(errno)))
      }
      endOfFile = count == 0
      stream.pointee.next_in = input.baseAddress
      stream.pointee.avail_in = UInt32(count)
      return
    }
  }
}
