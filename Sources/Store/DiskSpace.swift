import Foundation
import GRDB
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The data directory's room to write, watched so that a full disk is a state the service
/// knows and says (health NOT_SERVING, RESOURCE_EXHAUSTED with a plain message), not a
/// stream of SQLite errors.
///
/// A reserve file holds back some space while all is well: when the disk fills up, it is
/// given back so that deleting a dataset (which writes to the log before it frees pages)
/// still works, and it is made again once space is back.
public final class DiskSpace: Sendable {
  /// Size of the reserve file.
  public let reserveBytes: Int64
  /// An outage ends once this much room is back (free bytes plus the store's free pages),
  /// and the disk counts as nearly full below a quarter of it.
  public var lowWaterBytes: Int64 { max(2 * reserveBytes, 8 << 20) }

  /// The data directory; nil for an in-memory store (never full).
  public let directory: URL?
  private let full = Atomic<Bool>(false)

  public init(directory: URL?, reserveBytes: Int64 = 32 << 20) {
    self.directory = directory
    self.reserveBytes = reserveBytes
  }

  var reservePath: String? { directory?.appendingPathComponent("disk-reserve").path }

  /// True from a write refused for lack of space until `refresh` finds room again.
  public var isFull: Bool { full.load(ordering: .acquiring) }

  /// Notes a write refused for lack of space; true when this starts an outage.
  @discardableResult
  public func noteFull() -> Bool {
    let (exchanged, _) = full.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
    return exchanged
  }

  /// Free bytes of the directory's file system for an unprivileged writer, or nil.
  public func freeBytes() -> Int64? {
    guard let directory else { return nil }
    var info = statvfs()
    guard statvfs(directory.path, &info) == 0 else { return nil }
    return Int64(info.f_bavail) * Int64(info.f_frsize)
  }

  /// Size of the directory's file system, or nil.
  public func sizeBytes() -> Int64? {
    guard let directory else { return nil }
    var info = statvfs()
    guard statvfs(directory.path, &info) == 0 else { return nil }
    return Int64(info.f_blocks) * Int64(info.f_frsize)
  }

  /// Gives the reserve back to the file system (before a delete on a full disk).
  public func releaseReserve() {
    guard let path = reservePath else { return }
    _ = unlink(path)
  }

  /// Makes the reserve file when it is missing and the disk has room for it and more.
  public func refillReserve() {
    guard reserveBytes > 0, let path = reservePath, !FileManager.default.fileExists(atPath: path), let free = freeBytes(), free > reserveBytes + lowWaterBytes
    else { return }
    let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { return }
    defer { close(descriptor) }
    // Real blocks, not a sparse file: the point is to hold space.
    if posix_fallocate(descriptor, 0, off_t(reserveBytes)) != 0 { _ = unlink(path) }
  }

  /// Looks at the room again: ends an outage once free bytes plus `reusableBytes` (the
  /// store's free pages) are above the low-water mark, and refills the reserve. Returns
  /// true when an outage ended.
  @discardableResult
  public func refresh(reusableBytes: Int64) -> Bool {
    guard isFull else {
      refillReserve()
      return false
    }
    guard let free = freeBytes(), free + reusableBytes >= lowWaterBytes else { return false }
    full.store(false, ordering: .releasing)
    refillReserve()
    return true
  }
}

extension FidelisStore {
  /// True when `error` is SQLite refusing a write for lack of disk space.
  public static func isDiskFull(_ error: any Error) -> Bool {
    guard let error = error as? DatabaseError else { return false }
    // SQLite's Unix layer turns ENOSPC into SQLITE_FULL.
    return error.resultCode == .SQLITE_FULL
  }

  /// Bytes of free pages inside the database file, which new rows reuse before the file grows.
  public func reusableBytes() throws -> Int64 {
    try writer.read { db in
      let pages = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
      let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
      return pages * size
    }
  }

  /// Gives every running job a full lease from now: after an outage of the store (a full
  /// disk) the workers' heartbeats could not be written, and their jobs must not be taken
  /// for dead because of the coordinator's own fault.
  public func renewRunningLeases(leaseMillis: Int64) throws -> Int {
    try writer.write { db in
      try db.execute(
        sql: "UPDATE job SET leaseExpiresAt = MAX(leaseExpiresAt, ?) WHERE state = 'running'", arguments: [Self.now() + leaseMillis])
      return db.changesCount
    }
  }
}
