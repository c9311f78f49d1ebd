import FidelisProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Networking
import Synchronization

/// Load generator of `scripts/bench-jobs`: submits N jobs over one HTTP/2 connection, times
/// every SubmitJob, then waits until no job is queued or running. Prints one JSON line:
/// jobs, seconds from the first submit to the last completion, jobs per second, and submit
/// latency percentiles in milliseconds.
///
/// Two ways to load:
/// - closed loop (`--callers C`): C callers each submit, wait for the answer, submit again;
///   this finds the highest rate, and the latency it reports is mostly waiting in line
///   behind the other callers (about C divided by the rate).
/// - open loop (`--rate R`): a submit starts every 1/R s whatever the answers; latency is
///   counted from when the submit was due, so that a stalled coordinator cannot hide its
///   stall by slowing the load down.
///
///     fidelis-loadtest --server HOST:PORT --api-key KEY --dataset ID [--jobs N] [--callers C | --rate R] [--kind profile] [--wait no]
@main
struct LoadTest {
  static func main() async throws {
    var options: [String: String] = ["--jobs": "2000", "--callers": "16", "--kind": "profile", "--wait": "yes"]
    var arguments = CommandLine.arguments.dropFirst()
    while let name = arguments.popFirst() {
      guard let value = arguments.popFirst() else { fail("\(name) needs a value") }
      options[name] = value
    }
    let usage = "usage: fidelis-loadtest --server HOST:PORT --api-key KEY --dataset ID [--jobs N] [--callers C | --rate R] [--kind K] [--wait no]"
    guard let server = options["--server"], let key = options["--api-key"], let dataset = options["--dataset"],
      let jobs = Int(options["--jobs"]!), let callers = Int(options["--callers"]!), jobs > 0, callers > 0
    else { fail(usage) }
    let rate = options["--rate"].map { Double($0) ?? 0 }
    if let rate, rate <= 0 { fail("--rate must be a positive number of submits per second") }
    guard let (target, _, _) = try? resolveTarget(server) else { fail("--server must be HOST:PORT") }
    let kind = options["--kind"]!
    let metadata = bearerMetadata(key)
    let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: .plaintext)
    try await withGRPCClient(transport: transport) { grpc in
      let client = Fidelis_V1_JobService.Client(wrapping: grpc)
      let request = Fidelis_V1_SubmitJobRequest.with { $0.datasetID = dataset; $0.kind = kind }
      let clock = ContinuousClock()
      let startedAt = Date()
      let start = clock.now
      let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        if let rate {
          // Senders take the next submit in turn and wait for its due time; there are more
          // of them than submits ever in flight, so that none starts late for want of one.
          let turns = Turns()
          for _ in 0..<min(jobs, 128) {
            group.addTask {
              var own: [Double] = []
              while true {
                let index = turns.next()
                guard index < jobs else { break }
                let due = start + .seconds(Double(index) / rate)
                try await clock.sleep(until: due)
                _ = try await client.submitJob(request, metadata: metadata)
                own.append(milliseconds(clock.now - due))
              }
              return own
            }
          }
        } else {
          for caller in 0..<callers {
            let share = jobs / callers + (caller < jobs % callers ? 1 : 0)
            group.addTask {
              var own: [Double] = []
              own.reserveCapacity(share)
              for _ in 0..<share {
                let before = clock.now
                _ = try await client.submitJob(request, metadata: metadata)
                own.append(milliseconds(clock.now - before))
              }
              return own
            }
          }
        }
        var all: [Double] = []
        for try await own in group { all += own }
        return all.sorted()
      }
      let submitted = clock.now
      var seconds = milliseconds(submitted - start) / 1000
      if options["--wait"] != "no" {
        // Polled slowly so as not to load the coordinator being measured; the end is the
        // last job's own finish time. Jobs are leased oldest first, so the last to finish
        // is among the newest page.
        while true {
          let queued = try await client.listJobs(.with { $0.state = .queued; $0.limit = 1 }, metadata: metadata)
          let running = try await client.listJobs(.with { $0.state = .running; $0.limit = 1 }, metadata: metadata)
          if queued.jobs.isEmpty && running.jobs.isEmpty { break }
          try await Task.sleep(for: .milliseconds(100))
        }
        let newest = try await client.listJobs(.with { $0.limit = 1000 }, metadata: metadata).jobs
        let lastFinish = newest.map(\.finishedAtUnixMs).max() ?? 0
        seconds = (Double(lastFinish) - startedAt.timeIntervalSince1970 * 1000) / 1000
      }
      let failed = try await client.listJobs(.with { $0.state = .failed; $0.limit = 1000 }, metadata: metadata).jobs.count
      func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
      let submitSeconds = milliseconds(submitted - start) / 1000
      var report: [String: Any] = [
        "jobs": jobs, "kind": kind, "failed": failed, "seconds": seconds, "jobs_per_second": Double(jobs) / seconds,
        "submit_seconds": submitSeconds, "submits_per_second": Double(jobs) / submitSeconds,
        "submit_ms": ["p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99), "max": latencies.last!],
      ]
      if let rate { report["rate"] = rate } else { report["callers"] = callers }
      print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
    }
  }
}

/// Hands out submit numbers 0, 1, 2… to the open loop's senders.
final class Turns: Sendable {
  private let counter = Atomic<Int>(0)

  func next() -> Int { counter.add(1, ordering: .relaxed).oldValue }
}

func milliseconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func fail(_ message: String) -> Never {
  try? FileHandle.standardError.write(contentsOf: Data("fidelis-loadtest: \(message)\n".utf8))
  exit(2)
}
