import FidelisProto
import Foundation
import GRPCCore
import Jobs
import Logging
import Observability
import Tracing
import Store

/// JobService: submit, follow and cancel jobs.
struct JobService: Sendable {
  let coordinator: Coordinator
}

extension JobService: Fidelis_V1_JobService.ServiceProtocol {
  func submitJob(request: ServerRequest<Fidelis_V1_SubmitJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Job> {
    let tenant = try coordinator.tenant(request.metadata)
    guard !coordinator.isDraining else { throw RPCError(code: .unavailable, message: "the coordinator is shutting down; submit again to another or later") }
    let m = request.message
    // The one check of what the job asks, done where the request comes in.
    let spec: JobSpec
    do {
      spec = try JobSpec(kind: m.kind, options: m.options, defaultLanguage: tenant.defaultLanguage, defaultCurrency: tenant.defaultCurrency)
    } catch {
      throw RPCError(code: .invalidArgument, message: error.message)
    }
    guard !m.datasetID.isEmpty else { throw RPCError(code: .invalidArgument, message: "dataset_id is required") }
    let dataset = try Coordinator.checkName(m.datasetID, "dataset")
    try coordinator.requireDiskRoom()
    guard m.idempotencyKey.count <= 200 else { throw RPCError(code: .invalidArgument, message: "idempotency_key must be at most 200 characters") }
    // The language and the currency are settled now: a later change of the tenant's
    // defaults does not alter a queued job, and the worker reads them from the job.
    var wireOptions = m.options
    wireOptions.language = spec.language.rawValue
    wireOptions.currency = spec.analysis.currency
    if let customersReference = spec.customersDatasetId {
      // A name stands for its latest version now: the job reads the same file on every attempt.
      let reference = try Coordinator.checkName(customersReference, "dataset")
      let customers = try coordinator.mapStoreErrors { try coordinator.store.dataset(tenantId: tenant.id, reference: reference, kind: "customers") }
      guard customers.kind == "customers" else {
        throw RPCError(code: .invalidArgument, message: "customers_dataset_id must name a dataset uploaded with kind 'customers'")
      }
      wireOptions.customersDatasetID = customers.id
    }
    if spec.kind == .analysis {
      wireOptions.compareTo = try previousAnalysis(asked: spec.compareTo, dataset: dataset, tenant: tenant)?.id ?? ""
    }
    let options = try wireOptions.serializedBytes() as Data
    let kind = spec.kind.rawValue
    let (job, created) = try await coordinator.mapStoreErrors {
      try await coordinator.store.submitJob(tenantId: tenant.id, dataset: dataset, kind: kind, options: options, idempotencyKey: m.idempotencyKey)
    }
    if created {
      coordinator.noteJobsQueued()
      coordinator.metrics.submitted(kind: kind)
      JobTracing.span(
        "submit", context: JobTracing.context(job: job.id), kind: .server, attributes: ["fidelis.job": job.id, "fidelis.tenant": tenant.id, "fidelis.kind": kind]
      ).end()
      coordinator.logger.info("job submitted", metadata: ["tenant": "\(tenant.id)", "job": "\(job.id)", "kind": "\(kind)", "dataset": "\(job.datasetId)"])
    }
    return ServerResponse(message: try coordinator.message(job, details: false))
  }

  /// The analysis a new one is compared with: the one asked for, which must have
  /// succeeded, else the latest succeeded analysis of the dataset's series (nil for its
  /// first).
  private func previousAnalysis(asked: String?, dataset reference: String, tenant: TenantRecord) throws -> JobRecord? {
    let store = coordinator.store
    if let asked {
      try Coordinator.checkID(asked, "job")
      let job = try coordinator.mapStoreErrors { try store.job(tenantId: tenant.id, id: asked) }
      guard job.kind == "analysis", job.state == .succeeded else {
        throw RPCError(code: .failedPrecondition, message: "compare_to must name a succeeded analysis (job \(asked) is a \(job.kind) job, \(job.state.rawValue))")
      }
      return job
    }
    let dataset = try coordinator.mapStoreErrors { try store.dataset(tenantId: tenant.id, reference: reference, kind: "transactions") }
    return try coordinator.mapStoreErrors { try store.latestSucceededAnalysis(tenantId: tenant.id, datasetName: dataset.name) }
  }

  func getJob(request: ServerRequest<Fidelis_V1_GetJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Job> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.jobID, "job")
    let job = try coordinator.mapStoreErrors { try coordinator.store.job(tenantId: tenant.id, id: request.message.jobID) }
    return ServerResponse(message: try coordinator.message(job, details: true))
  }

  func listJobs(request: ServerRequest<Fidelis_V1_ListJobsRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListJobsResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    let m = request.message
    let limit = try Coordinator.pageSize(m.limit, "limit")
    let state = try Self.state(m.state)
    let jobs = try coordinator.mapStoreErrors { try coordinator.store.jobs(tenantId: tenant.id, state: state, limit: limit) }
    return ServerResponse(message: .with { $0.jobs = jobs.compactMap { try? coordinator.message($0, details: false) } })
  }

  /// A state to filter on: nil for all.
  static func state(_ state: Fidelis_V1_JobState) throws -> JobState? {
    switch state {
    case .unspecified: return nil
    case .UNRECOGNIZED(let value): throw RPCError(code: .invalidArgument, message: "unknown job state \(value)")
    default: return state.storeState
    }
  }

  func cancelJob(request: ServerRequest<Fidelis_V1_CancelJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Job> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.jobID, "job")
    let job = try coordinator.mapStoreErrors { try coordinator.store.cancelJob(tenantId: tenant.id, id: request.message.jobID) }
    coordinator.jobChanges.touch(job.id, final: job.state.isFinal)
    if job.state == .cancelled { coordinator.metrics.changed(job) }
    coordinator.logger.info("job cancel requested", metadata: ["tenant": "\(tenant.id)", "job": "\(job.id)", "state": "\(job.state.rawValue)"])
    return ServerResponse(message: try coordinator.message(job, details: true))
  }

  func watchJob(request: ServerRequest<Fidelis_V1_WatchJobRequest>, context: ServerContext) async throws -> StreamingServerResponse<Fidelis_V1_Job> {
    let tenant = try coordinator.tenant(request.metadata)
    let id = request.message.jobID
    try Coordinator.checkID(id, "job")
    let coordinator = self.coordinator
    _ = try coordinator.mapStoreErrors { try coordinator.store.job(tenantId: tenant.id, id: id) }
    return StreamingServerResponse { writer in
      try await coordinator.streams.withSlot(tenant: tenant.id, .watch) {
        var last: Fidelis_V1_Job?
        var seen: UInt64?
        var lastRead = ContinuousClock.now
        // The store is read when this coordinator changed the job (the wait ends at the
        // change), and at least every second (a change it did not make: another process, a
        // migration); the loop ends when the client leaves or the server stops (the handler
        // is not cancelled).
        var changed = false
        while !context.cancellation.isCancelled {
          let version = coordinator.jobChanges.version(id)
          if changed || version != seen || ContinuousClock.now - lastRead >= .seconds(1) {
            seen = version
            lastRead = ContinuousClock.now
            let job = try coordinator.mapStoreErrors { try coordinator.store.job(tenantId: tenant.id, id: id) }
            let message = try coordinator.message(job, details: job.state.isFinal)
            if message != last {
              try await writer.write(message)
              last = message
            }
            if job.state.isFinal { break }
          }
          changed = await coordinator.jobChanges.waitForChange(of: id, from: version, until: lastRead + .seconds(1), cancellation: context.cancellation)
        }
      }
      return [:]
    }
  }
}
