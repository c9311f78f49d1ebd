import Analytics
import FidelisProto
import Foundation
import GRPCCore
import Networking
import Reports
import Store

/// ReportService: report files and segment exports.
struct ReportService: Sendable {
  let coordinator: Coordinator
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
        // One stored piece read, inflated and sent at a time.
        for number in 0..<max(1, artifact.pieces) {
          let piece = number < artifact.pieces ? try coordinator.mapStoreErrors { try coordinator.store.artifactPiece(artifact, number: number) } : Data()
          try await Self.write(piece, contentType: number == 0 ? artifact.contentType : nil, to: writer)
        }
      }
      return [:]
    }
  }

  func listReports(request: ServerRequest<Fidelis_V1_ListReportsRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListReportsResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    let m = request.message
    let size = try Coordinator.pageSize(m.pageSize, "page_size")
    var before: Int64?
    if !m.pageToken.isEmpty {
      guard m.pageToken.count <= 24, let seq = Int64(m.pageToken), seq > 0 else {
        throw RPCError(code: .invalidArgument, message: "page_token must be the next_page_token of a previous page")
      }
      before = seq
    }
    let dataset = m.datasetID.isEmpty ? nil : try checkDataset(m.datasetID, tenant: tenant)
    let kind = try Self.checkKind(m.kind)
    // One more than the page tells whether another page follows.
    var reports = try coordinator.mapStoreErrors {
      try coordinator.store.reports(tenantId: tenant.id, limit: size + 1, before: before, dataset: dataset, kind: kind)
    }
    let more = reports.count > size
    if more { reports.removeLast() }
    return ServerResponse(message: .with {
      if more, let last = reports.last?.job.seq { $0.nextPageToken = String(last) }
      $0.reports = reports.map(Self.summary)
    })
  }

  func watchReports(request: ServerRequest<Fidelis_V1_WatchReportsRequest>, context: ServerContext) async throws -> StreamingServerResponse<Fidelis_V1_ReportSummary> {
    let tenant = try coordinator.tenant(request.metadata)
    let m = request.message
    let dataset = try checkDataset(m.datasetID, tenant: tenant)
    let kind = try Self.checkKind(m.kind)
    let coordinator = self.coordinator
    let store = coordinator.store
    // What was there when the watch began is not news: the reports up to `after_job_id`
    // when given, else all of them.
    let existing = try coordinator.mapStoreErrors { try store.succeededJobs(tenantId: tenant.id, dataset: dataset, kind: kind) }
    let alreadySeen: Set<String>
    if m.afterJobID.isEmpty {
      alreadySeen = Set(existing.map(\.id))
    } else {
      try Coordinator.checkID(m.afterJobID, "job")
      let after = try coordinator.mapStoreErrors { try store.job(tenantId: tenant.id, id: m.afterJobID) }
      guard dataset.matches(after) else {
        throw RPCError(code: .invalidArgument, message: "job \(m.afterJobID) read dataset \(after.datasetName ?? after.datasetId), not \(m.datasetID)")
      }
      alreadySeen = Set(existing.filter { $0.seq <= after.seq ?? 0 }.map(\.id))
    }
    return StreamingServerResponse { writer in
      try await coordinator.streams.withSlot(tenant: tenant.id, .watch) {
        var seen = alreadySeen
        var finished: UInt64?
        var lastRead = ContinuousClock.now
        // The store is read when this coordinator has ended a job (the wait ends then), and
        // at least every second (a job ended by another process); the loop ends when the
        // client leaves or the server stops.
        while !context.cancellation.isCancelled {
          let now = coordinator.jobChanges.finished
          if now != finished || ContinuousClock.now - lastRead >= .seconds(1) {
            finished = now
            lastRead = ContinuousClock.now
            let succeeded = try coordinator.mapStoreErrors { try store.succeededJobs(tenantId: tenant.id, dataset: dataset, kind: kind) }
            let new = succeeded.map(\.id).filter { !seen.contains($0) }
            for report in try coordinator.mapStoreErrors({ try store.reports(tenantId: tenant.id, jobIds: new) }) {
              try await writer.write(Self.summary(report))
              seen.insert(report.job.id)
            }
          }
          await coordinator.jobChanges.waitForEnd(from: now, until: lastRead + .seconds(1), cancellation: context.cancellation)
          // Every job's end wakes every watch of reports: at most ten looks a second each,
          // whatever the rate of jobs.
          try? await Task.sleep(until: lastRead + .milliseconds(100))
        }
      }
      return [:]
    }
  }

  /// A dataset version or name the tenant knows (its datasets, or those its jobs read);
  /// NOT_FOUND else.
  private func checkDataset(_ reference: String, tenant: TenantRecord) throws -> DatasetFilter {
    guard !reference.isEmpty else { throw RPCError(code: .invalidArgument, message: "dataset_id is required") }
    let reference = try Coordinator.checkName(reference, "dataset")
    guard let filter = try coordinator.mapStoreErrors({ try coordinator.store.datasetFilter(tenantId: tenant.id, reference: reference) }) else {
      throw RPCError(code: .notFound, message: "dataset \(reference) not found")
    }
    return filter
  }

  /// A job kind to filter on: nil for both.
  private static func checkKind(_ kind: String) throws -> String? {
    switch kind {
    case "": return nil
    case "analysis", "profile": return kind
    default: throw RPCError(code: .invalidArgument, message: "kind must be 'analysis' or 'profile' (got '\(kind.prefix(40))')")
    }
  }

  static func summary(_ report: StoredReport) -> Fidelis_V1_ReportSummary {
    .with {
      $0.jobID = report.job.id
      $0.kind = report.job.kind
      $0.datasetID = report.job.datasetId
      $0.datasetName = report.job.datasetName ?? ""
      $0.formats = report.formats
      $0.createdAtUnixMs = report.job.finishedAt ?? 0
      $0.sizeBytes = report.size
    }
  }

  func exportSegment(request: ServerRequest<Fidelis_V1_ExportSegmentRequest>, context: ServerContext) async throws -> StreamingServerResponse<Fidelis_V1_ReportChunk> {
    let tenant = try coordinator.tenant(request.metadata)
    try Coordinator.checkID(request.message.jobID, "job")
    let m = request.message
    let moved = !m.movedFrom.isEmpty || !m.movedTo.isEmpty
    var checked = try SegmentExport(segment: moved ? m.movedTo : m.segment)
    let coordinator = self.coordinator
    let artifact = try coordinator.mapStoreErrors { try coordinator.store.artifact(tenantId: tenant.id, jobId: m.jobID, format: "csv") }
    if moved { checked.onlyCustomers = try movedCustomers(m, tenant: tenant) }
    let ready = checked
    return StreamingServerResponse { writer in
      try await coordinator.streams.withSlot(tenant: tenant.id, .download) {
        var export = ready
        var first = true
        var next = 0
        try await export.run(read: {
          guard next < artifact.pieces else { return nil }
          defer { next += 1 }
          return try coordinator.mapStoreErrors { try coordinator.store.artifactPiece(artifact, number: next) }
        }) { rows in
          try await Self.write(rows, contentType: first ? "text/csv" : nil, to: writer)
          first = false
        }
      }
      return [:]
    }
  }

  /// The customers who were in `moved_from` in the report job `job_id` was compared with:
  /// the ones a moved-customers export keeps, when they are in `moved_to` now.
  private func movedCustomers(_ m: Fidelis_V1_ExportSegmentRequest, tenant: TenantRecord) throws -> Set<String> {
    guard !m.movedFrom.isEmpty, !m.movedTo.isEmpty else {
      throw RPCError(code: .invalidArgument, message: "moved_from and moved_to go together: the group customers left and the one they are in now")
    }
    guard let from = CustomerSelection(m.movedFrom), let to = CustomerSelection(m.movedTo) else {
      throw RPCError(code: .invalidArgument, message: "moved_from and moved_to must be RFM segments (\"At Risk\") or lifecycle groups (\"at_risk\")")
    }
    switch (from, to) {
    case (.segment, .segment), (.group, .group): break
    default:
      throw RPCError(code: .invalidArgument, message: "moved_from and moved_to must be both RFM segments or both lifecycle groups (clusters are not the same from one report to the next)")
    }
    let store = coordinator.store
    let job = try coordinator.mapStoreErrors { try store.job(tenantId: tenant.id, id: m.jobID) }
    let options = (try? Fidelis_V1_JobOptions(serializedBytes: job.options)) ?? .init()
    guard !options.compareTo.isEmpty else {
      throw RPCError(code: .failedPrecondition, message: "job \(m.jobID) was not compared with an earlier report: it has no customers that moved")
    }
    if let ids = indexedCustomers(job: options.compareTo, tenant: tenant, in: from) { return ids }
    let previous: StoredArtifact
    do {
      previous = try store.artifact(tenantId: tenant.id, jobId: options.compareTo, format: "csv")
    } catch StoreError.notFound {
      throw RPCError(code: .failedPrecondition, message: "the report job \(m.jobID) was compared with (job \(options.compareTo)) is gone")
    } catch {
      throw coordinator.rpcError(error)
    }
    var stream = CustomerCSVStream()
    var ids = Set<String>()
    do {
      for number in 0..<previous.pieces {
        let piece = try coordinator.mapStoreErrors { try store.artifactPiece(previous, number: number) }
        for row in try stream.rows(in: piece) where from.contains(row) { ids.insert(row.customerId) }
      }
      for row in try stream.finish() where from.contains(row) { ids.insert(row.customerId) }
    } catch let error as CSVFormatError {
      throw RPCError(code: .failedPrecondition, message: "the earlier report's customer file cannot be read: \(error.reason)")
    }
    return ids
  }

  /// The customers `selection` held in the report of `job`, read from its groups index (a
  /// few bytes per customer, where its per-customer file is some eighty); nil when it has
  /// none (made before Fidelis wrote one), when it does not read, or when the selection is
  /// not one the index keeps: the per-customer file tells then.
  private func indexedCustomers(job: String, tenant: TenantRecord, in selection: CustomerSelection) -> Set<String>? {
    let store = coordinator.store
    do {
      let index = try store.artifact(tenantId: tenant.id, jobId: job, format: ArtifactFormat.customerGroups.rawValue, includingInternal: true)
      var reader = CustomerGroupsIndex.Reader()
      for number in 0..<index.pieces { try reader.consume(try store.artifactPiece(index, number: number)) }
      return try reader.finish().identifiers(in: selection)
    } catch {
      return nil
    }
  }

  /// Writes `data` in messages of at most `streamChunkBytes`; the content type rides on the first.
  static func write(_ data: Data, contentType: String?, to writer: RPCWriter<Fidelis_V1_ReportChunk>) async throws {
    for (index, piece) in messageChunks(data, size: streamChunkBytes).enumerated() {
      try await writer.write(.with {
        $0.data = piece
        if index == 0, let contentType { $0.contentType = contentType }
      })
    }
  }
}
