import FidelisProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// Load generator of `scripts/bench-jobs`: submits N jobs from C concurrent callers over one
/// HTTP/2 connection, times every SubmitJob, then waits until no job is queued or running.
/// Prints one JSON line: jobs, seconds from the first submit to the last completion, jobs
/// per second, and submit latency percentiles in milliseconds.
///
///     fidelis-loadtest --server HOST:PORT --api-key KEY --dataset ID [--jobs N] [--callers C] [--kind profile] [--wait no]
@main
struct LoadTest {
  static func main() async throws {
    var options: [String: String] = ["--jobs": "2000", "--callers": "16", "--kind": "profile", "--wait": "yes"]
    var arguments = CommandLine.arguments.dropFirst()
    while let name = arguments.popFirst() {
      guard let value = arguments.popFirst() else { fail("\(name) needs a value") }
      options[name] = value
    }
    guard let server = options["--server"], let key = options["--api-key"], let dataset = options["--dataset"],
      let jobs = Int(options["--jobs"]!), let callers = Int(options["--callers"]!), jobs > 0, callers > 0
    else { fail("usage: fidelis-loadtest --server HOST:PORT --api-key KEY --dataset ID [--jobs N] [--callers C] [--kind K]") }
    let parts = server.split(separator: ":")
    guard parts.count == 2, let port = Int(parts[1]) else { fail("--server must be HOST:PORT") }
    let kind = options["--kind"]!
    let metadata: Metadata = ["authorization": "Bearer \(key)"]
    let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: String(parts[0]), port: port), transportSecurity: .plaintext)
    try await withGRPCClient(transport: transport) { grpc in
      let client = Fidelis_V1_JobService.Client(wrapping: grpc)
      let clock = ContinuousClock()
      let start = clock.now
      let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for caller in 0..<callers {
          let share = jobs / callers + (caller < jobs % callers ? 1 : 0)
          group.addTask {
            var own: [Double] = []
            own.reserveCapacity(share)
            for _ in 0..<share {
              let before = clock.now
              _ = try await client.submitJob(.with { $0.datasetID = dataset; $0.kind = kind }, metadata: metadata)
              own.append(milliseconds(clock.now - before))
            }
            return own
          }
        }
        var all: [Double] = []
        for try await own in group { all += own }
        return all.sorted()
      }
      let submitted = clock.now
      // Done when nothing is queued or running; polled every 5 ms.
      while options["--wait"] != "no" {
        let queued = try await client.listJobs(.with { $0.state = .queued; $0.limit = 1 }, metadata: metadata)
        let running = try await client.listJobs(.with { $0.state = .running; $0.limit = 1 }, metadata: metadata)
        if queued.jobs.isEmpty && running.jobs.isEmpty { break }
        try await Task.sleep(for: .milliseconds(5))
      }
      let done = clock.now
      let failed = try await client.listJobs(.with { $0.state = .failed; $0.limit = 1000 }, metadata: metadata).jobs.count
      func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
      let seconds = milliseconds(done - start) / 1000
      let report: [String: Any] = [
        "jobs": jobs, "callers": callers, "kind": kind, "failed": failed, "seconds": seconds, "jobs_per_second": Double(jobs) / seconds,
        "submit_seconds": milliseconds(submitted - start) / 1000, "submits_per_second": Double(jobs) / (milliseconds(submitted - start) / 1000),
        "submit_ms": ["p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99), "max": latencies.last!],
      ]
      print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
    }
  }

  static func milliseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) * 1e-15
  }

  static func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fidelis-loadtest: \(message)\n".utf8))
    exit(2)
  }
}
