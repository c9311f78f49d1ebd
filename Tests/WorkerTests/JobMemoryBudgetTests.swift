import Foundation
import Testing

@testable import Worker

/// A worker's default job budget fits the host and its container, so that a job too large
/// for them fails with its budget instead of having the kernel kill the worker.
@Suite("Job memory budget")
struct JobMemoryBudgetTests {
  @Test(
    "4 GiB where memory is plentiful, three quarters of the host or the container where that is less, never below 64 MiB",
    arguments: [
      (24 << 30, nil, 4 << 30), (24 << 30, 2 << 30, 1536 << 20), (1 << 30, nil, 768 << 20), (8 << 30, 16 << 30, 4 << 30),
      (32 << 20, nil, 64 << 20),
    ] as [(Int, Int?, Int)])
  func defaults(physical: Int, container: Int?, budget: Int) {
    #expect(JobMemoryBudget.defaultBytes(physical: physical, containerLimit: container) == budget)
  }

  @Test("cgroup files: v2's number or 'max', v1's number or its near-2⁶³ 'unlimited'; v2 read first")
  func containerFiles() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("budget-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let (v2, v1) = (directory.appendingPathComponent("memory.max").path, directory.appendingPathComponent("limit_in_bytes").path)
    #expect(JobMemoryBudget.containerLimit(v2: v2, v1: v1) == nil)
    try "9223372036854771712\n".write(toFile: v1, atomically: true, encoding: .utf8)
    #expect(JobMemoryBudget.containerLimit(v2: v2, v1: v1) == nil)
    try "2147483648\n".write(toFile: v1, atomically: true, encoding: .utf8)
    #expect(JobMemoryBudget.containerLimit(v2: v2, v1: v1) == 2 << 30)
    try "max\n".write(toFile: v2, atomically: true, encoding: .utf8)
    #expect(JobMemoryBudget.containerLimit(v2: v2, v1: v1) == nil)
    try "1073741824\n".write(toFile: v2, atomically: true, encoding: .utf8)
    #expect(JobMemoryBudget.containerLimit(v2: v2, v1: v1) == 1 << 30)
  }

  @Test("this process's budget is within the bounds and no more than the host's memory")
  func thisProcess() {
    let budget = JobMemoryBudget.forThisProcess()
    #expect(budget >= JobMemoryBudget.floor && budget <= JobMemoryBudget.ceiling)
    #expect(budget <= Int(clamping: ProcessInfo.processInfo.physicalMemory))
  }
}
