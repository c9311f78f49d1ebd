import Analytics
import FidelisProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Networking
import Observability
import Tracing
import Store
import X509

/// The coordinator's side of `fidelis.v1.WorkerService`: leases, heartbeats, inputs and results, with the worker token (and, on
/// the mutual-TLS listener, a client certificate).
struct WorkerAPI: Sendable {
  let coordinator: Coordinator
  /// True on the mutual-TLS listener: every call must come with a verified certificate.
  let requireCertificate: Bool
  /// Deflated pieces of a report file checked together, on every core: 8 MB of file.
  static let piecesCheckedTogether = 8
  /// Deflated bytes of a report file the coordinator holds before storing them, ahead of
  /// the job's success (`stageArtifactPieces`).
  static let heldReportBytes = 8 << 20

  /// Checks the worker token and, with mutual TLS, the certificate; returns the
  /// certificate's subject (empty without mutual TLS).
  func authenticate(_ metadata: Metadata, _ context: ServerContext) throws -> String {
    try coordinator.requireWorker(metadata)
    guard requireCertificate else { return "" }
    // The TLS handshake already refused certificates from another CA; this only reads the subject.
    guard let certificate = (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate else {
      throw RPCError(code: .unauthenticated, message: "worker calls need a client certificate signed by the workers' CA")
    }
    return certificate.subject.description
  }
}

extension WorkerAPI: Fidelis_V1_WorkerService.ServiceProtocol {
  func leaseJob(request: ServerRequest<Fidelis_V1_LeaseJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_LeaseJobResponse> {
    let certificate = try authenticate(request.metadata, context)
    let m = request.message
    try Self.check(m)
    let deadline = ContinuousClock.now + .milliseconds(min(max(Int(m.waitMs), 0), 30_000))
    // Long poll: every 50 ms, look in the store again if a job was queued since the last
    // look (and at least every second, for what no signal covers). Idle workers then cost
    // the store one look a second each, not twenty. Not woken at each queued job: every
    // idle slot of every worker would look for it at once (one caller's submits fell from
    // about 400 to 320 a second).
    while true {
      if coordinator.isDraining { return ServerResponse(message: .with { $0.draining = true }) }
      // Read before the look: a job queued after it moves the count on.
      let queuedBefore = coordinator.jobsQueued
      let looked = ContinuousClock.now
      if let job = try await leaseOnce(m, certificate: certificate) { return ServerResponse(message: .with { $0.job = job }) }
      repeat {
        if ContinuousClock.now >= deadline || context.cancellation.isCancelled { return ServerResponse(message: .init()) }
        try? await Task.sleep(for: .milliseconds(50))
      } while coordinator.jobsQueued == queuedBefore && ContinuousClock.now - looked < .seconds(1) && !coordinator.isDraining
    }
  }

  /// Leases the next job for the worker of `m`, if one is queued, in the API's form.
  func leaseOnce(_ m: Fidelis_V1_LeaseJobRequest, certificate: String) async throws -> Fidelis_V1_LeasedJob? {
    let request = leaseRequest(m, certificate: certificate)
    guard let lease = try await coordinator.mapStoreErrors({ try await coordinator.store.leaseNextJob(request) }) else { return nil }
    coordinator.jobChanges.touch(lease.job.id)
    coordinator.metrics.started(lease.job)
    Self.traceLease(lease, worker: request.worker)
    return leasedJob(lease, for: request)
  }

  /// A lease request names its worker and at most a few kinds (each list of kinds has a
  /// statement of its own, kept for the next time).
  static func check(_ m: Fidelis_V1_LeaseJobRequest) throws {
    guard !m.workerID.isEmpty else { throw RPCError(code: .invalidArgument, message: "worker_id is required") }
    guard m.kinds.count <= 16 else { throw RPCError(code: .invalidArgument, message: "at most 16 job kinds per lease (got \(m.kinds.count))") }
  }

  func leaseRequest(_ m: Fidelis_V1_LeaseJobRequest, certificate: String) -> LeaseRequest {
    // Every lease call, and every completion that asks for the next job, says who calls.
    coordinator.workers.seen(workerId: m.workerID, host: m.host, certificate: certificate, slots: Int(m.slots))
    return LeaseRequest(worker: m.workerID, host: m.host, certificate: certificate, kinds: m.kinds, leaseMillis: coordinator.configuration.leaseMillis)
  }

  /// Logs a new lease and puts it in the API's form.
  func leasedJob(_ lease: Lease, for request: LeaseRequest) -> Fidelis_V1_LeasedJob {
    let options = (try? Fidelis_V1_JobOptions(serializedBytes: lease.job.options)) ?? .init()
    coordinator.logger.info(
      "job leased",
      metadata: [
        "tenant": "\(lease.tenant.id)", "job": "\(lease.job.id)", "worker": "\(request.worker)", "host": "\(request.host)",
        "certificate": "\(request.certificate)", "attempt": "\(lease.job.attempt)",
      ])
    return .with {
      $0.jobID = lease.job.id
      $0.leaseID = lease.leaseId
      $0.kind = lease.job.kind
      $0.options = options
      $0.datasetID = lease.job.datasetId
      $0.attempt = Int32(lease.job.attempt)
      $0.leaseMs = request.leaseMillis
      $0.tenantName = lease.tenant.name
      $0.language = options.language.isEmpty ? lease.tenant.defaultLanguage : options.language
      $0.datasetReceivedUnixMs = lease.datasetCreatedAt
      $0.datasetBytes = lease.datasetBytes
    }
  }

  func heartbeat(request: ServerRequest<Fidelis_V1_HeartbeatRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_HeartbeatResponse> {
    _ = try authenticate(request.metadata, context)
    let m = request.message
    let leaseMillis = coordinator.configuration.leaseMillis
    let outcome = try coordinator.mapStoreErrors {
      try coordinator.store.heartbeat(jobId: m.jobID, leaseId: m.leaseID, stage: m.stage, progress: m.progressPercent, leaseMillis: leaseMillis)
    }
    coordinator.jobChanges.touch(m.jobID)
    return ServerResponse(message: .with {
      $0.cancel = outcome.cancelRequested
      $0.leaseMs = leaseMillis
    })
  }

  func readDataset(request: ServerRequest<Fidelis_V1_ReadDatasetRequest>, context: ServerContext) async throws -> StreamingServerResponse<Fidelis_V1_DatasetChunk> {
    _ = try authenticate(request.metadata, context)
    let m = request.message
    let store = coordinator.store
    // The lease gives access to its tenant's datasets only.
    let job = try coordinator.mapStoreErrors { try store.leasedJob(jobId: m.jobID, leaseId: m.leaseID) }
    let datasetId = m.datasetID.isEmpty ? job.datasetId : m.datasetID
    let dataset = try coordinator.mapStoreErrors { try store.dataset(tenantId: job.tenantId, id: datasetId) }
    let parts = try coordinator.mapStoreErrors { try store.datasetParts(versionId: dataset.id) }
    let trace = JobTracing.context(job: job.id, headers: Self.traceHeaders(request.metadata))
    return StreamingServerResponse { writer in
      let span = JobTracing.span("serve dataset", context: trace, kind: .server, attributes: ["fidelis.job": job.id, "fidelis.dataset": dataset.id])
      defer { span.end() }
      // A version made by appends reads its files in order: the first one's header only,
      // without the lines it leaves out, and a line break after a file that lacks one.
      for part in parts {
        let file = VersionFile(
          position: part.position, isLast: part.position == parts.count - 1, headerBytes: part.headerBytes,
          skipped: ByteRanges(encoded: part.skipped) ?? ByteRanges(), endsWithBreak: part.endsWithBreak)
        var offset: Int64 = 0
        for seq in 0..<part.chunkCount {
          guard let data = try coordinator.mapStoreErrors({ try store.datasetChunk(datasetId: part.fileId, seq: seq) }) else {
            throw RPCError(code: .dataLoss, message: "chunk \(seq) of dataset \(part.fileId) is missing")
          }
          let window = offset..<(offset + Int64(data.count))
          offset = window.upperBound
          let pieces = file.kept(in: window)
          if pieces == [window] {
            try await writer.write(.with { $0.data = data })
            continue
          }
          // The chunk's kept lines go as one message, however scattered.
          var kept = Data()
          for piece in pieces {
            let start = data.startIndex + Int(piece.lowerBound - window.lowerBound)
            kept.append(data[start..<(start + piece.count)])
          }
          if !kept.isEmpty { try await writer.write(.with { $0.data = kept }) }
        }
        if file.addsLineBreak { try await writer.write(.with { $0.data = Data([UInt8(ascii: "\n")]) }) }
      }
      return [:]
    }
  }

  /// CPU time a worker reported, in milliseconds; nil when it reported none (an older
  /// worker) or a value no attempt can have.
  static func cpuMillis(_ seconds: Double) -> Int64? {
    guard seconds > 0, seconds.isFinite, seconds < 1e9 else { return nil }
    return Int64((seconds * 1000).rounded())
  }

  /// The W3C trace headers a worker sent with a call about its job.
  static func traceHeaders(_ metadata: Metadata) -> [String: String] {
    var headers: [String: String] = [:]
    for key in ["traceparent", "tracestate"] {
      if let value = metadata[stringValues: key].first(where: { _ in true }) { headers[key] = value }
    }
    return headers
  }

  /// A lease in the job's trace.
  static func traceLease(_ lease: Lease, worker: String) {
    JobTracing.span(
      "lease", context: JobTracing.context(job: lease.job.id), kind: .server,
      attributes: ["fidelis.job": lease.job.id, "fidelis.worker": worker, "fidelis.attempt": "\(lease.job.attempt)"]
    ).end()
  }

  func readReport(request: ServerRequest<Fidelis_V1_ReadReportRequest>, context: ServerContext) async throws -> StreamingServerResponse<Fidelis_V1_DatasetChunk> {
    _ = try authenticate(request.metadata, context)
    let m = request.message
    let store = coordinator.store
    // The lease gives access to its tenant's reports only.
    let job = try coordinator.mapStoreErrors { try store.leasedJob(jobId: m.jobID, leaseId: m.leaseID) }
    try Coordinator.checkID(m.reportJobID, "job")
    let artifact = try coordinator.mapStoreErrors { try store.artifact(tenantId: job.tenantId, jobId: m.reportJobID, format: m.format, includingInternal: true) }
    return StreamingServerResponse { writer in
      for number in 0..<artifact.pieces {
        let piece = try coordinator.mapStoreErrors { try store.artifactPiece(artifact, number: number) }
        for chunk in messageChunks(piece, size: streamChunkBytes) { try await writer.write(.with { $0.data = chunk }) }
      }
      return [:]
    }
  }

  func completeJob(request: StreamingServerRequest<Fidelis_V1_CompleteJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_CompleteJobResponse> {
    let certificate = try authenticate(request.metadata, context)
    var header: Fidelis_V1_CompleteJobHeader?
    // Each file is deflated piece by piece as it arrives: the coordinator holds compressed
    // pieces, not the raw files.
    var artifacts: [DeflatedArtifact] = []
    var received = 0
    var leaseChecked = false
    // Deflated pieces are checked a few at a time, on every core, then added in order.
    var batch: [(size: Int, data: Data)] = []
    func addBatch() throws {
      guard !batch.isEmpty else { return }
      do {
        try artifacts[artifacts.count - 1].appendDeflated(batch)
      } catch {
        throw RPCError(code: .invalidArgument, message: "\(artifacts[artifacts.count - 1].format): \(error)")
      }
      batch.removeAll(keepingCapacity: true)
    }
    for try await part in request.messages {
      if case .piece = part.part {} else { try addBatch() }
      switch part.part {
      case .header(let h):
        guard header == nil else { throw RPCError(code: .invalidArgument, message: "the header must come once, first") }
        header = h
      case .artifact(let a):
        guard header != nil else { throw RPCError(code: .invalidArgument, message: "the header must come first") }
        guard !a.format.isEmpty else { throw RPCError(code: .invalidArgument, message: "an artifact needs a format") }
        artifacts.append(DeflatedArtifact(format: a.format, contentType: a.contentType))
        artifacts[artifacts.count - 1].append(a.data)
        received += a.data.count
      case .chunk(let bytes):
        guard !artifacts.isEmpty else { throw RPCError(code: .invalidArgument, message: "a chunk must follow an artifact header") }
        guard artifacts[artifacts.count - 1].takesMoreBytes else {
          throw RPCError(code: .invalidArgument, message: DeflatedArtifact.PieceRefusal.afterShortPiece.description)
        }
        artifacts[artifacts.count - 1].append(bytes)
        received += bytes.count
      case .piece(let piece):
        guard !artifacts.isEmpty else { throw RPCError(code: .invalidArgument, message: "a piece must follow an artifact header") }
        batch.append((Int(piece.size), piece.data))
        if batch.count == Self.piecesCheckedTogether { try addBatch() }
        received += Int(piece.size)
      case nil:
        throw RPCError(code: .invalidArgument, message: "a message must carry a header, an artifact, a chunk or a piece")
      }
      // A large file's pieces are stored as they come, a few megabytes at a time: the
      // coordinator, shared by every worker, holds that much of a report, whatever its size.
      // Storing them checks the lease, so a worker that lost it stops there.
      if let header, let last = artifacts.indices.last, artifacts[last].heldBytes >= Self.heldReportBytes {
        let (first, pieces) = artifacts[last].takePieces()
        let (format, contentType) = (artifacts[last].format, artifacts[last].contentType)
        try await coordinator.mapStoreErrors {
          try await coordinator.store.stageArtifactPieces(
            jobId: header.jobID, leaseId: header.leaseID, format: format, contentType: contentType, firstNumber: first, pieces: pieces)
        }
        leaseChecked = true
      }
      // A worker that lost its lease is refused before it sends the rest of a large
      // report; a small one is checked once, when it is stored.
      if !leaseChecked, received > 1 << 20, let header {
        _ = try coordinator.mapStoreErrors { try coordinator.store.leasedJob(jobId: header.jobID, leaseId: header.leaseID) }
        leaseChecked = true
      }
    }
    try addBatch()
    guard let header else { throw RPCError(code: .invalidArgument, message: "missing header") }
    if header.hasLeaseNext && !header.leaseNext.workerID.isEmpty { try Self.check(header.leaseNext) }
    // The next job is leased in the same transaction; a failure to lease it leaves the success stored.
    let next =
      header.hasLeaseNext && !header.leaseNext.workerID.isEmpty && !coordinator.isDraining
      ? leaseRequest(header.leaseNext, certificate: certificate) : nil
    let lease: Lease?
    let span = JobTracing.span(
      "complete", context: JobTracing.context(job: header.jobID, headers: Self.traceHeaders(request.metadata)), kind: .server,
      attributes: ["fidelis.job": header.jobID])
    defer { span.end() }
    do {
      lease = try await coordinator.mapStoreErrors { try await coordinator.store.completeJob(
          jobId: header.jobID, leaseId: header.leaseID, deflated: artifacts, next: next, cpuMillis: Self.cpuMillis(header.cpuSeconds))
      }
    } catch let error as RPCError where error.code == .aborted {
      coordinator.logger.warning("stale result refused", metadata: ["job": "\(header.jobID)", "lease": "\(header.leaseID)"])
      throw error
    }
    let done = try? coordinator.store.job(id: header.jobID)
    coordinator.logger.info(
      "job succeeded", metadata: ["job": "\(header.jobID)", "tenant": "\(done?.tenantId ?? "")", "artifacts": "\(artifacts.map(\.format))"])
    coordinator.jobChanges.touch(header.jobID, final: true)
    if let done { coordinator.metrics.changed(done) }
    guard let lease, let next else { return ServerResponse(message: .init()) }
    coordinator.jobChanges.touch(lease.job.id)
    coordinator.metrics.started(lease.job)
    Self.traceLease(lease, worker: next.worker)
    return ServerResponse(message: .with { $0.next = leasedJob(lease, for: next) })
  }

  func failJob(request: ServerRequest<Fidelis_V1_FailJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_FailJobResponse> {
    _ = try authenticate(request.metadata, context)
    let m = request.message
    let span = JobTracing.span(
      "fail", context: JobTracing.context(job: m.jobID, headers: Self.traceHeaders(request.metadata)), kind: .server, attributes: ["fidelis.job": m.jobID])
    defer { span.end() }
    let job = try coordinator.mapStoreErrors { try coordinator.store.failJob(
        jobId: m.jobID, leaseId: m.leaseID, error: m.error, retryable: m.retryable, cancelled: m.cancelled, cpuMillis: Self.cpuMillis(m.cpuSeconds))
    }
    if job.state == .queued { coordinator.noteJobsQueued() }
    coordinator.jobChanges.touch(job.id, final: job.state.isFinal)
    coordinator.metrics.changed(job)
    coordinator.logger.info("job attempt ended", metadata: ["tenant": "\(job.tenantId)", "job": "\(job.id)", "state": "\(job.state.rawValue)", "error": "\(m.error)"])
    return ServerResponse(message: .init())
  }
}
