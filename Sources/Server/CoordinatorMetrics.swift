import Foundation
import Observability
import Prometheus
import Store
import Synchronization

/// The coordinator's metrics (names and help in docs/metrics.md, "Operations"): counters
/// moved where jobs change state, gauges read from the store when Prometheus scrapes.
///
/// Made with swift-prometheus's registry (the swift-metrics backend) directly: swift-metrics'
/// API cannot pass a help text, and Prometheus tools expect one per metric.
final class CoordinatorMetrics: Sendable {
  let registry: MetricsRegistry
  /// Queue depth and running jobs per tenant too (a label per tenant: off by default, to
  /// keep the series bounded).
  let perTenant: Bool
  private var r: PrometheusCollectorRegistry { registry.registry }
  private let uploadBytes: Counter
  private let leaseExpiries: Counter
  private let retries: Counter
  private let queued: Gauge
  private let running: Gauge
  private let storeBytes: Gauge
  private let walBytes: Gauge
  private let workersConnected: Gauge
  private let workerSlots: Gauge
  private let diskFree: Gauge
  private let diskSize: Gauge
  /// Tenants seen, so that a tenant whose queue emptied reads 0 rather than its last value.
  private let tenantsSeen = Mutex<Set<String>>([])

  init(perTenant: Bool) {
    registry = MetricsRegistry()
    self.perTenant = perTenant
    let r = registry.registry
    uploadBytes = r.makeCounter(descriptor: Self.named("fidelis_upload_bytes_total"))
    leaseExpiries = r.makeCounter(descriptor: Self.named("fidelis_lease_expiries_total"))
    retries = r.makeCounter(descriptor: Self.named("fidelis_job_retries_total"))
    queued = r.makeGauge(descriptor: Self.named("fidelis_jobs_queued"))
    running = r.makeGauge(descriptor: Self.named("fidelis_jobs_running"))
    storeBytes = r.makeGauge(descriptor: Self.named("fidelis_store_file_bytes"))
    walBytes = r.makeGauge(descriptor: Self.named("fidelis_store_wal_bytes"))
    workersConnected = r.makeGauge(descriptor: Self.named("fidelis_workers_connected"))
    workerSlots = r.makeGauge(descriptor: Self.named("fidelis_worker_slots"))
    diskFree = r.makeGauge(descriptor: Self.named("fidelis_data_disk_free_bytes"))
    diskSize = r.makeGauge(descriptor: Self.named("fidelis_data_disk_size_bytes"))
  }

  /// The metrics' help texts; docs/metrics.md lists the same.
  static let helpTexts: [String: String] = [
    "fidelis_jobs_submitted_total": "Jobs accepted, by kind.",
    "fidelis_jobs_started_total": "Job attempts leased to a worker, by kind.",
    "fidelis_jobs_finished_total": "Jobs that reached a final state, by kind and outcome (succeeded, failed, cancelled).",
    "fidelis_jobs_queued": "Jobs waiting for a worker.",
    "fidelis_jobs_running": "Jobs leased to a worker.",
    "fidelis_job_duration_seconds": "Time from a job's first lease to its final state, by kind and outcome.",
    "fidelis_job_queue_wait_seconds": "Time from a job's submission to its first lease, by kind.",
    "grpc_server_handled_total": "RPCs completed on the server, by service, method and status code.",
    "grpc_server_handling_seconds": "Time to handle an RPC on the server, by service and method.",
    "fidelis_upload_bytes_total": "Dataset bytes received by uploads and appends.",
    "fidelis_store_file_bytes": "Size of the store's SQLite file.",
    "fidelis_store_wal_bytes": "Size of the store's write-ahead log.",
    "fidelis_workers_connected": "Workers heard from within two lease periods.",
    "fidelis_data_disk_free_bytes": "Free space of the data directory's file system.",
    "fidelis_data_disk_size_bytes": "Size of the data directory's file system.",
    "fidelis_worker_slots": "Job slots of the connected workers.",
    "fidelis_lease_expiries_total": "Leases that ran out (a worker went silent).",
    "fidelis_job_retries_total": "Attempts queued again after a lost lease, a retryable error or an operator's retry.",
    "fidelis_tenant_jobs_queued": "Jobs waiting for a worker, by tenant (with --metrics-per-tenant).",
    "fidelis_tenant_jobs_running": "Jobs leased to a worker, by tenant (with --metrics-per-tenant).",
  ]

  static func help(_ name: String) -> String { helpTexts[name] ?? "" }

  /// A metric's name with its help text.
  static func named(_ name: String) -> MetricNameDescriptor { MetricNameDescriptor(metricName: name, unitName: "", helpText: help(name)) }

  func submitted(kind: String) {
    r.makeCounter(descriptor: Self.named("fidelis_jobs_submitted_total"), labels: [("kind", kind)]).increment()
  }

  /// A lease: the attempt starts; the first one ends the job's wait in the queue.
  func started(_ job: JobRecord) {
    r.makeCounter(descriptor: Self.named("fidelis_jobs_started_total"), labels: [("kind", job.kind)]).increment()
    if job.attempt == 1, let started = job.startedAt {
      r.makeDurationHistogram(
        descriptor: Self.named("fidelis_job_queue_wait_seconds"), labels: [("kind", job.kind)], buckets: jobDurationBuckets
      ).record(.milliseconds(max(0, started - job.createdAt)))
    }
  }

  /// A job's state changed (or its lease ran out): counts its end, or its retry.
  func changed(_ job: JobRecord, leaseExpired: Bool = false) {
    if leaseExpired { leaseExpiries.increment() }
    if job.state == .queued {
      retries.increment()
      return
    }
    guard job.state.isFinal else { return }
    let outcome = job.state.rawValue
    r.makeCounter(descriptor: Self.named("fidelis_jobs_finished_total"), labels: [("kind", job.kind), ("outcome", outcome)])
      .increment()
    if let started = job.startedAt, let finished = job.finishedAt {
      r.makeDurationHistogram(
        descriptor: Self.named("fidelis_job_duration_seconds"), labels: [("kind", job.kind), ("outcome", outcome)], buckets: jobDurationBuckets
      ).record(.milliseconds(max(0, finished - started)))
    }
  }

  func received(bytes: Int) { uploadBytes.increment(by: Int64(bytes)) }

  /// One RPC handled, named as the gRPC ecosystem names it (go-grpc-prometheus).
  func handled(service: String, method: String, type: String, code: String, duration: Duration) {
    r.makeCounter(
      descriptor: Self.named("grpc_server_handled_total"), labels: [("grpc_type", type), ("grpc_service", service), ("grpc_method", method), ("grpc_code", code)]
    ).increment()
    r.makeDurationHistogram(
      descriptor: Self.named("grpc_server_handling_seconds"), labels: [("grpc_type", type), ("grpc_service", service), ("grpc_method", method)], buckets: rpcDurationBuckets
    ).record(duration)
  }

  /// Reads the gauges: the store's counts and sizes, the workers heard from.
  func refresh(store: FidelisStore, disk: DiskSpace, workers: WorkerRegistry, within milliseconds: Int64) {
    if let free = disk.freeBytes(), let size = disk.sizeBytes() {
      diskFree.set(free)
      diskSize.set(size)
    }
    if let counts = try? store.jobCountsByTenant() {
      queued.set(Int64(counts.values.reduce(0) { $0 + $1.queued }))
      running.set(Int64(counts.values.reduce(0) { $0 + $1.running }))
      if perTenant {
        let tenants = tenantsSeen.withLock { seen in
          seen.formUnion(counts.keys)
          return seen
        }
        for tenant in tenants {
          let c = counts[tenant] ?? (queued: 0, running: 0)
          r.makeGauge(descriptor: Self.named("fidelis_tenant_jobs_queued"), labels: [("tenant", tenant)]).set(Int64(c.queued))
          r.makeGauge(descriptor: Self.named("fidelis_tenant_jobs_running"), labels: [("tenant", tenant)]).set(Int64(c.running))
        }
      }
    }
    if let sizes = store.fileSizes() {
      storeBytes.set(sizes.database)
      walBytes.set(sizes.wal)
    }
    let connected = workers.connectedSlots(within: milliseconds)
    workersConnected.set(Int64(connected.count))
    workerSlots.set(Int64(connected.reduce(0, +)))
  }
}
