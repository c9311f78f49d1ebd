import Foundation
import Observability
import Prometheus

/// A worker's metrics, served on its own `/metrics` (docs/metrics.md, "Operations").
public final class WorkerMetrics: Sendable {
  public let registry = MetricsRegistry()
  private let running: Gauge
  private let slots: Gauge
  private let resident: Gauge

  static let help: [String: String] = [
    "fidelis_worker_jobs_total": "Jobs this worker ran, by kind and outcome (succeeded, failed, lease_lost).",
    "fidelis_worker_job_seconds": "Time this worker spent on a job, lease to report, by kind.",
    "fidelis_worker_running_jobs": "Jobs running on this worker.",
    "fidelis_worker_slots": "Jobs this worker runs at once (--concurrency).",
    "fidelis_worker_resident_bytes": "Resident memory of the worker process.",
  ]

  /// A metric's name with its help text.
  static func named(_ name: String) -> MetricNameDescriptor { MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "") }

  public init(slots: Int) {
    let r = registry.registry
    running = r.makeGauge(descriptor: Self.named("fidelis_worker_running_jobs"))
    self.slots = r.makeGauge(descriptor: Self.named("fidelis_worker_slots"))
    resident = r.makeGauge(descriptor: Self.named("fidelis_worker_resident_bytes"))
    self.slots.set(Int64(slots))
  }

  func began() { running.increment() }

  func ended(kind: String, outcome: String, duration: Duration) {
    running.decrement()
    let r = registry.registry
    r.makeCounter(descriptor: Self.named("fidelis_worker_jobs_total"), labels: [("kind", kind), ("outcome", outcome)]).increment()
    r.makeDurationHistogram(descriptor: Self.named("fidelis_worker_job_seconds"), labels: [("kind", kind)], buckets: jobDurationBuckets)
      .record(duration)
  }

  /// Reads the process's memory, when Prometheus scrapes.
  public func refresh() {
    if let bytes = residentBytes() { resident.set(Int64(bytes)) }
  }
}
