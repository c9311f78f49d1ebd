import Crypto
import FidelisProto
import Foundation
import GRPCCore
import Jobs
import Logging
import Store

/// AdminService: tenants and keys, with the admin token.
struct AdminService: Sendable {
  let coordinator: Coordinator
}

extension AdminService: Fidelis_V1_AdminService.ServiceProtocol {
  func createTenant(request: ServerRequest<Fidelis_V1_CreateTenantRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_CreateTenantResponse> {
    try coordinator.requireAdmin(request.metadata)
    try coordinator.requireDiskRoom()
    let m = request.message
    let name = try Coordinator.checkName(m.name, "tenant")
    let language = m.defaultLanguage.isEmpty ? "en" : m.defaultLanguage
    let (tenant, key) = try coordinator.mapStoreErrors {
      try coordinator.store.createTenant(
        name: name, maxQueuedJobs: Int(m.limits.maxQueuedJobs), maxRunningJobs: Int(m.limits.maxRunningJobs), maxDatasetBytes: m.limits.maxDatasetBytes,
        maxStorageBytes: m.limits.maxStorageBytes, language: String(language.prefix(40)))
    }
    coordinator.logger.info("tenant created", metadata: ["tenant": "\(tenant.id)", "name": "\(tenant.name)"])
    return ServerResponse(message: .with {
      $0.tenant = coordinator.message(tenant)
      $0.apiKey = key
    })
  }

  func listTenants(request: ServerRequest<Fidelis_V1_ListTenantsRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListTenantsResponse> {
    try coordinator.requireAdmin(request.metadata)
    let tenants = try coordinator.mapStoreErrors { try coordinator.store.listTenants() }
    return ServerResponse(message: .with { $0.tenants = tenants.map(coordinator.message) })
  }

  func rotateKey(request: ServerRequest<Fidelis_V1_RotateKeyRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_RotateKeyResponse> {
    try coordinator.requireAdmin(request.metadata)
    try Coordinator.checkID(request.message.tenantID, "tenant")
    let key = try coordinator.mapStoreErrors { try coordinator.store.rotateKey(tenantId: request.message.tenantID) }
    coordinator.logger.info("api key rotated", metadata: ["tenant": "\(request.message.tenantID)"])
    return ServerResponse(message: .with { $0.apiKey = key })
  }
}

/// DatasetService: uploads stream into the store chunk by chunk.
struct DatasetService: Sendable {
  let coordinator: Coordinator
  static let maxChunkBytes = 1 << 20
}

extension DatasetService: Fidelis_V1_DatasetService.ServiceProtocol {
  func uploadDataset(request: StreamingServerRequest<Fidelis_V1_UploadDatasetRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Dataset> {
    let tenant = try coordinator.tenant(request.metadata)
    try coordinator.requireDiskRoom()
    return try await coordinator.streams.withSlot(tenant: tenant.id, .upload) {
      try await receiveUpload(request, tenant: tenant)
    }
  }

  /// Stores the chunks of an upload as they come; removes them all when it fails.
  func receiveUpload(_ request: StreamingServerRequest<Fidelis_V1_UploadDatasetRequest>, tenant: TenantRecord) async throws -> ServerResponse<Fidelis_V1_Dataset> {
    let store = coordinator.store
    let limit = store.maxDatasetBytes(tenant)
    // What the tenant holds already counts against its storage quota.
    let (used, quota) = try coordinator.mapStoreErrors { try store.storageUse(tenant) }
    var datasetId: String?
    var hasher = SHA256()
    var size: Int64 = 0
    var seq = 0
    do {
      for try await part in request.messages {
        switch part.part {
        case .header(let header):
          guard datasetId == nil else { throw RPCError(code: .invalidArgument, message: "the upload header must be sent once, first") }
          let kind = header.kind.isEmpty ? "transactions" : header.kind
          let name = try Coordinator.checkName(header.name, "dataset", allowEmpty: true)
          datasetId = try coordinator.mapStoreErrors { try store.beginUpload(tenantId: tenant.id, name: name, kind: String(kind.prefix(40))) }
        case .chunk(let bytes):
          guard let id = datasetId else { throw RPCError(code: .invalidArgument, message: "the upload must start with a header message") }
          guard bytes.count <= Self.maxChunkBytes else {
            throw RPCError(code: .invalidArgument, message: "upload chunks must be at most \(Self.maxChunkBytes) bytes (got \(bytes.count))")
          }
          size += Int64(bytes.count)
          guard size <= limit else {
            throw RPCError(code: .resourceExhausted, message: "dataset exceeds the tenant's limit of \(limit) bytes; nothing was stored")
          }
          guard used + size <= quota else {
            throw RPCError(
              code: .resourceExhausted,
              message: "the tenant's storage quota of \(byteCount(quota)) would be exceeded (\(byteCount(used)) in use); delete datasets first. Nothing was stored")
          }
          hasher.update(data: bytes)
          try coordinator.mapStoreErrors { try store.appendChunk(datasetId: id, seq: seq, data: bytes) }
          seq += 1
        case nil:
          throw RPCError(code: .invalidArgument, message: "an upload message must carry a header or a chunk")
        }
      }
      guard let id = datasetId else { throw RPCError(code: .invalidArgument, message: "empty upload: send a header, then the file in chunks") }
      guard size > 0 else { throw RPCError(code: .invalidArgument, message: "the file is empty") }
      let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
      let record = try coordinator.mapStoreErrors { try store.finishUpload(datasetId: id, size: size, sha256: digest, chunks: seq) }
      coordinator.logger.info("dataset uploaded", metadata: ["tenant": "\(tenant.id)", "dataset": "\(id)", "bytes": "\(size)"])
      return ServerResponse(message: coordinator.message(record))
    } catch {
      if let id = datasetId { try? store.abortUpload(datasetId: id) }
      throw error
    }
  }

  func listDatasets(request: ServerRequest<Fidelis_V1_ListDatasetsRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListDatasetsResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    let records = try coordinator.mapStoreErrors { try coordinator.store.datasets(tenantId: tenant.id) }
    return ServerResponse(message: .with { $0.datasets = records.map(coordinator.message) })
  }

  func getDataset(request: ServerRequest<Fidelis_V1_GetDatasetRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Dataset> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.datasetID, "dataset")
    let record = try coordinator.mapStoreErrors { try coordinator.store.dataset(tenantId: tenant.id, id: request.message.datasetID) }
    return ServerResponse(message: coordinator.message(record))
  }

  func deleteDataset(request: ServerRequest<Fidelis_V1_DeleteDatasetRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_DeleteDatasetResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    let id = request.message.datasetID
    try Coordinator.checkID(id, "dataset")
    // On a full disk the reserve is given back first: a delete writes to the log before
    // it frees pages, and deleting is how a tenant makes room.
    if coordinator.disk.isFull { coordinator.disk.releaseReserve() }
    do {
      try coordinator.store.deleteDataset(tenantId: tenant.id, id: id)
    } catch where FidelisStore.isDiskFull(error) {
      coordinator.disk.noteFull()
      coordinator.disk.releaseReserve()
      try coordinator.mapStoreErrors { try coordinator.store.deleteDataset(tenantId: tenant.id, id: id) }
    } catch {
      throw coordinator.rpcError(error)
    }
    coordinator.logger.info("dataset deleted", metadata: ["tenant": "\(tenant.id)", "dataset": "\(request.message.datasetID)"])
    return ServerResponse(message: .init())
  }
}

/// JobService: submit, follow and cancel jobs.
struct JobService: Sendable {
  let coordinator: Coordinator
}

extension JobService: Fidelis_V1_JobService.ServiceProtocol {
  func submitJob(request: ServerRequest<Fidelis_V1_SubmitJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Job> {
    let tenant = try coordinator.tenant(request.metadata)
    guard !coordinator.isDraining else { throw RPCError(code: .unavailable, message: "the coordinator is shutting down; submit again to another or later") }
    let m = request.message
    let kind = m.kind.isEmpty ? JobKind.analysis.rawValue : m.kind
    guard JobKind(rawValue: kind) != nil else {
      throw RPCError(code: .invalidArgument, message: "unknown job kind '\(kind)' (kinds: \(JobKind.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    guard !m.datasetID.isEmpty else { throw RPCError(code: .invalidArgument, message: "dataset_id is required") }
    try Coordinator.checkID(m.datasetID, "dataset")
    try coordinator.requireDiskRoom()
    guard m.idempotencyKey.count <= 200 else { throw RPCError(code: .invalidArgument, message: "idempotency_key must be at most 200 characters") }
    do {
      _ = try m.options.analysisOptions(defaultLanguage: tenant.defaultLanguage)
    } catch {
      throw RPCError(code: .invalidArgument, message: error.message)
    }
    if !m.options.customersDatasetID.isEmpty {
      try Coordinator.checkID(m.options.customersDatasetID, "dataset")
      let customers = try coordinator.mapStoreErrors { try coordinator.store.dataset(tenantId: tenant.id, id: m.options.customersDatasetID) }
      guard customers.kind == "customers" else {
        throw RPCError(code: .invalidArgument, message: "customers_dataset_id must name a dataset uploaded with kind 'customers'")
      }
    }
    let options = try m.options.serializedBytes() as Data
    let (job, created) = try await coordinator.mapStoreErrors {
      try await coordinator.store.submitJob(tenantId: tenant.id, datasetId: m.datasetID, kind: kind, options: options, idempotencyKey: m.idempotencyKey)
    }
    if created {
      coordinator.noteJobsQueued()
      coordinator.logger.info("job submitted", metadata: ["tenant": "\(tenant.id)", "job": "\(job.id)", "kind": "\(kind)", "dataset": "\(m.datasetID)"])
    }
    return ServerResponse(message: try coordinator.message(job, details: false))
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
    guard m.limit >= 0, m.limit <= 1000 else { throw RPCError(code: .invalidArgument, message: "limit must be between 0 and 1000 (got \(m.limit))") }
    let state: JobState?
    switch m.state {
    case .unspecified: state = nil
    case .UNRECOGNIZED(let value): throw RPCError(code: .invalidArgument, message: "unknown job state \(value)")
    default: state = m.state.storeState
    }
    let jobs = try coordinator.mapStoreErrors { try coordinator.store.jobs(tenantId: tenant.id, state: state, limit: m.limit == 0 ? 100 : Int(m.limit)) }
    return ServerResponse(message: .with { $0.jobs = jobs.compactMap { try? coordinator.message($0, details: false) } })
  }

  func cancelJob(request: ServerRequest<Fidelis_V1_CancelJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Job> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.jobID, "job")
    let job = try coordinator.mapStoreErrors { try coordinator.store.cancelJob(tenantId: tenant.id, id: request.message.jobID) }
    coordinator.jobChanges.touch(job.id, final: job.state.isFinal)
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
        // The store is read when this coordinator changed the job, and at least every second
        // (a change it did not make: another process, a migration); the loop ends when the
        // client leaves or the server stops (the handler is not cancelled).
        while !context.cancellation.isCancelled {
          let version = coordinator.jobChanges.version(id)
          if version != seen || ContinuousClock.now - lastRead >= .seconds(1) {
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
          try? await Task.sleep(for: .milliseconds(100))
        }
      }
      return [:]
    }
  }
}

/// ReportService: report files and segment exports.
struct ReportService: Sendable {
  let coordinator: Coordinator
  static let chunkBytes = 256 << 10
}

extension ReportService: Fidelis_V1_ReportService.ServiceProtocol {
  func getReport(request: ServerRequest<Fidelis_V1_GetReportRequest>, context: ServerContext) async throws -> StreamingServerResponse<Fidelis_V1_ReportChunk> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.jobID, "job")
    let format = request.message.format.isEmpty ? "md" : request.message.format.lowercased()
    guard format.count <= 16 else { throw RPCError(code: .invalidArgument, message: "unknown report format '\(format.prefix(16))…'") }
    let coordinator = self.coordinator
    let artifact = try coordinator.mapStoreErrors { try coordinator.store.artifact(tenantId: tenant.id, jobId: request.message.jobID, format: format) }
    return StreamingServerResponse { writer in
      try await coordinator.streams.withSlot(tenant: tenant.id, .download) {
        try await Self.write(artifact.data, contentType: artifact.contentType, to: writer)
      }
      return [:]
    }
  }

  func listReports(request: ServerRequest<Fidelis_V1_ListReportsRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListReportsResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    let m = request.message
    guard m.pageSize >= 0, m.pageSize <= 1000 else { throw RPCError(code: .invalidArgument, message: "page_size must be between 0 and 1000 (got \(m.pageSize))") }
    var before: Int64?
    if !m.pageToken.isEmpty {
      guard m.pageToken.count <= 24, let seq = Int64(m.pageToken), seq > 0 else {
        throw RPCError(code: .invalidArgument, message: "page_token must be the next_page_token of a previous page")
      }
      before = seq
    }
    let size = m.pageSize == 0 ? 100 : Int(m.pageSize)
    // One more than the page tells whether another page follows.
    var reports = try coordinator.mapStoreErrors { try coordinator.store.reports(tenantId: tenant.id, limit: size + 1, before: before) }
    let more = reports.count > size
    if more { reports.removeLast() }
    return ServerResponse(message: .with {
      if more, let last = reports.last?.job.seq { $0.nextPageToken = String(last) }
      $0.reports = reports.map { report in
        .with {
          $0.jobID = report.job.id
          $0.kind = report.job.kind
          $0.formats = report.formats
          $0.createdAtUnixMs = report.job.finishedAt ?? 0
          $0.sizeBytes = report.size
        }
      }
    })
  }

  func exportSegment(request: ServerRequest<Fidelis_V1_ExportSegmentRequest>, context: ServerContext) async throws -> StreamingServerResponse<Fidelis_V1_ReportChunk> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.jobID, "job")
    let checked = try SegmentExport(segment: request.message.segment)
    let coordinator = self.coordinator
    let artifact = try coordinator.mapStoreErrors { try coordinator.store.artifact(tenantId: tenant.id, jobId: request.message.jobID, format: "csv") }
    return StreamingServerResponse { writer in
      try await coordinator.streams.withSlot(tenant: tenant.id, .download) {
        var export = checked
        var first = true
        try await export.run(csv: artifact.data) { rows in
          try await Self.write(rows, contentType: first ? "text/csv" : nil, to: writer)
          first = false
        }
      }
      return [:]
    }
  }

  /// Writes `data` in messages of at most `chunkBytes`; the content type rides on the first.
  static func write(_ data: Data, contentType: String?, to writer: RPCWriter<Fidelis_V1_ReportChunk>) async throws {
    var offset = 0
    repeat {
      let end = min(data.count, offset + chunkBytes)
      try await writer.write(.with {
        $0.data = data.subdata(in: offset..<end)
        if offset == 0, let contentType { $0.contentType = contentType }
      })
      offset = end
    } while offset < data.count
  }
}

/// A size for a person: bytes, KiB, MiB or GiB.
func byteCount(_ bytes: Int64) -> String {
  switch bytes {
  case ..<(1 << 10): "\(bytes) bytes"
  case ..<(1 << 20): String(format: "%.1f KiB", Double(bytes) / 1024)
  case ..<(1 << 30): String(format: "%.1f MiB", Double(bytes) / 1048576)
  default: String(format: "%.1f GiB", Double(bytes) / 1073741824)
  }
}
