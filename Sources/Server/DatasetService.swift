import Crypto
import FidelisProto
import Foundation
import GRPCCore
import Logging
import Networking
import Store

/// DatasetService: uploads stream into the store chunk by chunk.
struct DatasetService: Sendable {
  let coordinator: Coordinator
  static let maxChunkBytes = streamChunkBytes
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
    let m = request.message
    let size = try Coordinator.pageSize(m.pageSize, "page_size")
    var before: String?
    if !m.pageToken.isEmpty {
      guard m.pageToken.hasPrefix("ds_"), (try? Coordinator.checkID(m.pageToken, "dataset")) != nil else {
        throw RPCError(code: .invalidArgument, message: "page_token must be the next_page_token of a previous page")
      }
      before = m.pageToken
    }
    // One more than the page tells whether another page follows.
    var records = try coordinator.mapStoreErrors { try coordinator.store.datasets(tenantId: tenant.id, limit: size + 1, before: before) }
    let more = records.count > size
    if more { records.removeLast() }
    return ServerResponse(message: .with {
      $0.datasets = records.map(coordinator.message)
      if more, let last = records.last { $0.nextPageToken = last.id }
    })
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

/// A size for a person: bytes, KiB, MiB or GiB.
func byteCount(_ bytes: Int64) -> String {
  switch bytes {
  case ..<(1 << 10): "\(bytes) bytes"
  case ..<(1 << 20): String(format: "%.1f KiB", Double(bytes) / 1024)
  case ..<(1 << 30): String(format: "%.1f MiB", Double(bytes) / 1048576)
  default: String(format: "%.1f GiB", Double(bytes) / 1073741824)
  }
}
