import Foundation

/// The memory a job may add to a worker when the operator does not say
/// (`--job-memory-mb`): 4 GiB, or three quarters of what the host or the worker's
/// container allows when that is less. A budget larger than the memory there is never
/// reached: the kernel kills the worker first, and the job is tried on another worker
/// before it fails as one that ends its workers. Within it, the job fails once, saying its
/// budget.
public enum JobMemoryBudget {
  /// The budget where memory is plentiful.
  public static let ceiling = 4 << 30
  /// The least budget given, however small the host.
  public static let floor = 64 << 20

  /// The budget for a host of `physical` bytes in a container limited to `containerLimit`
  /// bytes (nil: no limit).
  public static func defaultBytes(physical: Int, containerLimit: Int?) -> Int {
    let available = min(physical, containerLimit ?? .max)
    return max(floor, min(ceiling, available / 4 * 3))
  }

  /// The budget for this process: the host's memory and its cgroup's limit.
  public static func forThisProcess() -> Int {
    defaultBytes(physical: Int(clamping: ProcessInfo.processInfo.physicalMemory), containerLimit: containerLimit())
  }

  /// The memory limit of the process's container: cgroup v2's `memory.max`, else v1's
  /// `memory.limit_in_bytes`; nil when neither file sets one.
  public static func containerLimit(
    v2: String = "/sys/fs/cgroup/memory.max", v1: String = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
  ) -> Int? {
    for path in [v2, v1] {
      guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
      return limit(text)
    }
    return nil
  }

  /// The limit a cgroup file states: "max" (v2) and v1's near-2⁶³ "unlimited" are none.
  static func limit(_ text: String) -> Int? {
    guard let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes > 0, bytes < 1 << 62 else { return nil }
    return bytes
  }
}
