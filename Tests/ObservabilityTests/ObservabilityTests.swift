import Foundation
import Logging
import Testing

@testable import Observability

@Suite("Observability")
struct ObservabilityTests {
  @Test("a JSON log line is one object: time, level, logger, message, the metadata, and a job's trace id")
  func jsonLine() throws {
    let data = JSONLogHandler.line(
      time: Date(timeIntervalSince1970: 1_800_000_000.25), level: .warning, label: "fidelis.server", message: "lease expired \"x\"\nnext",
      metadata: ["job": "job_1", "tenant": "ten_1", "attempt": .stringConvertible(2)])
    #expect(data.last == 0x0A && data.dropLast().firstIndex(of: 0x0A) == nil)
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
    #expect(object["time"] == "2027-01-15T08:00:00.250Z")
    #expect(object["level"] == "warning" && object["logger"] == "fidelis.server" && object["message"] == "lease expired \"x\"\nnext")
    #expect(object["job"] == "job_1" && object["tenant"] == "ten_1" && object["attempt"] == "2")
    #expect(object["trace_id"] == traceID(job: "job_1"))
  }

  @Test("a job's trace id is W3C-shaped, the same in every process, and differs between jobs")
  func traceIDs() {
    let a = traceID(job: "job_01a2307482718739fecc84f2")
    #expect(a.count == 32 && a.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    #expect(a == traceID(job: "job_01a2307482718739fecc84f2"))
    #expect(a != traceID(job: "job_01a2307482718739fecc84f3"))
    // Computed by another process, or another version, it must not move.
    #expect(traceID(job: "job_1") == "7d7e8acea193ee3f1e428254da1d942a")
  }

  @Test("the registry's exposition has the help text and the values")
  func exposition() {
    let registry = MetricsRegistry()
    let counter = registry.registry.makeCounter(
      descriptor: .init(metricName: "fidelis_test_total", unitName: "", helpText: "A test."), labels: [("kind", "a")])
    counter.increment(by: Int64(3))
    let text = String(decoding: registry.exposition(), as: UTF8.self)
    #expect(text.contains("# HELP fidelis_test_total A test.") && text.contains("fidelis_test_total{kind=\"a\"} 3"))
  }
}
