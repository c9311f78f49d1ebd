import Foundation
import GRDB
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Why the store refuses to open. Said for the operator starting the coordinator; nothing
/// in the directory was changed.
public struct StoreOpenError: Error, CustomStringConvertible, Sendable {
  public var description: String
}

/// The coordinator's data directory: private to its user, used by one coordinator at a time.
///
/// Tenants' purchases live here, so the directory is 0700 and its files 0600 whatever the
/// umask. Two coordinators on one directory would each believe they own the store (one
/// removed the other's uploads in progress at start, and each kept its own memory of
/// checked API keys), so the first holds an exclusive lock on `fidelis.lock` for its whole
/// life and a second is refused with the first one's process id.
public final class DataDirectory: Sendable {
  public let url: URL
  /// The lock file's descriptor, open (and locked) until `unlock()`, the end of this
  /// object or of the process; -1 once unlocked.
  private let lockDescriptor: Atomic<Int32>

  /// The database file.
  public var databasePath: String { Self.databasePath(in: url) }

  /// The store's file in the data directory `directory`.
  public static func databasePath(in directory: URL) -> String { directory.appendingPathComponent("fidelis.sqlite").path }

  /// Makes the directory `url` and the ones above it that are missing (mode 0700), saying
  /// which level could not be made and why. Made a level at a time with mkdir, whose errno
  /// says why: Foundation's error named its domain and code.
  public static func make(_ url: URL) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
      throw StoreOpenError(description: "cannot use \(url.path) as the data directory: it is a file")
    }
    var made = ""
    for component in url.standardizedFileURL.pathComponents where component != "/" {
      made += "/" + component
      if mkdir(made, 0o700) != 0 && errno != EEXIST {
        let reason = String(cString: strerror(errno))
        throw StoreOpenError(description: "cannot make the data directory \(url.path)" + (made == url.path ? "" : " (at \(made))") + ": \(reason)")
      }
    }
  }

  /// Creates the directory when needed, makes it private and takes its lock.
  public init(_ url: URL) throws {
    self.url = url
    try Self.make(url)
    guard chmod(url.path, 0o700) == 0 else {
      throw StoreOpenError(description: "cannot make \(url.path) private (chmod 0700): \(String(cString: strerror(errno)))")
    }
    let lockPath = url.appendingPathComponent("fidelis.lock").path
    let descriptor = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { throw StoreOpenError(description: "cannot open \(lockPath): \(String(cString: strerror(errno)))") }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
      Glibc.close(descriptor)
      throw StoreOpenError(
        description: "another coordinator\(holder.isEmpty ? "" : " (process \(holder))") already uses the data directory \(url.path); stop it first, or give this one another --data-dir")
    }
    // The holder's pid, for the next one's message.
    _ = ftruncate(descriptor, 0)
    let pid = "\(getpid())\n"
    _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    lockDescriptor = Atomic(descriptor)
    try makeFilesPrivate()
  }

  deinit { unlock() }

  /// Lets another store open the directory (the owner is closing).
  public func unlock() {
    let descriptor = lockDescriptor.exchange(-1, ordering: .acquiringAndReleasing)
    if descriptor >= 0 { Glibc.close(descriptor) }
  }

  /// Every file of the directory (store, log, tokens) readable by its owner alone.
  public func makeFilesPrivate() throws {
    for name in (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [] {
      let path = url.appendingPathComponent(name).path
      var info = stat()
      guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
      if info.st_mode & 0o077 != 0 { _ = chmod(path, 0o600) }
    }
  }

  /// Refuses a database file that cannot be a store: present but empty (a failed copy or a
  /// truncation, which SQLite would silently take for a new, empty store), or not a SQLite
  /// database at all.
  public func checkDatabaseFile() throws {
    let path = databasePath
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return }  // a new store
    let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
    if size == 0 {
      throw StoreOpenError(
        description: "\(path) is empty (0 bytes): it is not the store it should be. Restore it from a backup, or move it away to start a new, empty store")
    }
    guard let handle = FileHandle(forReadingAtPath: path) else { throw StoreOpenError(description: "cannot read \(path)") }
    defer { try? handle.close() }
    let header = (try? handle.read(upToCount: 16)) ?? Data()
    guard header == Data("SQLite format 3\0".utf8) else {
      throw StoreOpenError(description: "\(path) is not a SQLite database (its first bytes are not SQLite's header): restore it from a backup")
    }
  }
}

extension FidelisStore {
  /// Checks the database's structure with `PRAGMA quick_check`, giving up (and saying so in
  /// the returned text) after `timeout`: a damaged page found now refuses the start, instead
  /// of failing a tenant's job later with SQLite's words. Returns nil when the check passed.
  static func quickCheck(_ pool: DatabasePool, timeout: Duration) throws -> String? {
    let finished = DispatchSemaphore(value: 0)
    // Interrupts the check when it takes too long (a very large store on a slow disk).
    let watchdog = Thread {
      if finished.wait(timeout: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) == .timedOut { pool.interrupt() }
    }
    watchdog.start()
    defer { finished.signal() }
    do {
      let rows = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(20)") }
      guard rows == ["ok"] else {
        throw StoreOpenError(description: "the store is damaged (PRAGMA quick_check): \(rows.prefix(5).joined(separator: "; ")); restore it from a backup")
      }
      return nil
    } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT {
      return "the store's quick check did not finish in \(timeout) and was skipped"
    } catch let error as DatabaseError {
      throw StoreOpenError(description: "the store cannot be read (\(error.message ?? "\(error.resultCode)")); restore it from a backup")
    }
  }
}
