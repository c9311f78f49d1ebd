import Networking
import Observability
import Tracing
import FidelisProto
import Foundation
#if canImport(Glibc)
import CMalloc
#endif
import GRPCCore
import Analytics
import Jobs
import Reports
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import Synchronization

/// Everything a worker is configured with.
public struct WorkerConfiguration: Sendable {
  public var serverHost = "127.0.0.1"
  public var serverPort = 7443
  public var token: String
  /// Jobs run at once by this process.
  public var concurrency = 1
  /// Identifies the worker in logs and attempts.
  public var workerId = "worker-\(ProcessInfo.processInfo.processIdentifier)"
  public var host = ProcessInfo.processInfo.hostName
  /// How long one lease request waits on the coordinator for a job.
  public var pollMillis: Int32 = 5_000
  /// TLS to the coordinator, and the worker's certificate for mutual TLS.
  public var security = ClientSecurity()
  /// How much a job may grow this process by before it is stopped and failed (with
  /// several slots, the jobs running at once share the process: each sees its growth).
  public var jobMemoryBytes = 4 << 30
  /// How long a finished job's report is offered again while the coordinator cannot take it.
  public var completionPatience: Duration = .seconds(600)
  /// Where this worker serves `/metrics`; nil: not served.
  public var metricsHost: String?
  public var metricsPort: Int?

  public init(token: String) { self.token = token }
}

/// The coordinator refused this worker's token: the process stops, with this as its error,
/// instead of leasing again forever.
public struct WorkerTokenRefused: Error, CustomStringConvertible {
  /// The coordinator's address, as configured.
  public var server: String
  /// What the coordinator said.
  public var message: String

  public var description: String {
    "the coordinator at \(server) refused the worker token (\(message)): give the coordinator's worker token with --token or FIDELIS_WORKER_TOKEN"
  }
}

/// A worker process: `concurrency` loops that lease a job, run it with heartbeats, and
/// report the result. On graceful shutdown it stops leasing and finishes what it holds.
public struct WorkerProcess: Service {
  public let configuration: WorkerConfiguration
  let logger: Logger
  let stopping = SharedFlag()
  /// Small datasets already read, for the next jobs on the same data.
  let cache = DatasetCache()
  /// What `/metrics` serves.
  public let metrics: WorkerMetrics
  /// Jobs running in this process now.
  let active = ActiveJobs()

  public init(configuration: WorkerConfiguration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
    self.metrics = WorkerMetrics(slots: configuration.concurrency)
  }

  public func run() async throws {
    let transport = try HTTP2ClientTransport.Posix(
      target: target(host: configuration.serverHost, port: configuration.serverPort), transportSecurity: configuration.security.transportSecurity(),
      config: .defaults { config in
        config.connection.keepalive = .init(time: .seconds(15), timeout: .seconds(10), allowWithoutCalls: true)
        // What the coordinator may send ahead of the analysis reading a dataset waits in
        // this process beside the analysis's own peak: 2 MiB instead of 8 is still 40 ms of
        // a 50 MB/s link in flight, and more than loopback or a LAN needs.
        config.http2.targetWindowSize = 2 << 20
        config.backoff = .init(initial: .milliseconds(200), max: .seconds(10), multiplier: 2, jitter: 0.2)
      })
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      if let host = configuration.metricsHost, let port = configuration.metricsPort {
        let endpoint = MetricsEndpoint(host: host, port: port, registry: metrics.registry, logger: logger, refresh: { [metrics] in metrics.refresh() })
        tasks.addTask { try await endpoint.run() }
      }
      try await withGRPCClient(transport: transport) { client in
        let api = Fidelis_V1_WorkerService.Client(wrapping: client)
        try await withGracefulShutdownHandler {
          try await withThrowingDiscardingTaskGroup { group in
            for slot in 0..<max(1, configuration.concurrency) {
              group.addTask { try await leaseLoop(api, slot: slot) }
            }
          }
        } onGracefulShutdown: {
          stopping.value.store(true, ordering: .releasing)
        }
      }
      // The jobs are done: the metrics listener goes too.
      tasks.cancelAll()
      while let next = await tasks.nextResult() {
        if case .failure(let error) = next, !(error is CancellationError) { throw error }
      }
    }
    logger.info("worker stopped", metadata: ["worker": "\(configuration.workerId)"])
  }

  /// The token, and within a job (its run span is the current context) the job's trace
  /// context: the coordinator's spans of the call join the job's trace under it.
  var metadata: Metadata {
    var metadata = bearerMetadata(configuration.token)
    if let context = ServiceContext.current {
      for (key, value) in JobTracing.headers(context) { metadata.addString(value, forKey: key) }
    }
    return metadata
  }

  /// Leases and runs jobs until shutdown. Throws `WorkerTokenRefused` when the coordinator
  /// refuses the token: no retry can mend that, and a worker that went on trying would look
  /// alive to its supervisor while it never ran a job.
  func leaseLoop(_ api: Fidelis_V1_WorkerService.Client<HTTP2ClientTransport.Posix>, slot: Int) async throws {
    let workerId = configuration.concurrency > 1 ? "\(configuration.workerId)/\(slot)" : configuration.workerId
    var backoff = 0.2
    let leaseRequest = Fidelis_V1_LeaseJobRequest.with {
      $0.workerID = workerId
      $0.host = configuration.host
      $0.waitMs = configuration.pollMillis
      $0.slots = Int32(max(1, configuration.concurrency))
    }
    // A job handed back with the previous job's completion: no lease call needed.
    var next: Fidelis_V1_LeasedJob?
    while true {
      // A job already leased is run even when stopping: a drain finishes what it holds.
      if let job = next {
        next = await execute(job, api: api, workerId: workerId, leaseNext: leaseRequest)
        continue
      }
      if stopping.value.load(ordering: .acquiring) || Task.isCancelled { break }
      do {
        let response = try await api.leaseJob(leaseRequest, metadata: metadata, options: callOptions(seconds: Double(configuration.pollMillis) / 1000 + 10))
        backoff = 0.2
        if response.draining {
          try await Task.sleep(for: .seconds(1))
          continue
        }
        guard response.hasJob else { continue }
        next = await execute(response.job, api: api, workerId: workerId, leaseNext: leaseRequest)
      } catch let error as RPCError where error.code == .unauthenticated {
        logger.error("the coordinator refused the worker token: \(error.message)", metadata: ["worker": "\(workerId)"])
        throw WorkerTokenRefused(server: "\(configuration.serverHost):\(configuration.serverPort)", message: error.message)
      } catch {
        // Coordinator unreachable or restarting: back off with jitter, then lease again.
        logger.warning("lease failed, retrying in \(String(format: "%.1f", backoff)) s: \(error)", metadata: ["worker": "\(workerId)"])
        try? await Task.sleep(for: .milliseconds(Int(backoff * 1000 * Double.random(in: 0.8...1.2))))
        backoff = min(backoff * 2, 10)
      }
    }
  }

  func callOptions(seconds: Double) -> CallOptions {
    var options = CallOptions.defaults
    options.timeout = .milliseconds(Int64(seconds * 1000))
    return options
  }

  /// Runs one leased job in a span of the job's trace, a span per stage under it. Returns the
  /// next job when the coordinator leased one along with the completion.
  func execute(
    _ job: Fidelis_V1_LeasedJob, api: Fidelis_V1_WorkerService.Client<HTTP2ClientTransport.Posix>, workerId: String, leaseNext: Fidelis_V1_LeaseJobRequest
  ) async -> Fidelis_V1_LeasedJob? {
    let span = JobTracing.span(
      "run \(job.kind)", context: JobTracing.context(job: job.jobID), kind: .consumer,
      attributes: ["fidelis.job": job.jobID, "fidelis.worker": workerId, "fidelis.attempt": "\(job.attempt)"])
    let stages = StageSpans(parent: span.context)
    defer {
      stages.finish()
      span.end()
    }
    let next = await ServiceContext.withValue(span.context) {
      await run(job, api: api, workerId: workerId, leaseNext: leaseNext, stages: stages)
    }
    // A job's large arrays, freed, leave free memory in the heap that still counts as the
    // process's (resident): handed back when no other job runs, so that the next job's
    // peak starts from what the process holds, not from the last job's high-water mark.
    #if canImport(Glibc)
    if active.count == 0 { malloc_trim(0) }
    #endif
    return next
  }

  /// Runs one leased job: heartbeats in parallel, then the result or the failure.
  func run(
    _ job: Fidelis_V1_LeasedJob, api: Fidelis_V1_WorkerService.Client<HTTP2ClientTransport.Posix>, workerId: String, leaseNext: Fidelis_V1_LeaseJobRequest,
    stages: StageSpans
  ) async -> Fidelis_V1_LeasedJob? {
    let log: Logger.Metadata = ["job": "\(job.jobID)", "worker": "\(workerId)", "tenant": "\(job.tenantName)", "attempt": "\(job.attempt)"]
    // Starts and successes are logged by the coordinator with this worker's name and host;
    // here they are debug lines, and what goes wrong stays at info and above.
    logger.debug("job started", metadata: log.merging(["kind": "\(job.kind)"]) { $1 })
    let shared = RunningJob()
    let began = ContinuousClock.now
    active.enter()
    let cpuBefore = processCPUSeconds()
    metrics.began()
    let receivedDay = job.datasetReceivedUnixMs > 0 ? Int(job.datasetReceivedUnixMs / 86_400_000) : DateWindow.today()
    let budget = configuration.jobMemoryBytes
    let outcome: Result<[PackedArtifact], any Error>? = await withHeartbeats(job, api: api, shared: shared, memoryBudget: budget) {
      do {
        // The options were checked at submit; a job queued by an older coordinator, or
        // options this worker does not know, fail here for good.
        let spec: JobSpec
        do {
          spec = try JobSpec(kind: job.kind, options: job.options, defaultLanguage: job.language)
        } catch let error as InvalidJobOption {
          throw PermanentJobError(description: error.message)
        }
        let dataset = { (id: String) in LeasedDataset(api: api, jobId: job.jobID, leaseId: job.leaseID, datasetId: id, metadata: metadata, cache: cache) }
        var transactions = dataset(job.datasetID)
        transactions.byteCount = job.datasetBytes > 0 ? Int(job.datasetBytes) : nil
        let report = { (format: String) in LeasedReport(api: api, jobId: job.jobID, leaseId: job.leaseID, reportJobId: spec.compareTo ?? "", format: format, metadata: metadata) }
        let previous = spec.compareTo.map {
          PreviousReport(jobId: $0, json: report("json"), customers: report("csv"), groups: report(ArtifactFormat.customerGroups.rawValue))
        }
        let inputs = JobInputs(transactions: transactions, customers: spec.customersDatasetId.map(dataset), previous: previous, jobId: job.jobID)
        let artifacts = try await JobRunner.run(
          spec, inputs: inputs, tenantName: job.tenantName, receivedDay: receivedDay, formats: Set(ArtifactFormat.allCases),
          perCustomerCSV: .pieces(PackedArtifact.piecing), onComparisonSkipped: { reason in logger.warning("report not compared", metadata: log.merging(["reason": "\(reason)"]) { $1 }) },
          progress: { stage, percent in
            stages.enter(stage)
            shared.progress.withLock { $0 = (stage, percent) }
          })
        // Deflated here, off the tasks' threads, while the heartbeats go on (but the
        // per-customer CSV, deflated as it was written). Each file's bytes are let go once
        // it is packed, not after the last.
        let unpacked = UnpackedArtifacts(consume artifacts)
        return .success(try await offCooperativePool { _ in unpacked.pack() })
      } catch {
        return .failure(error)
      }
    }
    let stop = shared.stop.withLock { $0 }
    stages.finish()
    // The process's CPU time over the attempt, shared among the jobs that ran beside it.
    let cpu = max(0, processCPUSeconds() - cpuBefore) / Double(max(1, active.count))
    active.leave()
    metrics.ended(
      kind: job.kind, outcome: stop == .leaseLost ? "lease_lost" : { if case .success? = outcome { "succeeded" } else { "failed" } }(),
      duration: ContinuousClock.now - began)
    if stop == .leaseLost {
      logger.warning("lease lost; result dropped", metadata: log)
      return nil
    }
    do {
      switch outcome {
      case .success(let artifacts)?:
        // Heartbeats go on while the report is handed over: a coordinator whose disk is full
        // refuses it for a while, and the lease must outlive that.
        let answer = await withHeartbeats(job, api: api, shared: shared, memoryBudget: nil) {
          await completeWithRetries(job, artifacts: artifacts, api: api, leaseNext: leaseNext, cpuSeconds: cpu, log: log)
        }
        if shared.stop.withLock({ $0 }) == .leaseLost {
          logger.warning("lease lost; result dropped", metadata: log)
          return nil
        }
        logger.debug("job succeeded", metadata: log)
        return answer ?? nil
      case .failure(let error)?:
        try await reportFailure(job, error: error, stop: stop, api: api, cpuSeconds: cpu, log: log)
      case nil:
        try await reportFailure(job, error: CancellationError(), stop: stop, api: api, cpuSeconds: cpu, log: log)
      }
    } catch let error as RPCError where error.code == .aborted {
      logger.warning("result refused: lease no longer held", metadata: log)
    } catch {
      logger.error("could not report the job's outcome: \(error); its lease will expire and it will be retried", metadata: log)
    }
    return nil
  }

  /// Runs `body` while heartbeats extend the lease (and, with a budget, while the process's
  /// memory is watched). Returns `body`'s value, or nil when a heartbeat or the budget
  /// stopped it first (the reason is in `shared.stop`).
  func withHeartbeats<T: Sendable>(
    _ job: Fidelis_V1_LeasedJob, api: Fidelis_V1_WorkerService.Client<HTTP2ClientTransport.Posix>, shared: RunningJob, memoryBudget: Int?,
    _ body: @escaping @Sendable () async -> T
  ) async -> T? {
    let metadata = self.metadata
    // A third of the lease keeps it alive through a lost heartbeat or two; at most 2 s, so
    // that `job wait` shows a long job's stages as they pass.
    let interval = max(200, min(2000, Int(job.leaseMs) / 3))
    return await withTaskGroup(of: T?.self) { group in
      group.addTask { await body() }
      group.addTask {
        while !Task.isCancelled {
          try? await Task.sleep(for: .milliseconds(interval))
          if Task.isCancelled { break }
          let (stage, percent) = shared.progress.withLock { $0 }
          do {
            let answer = try await api.heartbeat(
              .with {
                $0.jobID = job.jobID
                $0.leaseID = job.leaseID
                $0.stage = stage
                $0.progressPercent = percent
              }, metadata: metadata, options: callOptions(seconds: 10))
            if answer.cancel {
              shared.stop.withLock { $0 = .cancelRequested }
              return nil
            }
          } catch let error as RPCError where error.code == .aborted || error.code == .notFound {
            shared.stop.withLock { $0 = .leaseLost }
            return nil
          } catch {
            // A missed heartbeat is not fatal: the lease outlives a few of them.
          }
        }
        return nil
      }
      if let memoryBudget {
        group.addTask {
          // The budget counts what the process grew by since the job started.
          let start = residentBytes() ?? 0
          while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            if let now = residentBytes(), now - start > memoryBudget {
              shared.stop.withLock { $0 = .memoryBudget(used: now - start) }
              return nil
            }
          }
          return nil
        }
      }
      // The first task to finish decides: the body, or a heartbeat or the budget asking to stop.
      let first = await group.next()!
      group.cancelAll()
      return first
    }
  }

  /// Hands the report over; while the coordinator cannot store it (a full disk, a restart)
  /// tries again for up to `completionPatience`, since the work is done and redoing it
  /// elsewhere would fix nothing. Returns the next job leased with the completion.
  func completeWithRetries(
    _ job: Fidelis_V1_LeasedJob, artifacts: [PackedArtifact], api: Fidelis_V1_WorkerService.Client<HTTP2ClientTransport.Posix>,
    leaseNext: Fidelis_V1_LeaseJobRequest, cpuSeconds: Double, log: Logger.Metadata
  ) async -> Fidelis_V1_LeasedJob? {
    let deadline = ContinuousClock.now + configuration.completionPatience
    var wait = Duration.milliseconds(500)
    while true {
      do {
        return try await complete(job, artifacts: artifacts, api: api, leaseNext: leaseNext, cpuSeconds: cpuSeconds)
      } catch where Task.isCancelled {
        // A heartbeat learnt that the lease is lost: the caller says so.
        return nil
      } catch let error as RPCError where [.resourceExhausted, .unavailable, .internalError].contains(error.code) && ContinuousClock.now < deadline {
        logger.warning("the coordinator did not take the report (\(error.code): \(error.message)); trying again in \(wait)", metadata: log)
        try? await Task.sleep(for: wait)
        if Task.isCancelled { return nil }
        wait = min(wait * 2, .seconds(10))
      } catch let error as RPCError where error.code == .aborted {
        logger.warning("result refused: lease no longer held", metadata: log)
        return nil
      } catch {
        logger.error("could not hand over the report: \(error); its lease will expire and it will be retried", metadata: log)
        return nil
      }
    }
  }

  /// One `CompleteJob` call: the header, then each artifact in messages of at most 1 MiB,
  /// raw or, for a large one, its deflated pieces.
  func complete(
    _ job: Fidelis_V1_LeasedJob, artifacts: [PackedArtifact], api: Fidelis_V1_WorkerService.Client<HTTP2ClientTransport.Posix>,
    leaseNext: Fidelis_V1_LeaseJobRequest, cpuSeconds: Double = 0
  ) async throws -> Fidelis_V1_LeasedJob? {
    let askNext = !stopping.value.load(ordering: .acquiring)
    let response = try await api.completeJob(metadata: metadata, options: callOptions(seconds: 120)) { writer in
      try await writer.write(.with {
        $0.header = .with {
          $0.jobID = job.jobID
          $0.leaseID = job.leaseID
          if askNext { $0.leaseNext = leaseNext }
          $0.cpuSeconds = cpuSeconds
        }
      })
      for artifact in artifacts {
        switch artifact.body {
        case .raw(let data):
          // The first chunk rides with the artifact's header: a small report is one message.
          let chunks = messageChunks(data, size: streamChunkBytes)
          try await writer.write(.with {
            $0.artifact = .with {
              $0.format = artifact.format
              $0.contentType = artifact.contentType
              $0.data = chunks[0]
            }
          })
          for chunk in chunks.dropFirst() { try await writer.write(.with { $0.chunk = chunk }) }
        case .pieces(let pieces):
          try await writer.write(.with {
            $0.artifact = .with {
              $0.format = artifact.format
              $0.contentType = artifact.contentType
            }
          })
          for piece in pieces {
            try await writer.write(.with {
              $0.piece = .with {
                $0.size = UInt32(piece.size)
                $0.data = piece.deflated
              }
            })
          }
        }
      }
    }
    return response.hasNext ? response.next : nil
  }

  /// Tells the coordinator how the job ended: cancelled, failed for good (bad input, over
  /// budget: the same input would fail again), or failed in a way a retry may fix.
  func reportFailure(
    _ job: Fidelis_V1_LeasedJob, error: any Error, stop: StopReason?, api: Fidelis_V1_WorkerService.Client<HTTP2ClientTransport.Posix>,
    cpuSeconds: Double = 0, log: Logger.Metadata
  ) async throws {
    let cancelled = stop == .cancelRequested || (stop == nil && error is CancellationError)
    var message = cancelled ? "cancelled" : "\(error)"
    var permanent = isPermanent(error)
    if case .memoryBudget(let used) = stop {
      message = "the job needed more memory than its budget of \(configuration.jobMemoryBytes >> 20) MiB (\((used >> 20)) MiB when it was stopped); not retried"
      permanent = true
    }
    // The reason may quote the input; it must fit in one message and one job record.
    if message.count > 2000 { message = message.prefix(2000) + "…" }
    _ = try await api.failJob(
      .with {
        $0.jobID = job.jobID
        $0.leaseID = job.leaseID
        $0.error = message
        $0.retryable = !permanent && !cancelled
        $0.cancelled = cancelled
        $0.cpuSeconds = cpuSeconds
      }, metadata: metadata, options: callOptions(seconds: 10))
    logger.info(cancelled ? "job cancelled" : "job failed", metadata: log.merging(["error": "\(message.prefix(300))"]) { $1 })
  }

  /// True for failures that the same job would meet again: its input or options, or a
  /// dataset that is gone.
  func isPermanent(_ error: any Error) -> Bool {
    if error is PermanentJobError { return true }
    if let error = error as? RPCError { return [.notFound, .invalidArgument, .failedPrecondition, .permissionDenied].contains(error.code) }
    return false
  }
}

/// Why a job stopped before its end.
enum StopReason: Equatable, Sendable {
  /// The tenant cancelled it (a heartbeat said so).
  case cancelRequested
  /// The coordinator no longer counts this worker's lease: its result would be refused.
  case leaseLost
  /// The process grew by more than the job's memory budget.
  case memoryBudget(used: Int)
}

/// What the job task and its heartbeat task share.
final class RunningJob: Sendable {
  /// Stage and percent, sent with each heartbeat.
  let progress = Mutex<(String, Double)>(("starting", 0))
  /// Set when a heartbeat or the memory budget stops the job.
  let stop = Mutex<StopReason?>(nil)
}

/// The process's resident memory in bytes (Linux `/proc/self/statm`), or nil.
func residentBytes() -> Int? {
  guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
  let fields = text.split(separator: " ")
  guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
  return pages * 4096
}

/// A dataset of a leased job, read from the coordinator under the job's lease.
struct LeasedDataset: ByteSource {
  let api: Fidelis_V1_WorkerService.Client<HTTP2ClientTransport.Posix>
  let jobId: String
  let leaseId: String
  let datasetId: String
  let metadata: Metadata
  let cache: DatasetCache
  /// The dataset's size, from the lease.
  var byteCount: Int? = nil

  func read(_ consume: (UnsafeBufferPointer<UInt8>) throws -> Void) async throws {
    if let chunks = cache.chunks(of: datasetId) {
      for chunk in chunks { try chunk.withUnsafeBytes { try consume($0.bindMemory(to: UInt8.self)) } }
      return
    }
    var kept: [Data]? = []
    var keptBytes = 0
    let request = Fidelis_V1_ReadDatasetRequest.with {
      $0.jobID = jobId
      $0.leaseID = leaseId
      $0.datasetID = datasetId
    }
    try await streamChunks({ handoff in
      try await api.readDataset(request, metadata: metadata) { response in
        for try await chunk in response.messages { await handoff.send(chunk.data) }
      }
    }) { chunk in
      try chunk.withUnsafeBytes { try consume($0.bindMemory(to: UInt8.self)) }
      keptBytes += chunk.count
      if keptBytes <= DatasetCache.largestDataset { kept?.append(chunk) } else { kept = nil }
    }
    if let kept { cache.store(kept, of: datasetId) }
  }
}

/// Jobs running in a worker process.
final class ActiveJobs: Sendable {
  private let value = Atomic<Int>(0)
  var count: Int { value.load(ordering: .acquiring) }
  func enter() { value.add(1, ordering: .acquiringAndReleasing) }
  func leave() { value.subtract(1, ordering: .acquiringAndReleasing) }
}

/// User and system CPU time of this process so far, in seconds.
func processCPUSeconds() -> Double {
  var usage = rusage()
  guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
  func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
  return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// A report file of the leased job's tenant (the one its analysis is compared with), read
/// from the coordinator under the job's lease.
struct LeasedReport: ByteSource {
  let api: Fidelis_V1_WorkerService.Client<HTTP2ClientTransport.Posix>
  let jobId: String
  let leaseId: String
  let reportJobId: String
  let format: String
  let metadata: Metadata

  func read(_ consume: (UnsafeBufferPointer<UInt8>) throws -> Void) async throws {
    let request = Fidelis_V1_ReadReportRequest.with {
      $0.jobID = jobId
      $0.leaseID = leaseId
      $0.reportJobID = reportJobId
      $0.format = format
    }
    try await streamChunks({ handoff in
      try await api.readReport(request, metadata: metadata) { response in
        for try await chunk in response.messages { await handoff.send(chunk.data) }
      }
    }) { chunk in try chunk.withUnsafeBytes { try consume($0.bindMemory(to: UInt8.self)) } }
  }
}

/// Runs a server-streaming call (`call`, which sends each chunk it receives to the handoff)
/// and hands the chunks to `consume` as they arrive. The handoff passes one chunk at a time
/// (send waits for the consumer), so HTTP/2 flow control keeps the coordinator from running
/// ahead and memory stays at a few chunks whatever the file's size.
func streamChunks(_ call: @escaping @Sendable (Handoff<Data>) async throws -> Void, consume: (Data) throws -> Void) async throws {
  let handoff = Handoff<Data>()
  try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask {
      do {
        try await call(handoff)
        handoff.finish()
      } catch {
        handoff.finish(throwing: error)
      }
    }
    do {
      while let chunk = try await handoff.next() { try consume(chunk) }
    } catch {
      // Releases the reading task if it waits with a chunk nobody will take.
      handoff.finish(throwing: error)
      throw error
    }
    try await group.waitForAll()
  }
}

/// Datasets of up to 8 MiB kept in memory (64 MiB in all, least recently used first out),
/// so that many small jobs on the same data do not read it again. A dataset never changes
/// once uploaded, so a copy is never stale; the coordinator still checks every lease.
final class DatasetCache: Sendable {
  static let largestDataset = 8 << 20
  static let capacity = 64 << 20
  private let entries = Mutex<(byID: [String: (chunks: [Data], bytes: Int, used: UInt64)], bytes: Int, clock: UInt64)>(([:], 0, 0))

  func chunks(of id: String) -> [Data]? {
    entries.withLock { state in
      guard var entry = state.byID[id] else { return nil }
      state.clock += 1
      entry.used = state.clock
      state.byID[id] = entry
      return entry.chunks
    }
  }

  func store(_ chunks: [Data], of id: String) {
    let bytes = chunks.reduce(0) { $0 + $1.count }
    entries.withLock { state in
      guard state.byID[id] == nil else { return }
      while state.bytes + bytes > Self.capacity, let oldest = state.byID.min(by: { $0.value.used < $1.value.used }) {
        state.bytes -= oldest.value.bytes
        state.byID[oldest.key] = nil
      }
      state.clock += 1
      state.byID[id] = (chunks, bytes, state.clock)
      state.bytes += bytes
    }
  }
}
