import FidelisProto
import Foundation
import GRPCCore
import Networking
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
