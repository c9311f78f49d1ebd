import Analytics
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
      try await receive(request, tenant: tenant, isAppend: false)
    }
  }

  func appendDataset(request: StreamingServerRequest<Fidelis_V1_UploadDatasetRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Dataset> {
    let tenant = try coordinator.tenant(request.metadata)
    try coordinator.requireDiskRoom()
    return try await coordinator.streams.withSlot(tenant: tenant.id, .upload) {
      try await receive(request, tenant: tenant, isAppend: true)
    }
  }

  /// Stores the chunks of an upload or a batch as they come, then makes the dataset's next
  /// version; removes them all when anything fails.
  func receive(_ request: StreamingServerRequest<Fidelis_V1_UploadDatasetRequest>, tenant: TenantRecord, isAppend: Bool) async throws -> ServerResponse<Fidelis_V1_Dataset> {
    let store = coordinator.store
    let limit = store.maxDatasetBytes(tenant)
    // What the tenant holds already counts against its storage quota.
    let (used, quota) = try coordinator.mapStoreErrors { try store.storageUse(tenant) }
    var datasetId: String?
    var base: DatasetRecord?
    var columns: [String: String] = [:]
    var hasher = SHA256()
    var size: Int64 = 0
    var declaredSize: Int64 = 0
    var seq = 0
    // A compressed export, a workbook or UTF-16 text is refused as it starts, by what it is:
    // stored, it failed every job on a header of binary noise.
    var kindCheck = FileKindCheck()
    func checkKind(_ step: (inout FileKindCheck) throws(CSVFormatError) -> Void) throws {
      do { try step(&kindCheck) } catch { throw RPCError(code: .invalidArgument, message: "\(error.reason); nothing was stored") }
    }
    do {
      // Each chunk is written while the next arrives and is hashed: one write in flight at a
      // time, so chunks are stored in order, and the digest (an eighth of the server's work
      // on an upload) is no longer on the write's path.
      try await withThrowingTaskGroup(of: Void.self) { writes in
        var writing = false
        for try await part in request.messages {
          switch part.part {
          case .header(let header):
            guard datasetId == nil else { throw RPCError(code: .invalidArgument, message: "the upload header must be sent once, first") }
            // A file the client says is too large is refused before its first chunk, not
            // after a gigabyte of it has come.
            guard header.sizeBytes >= 0 else { throw RPCError(code: .invalidArgument, message: "header.size_bytes must not be negative (got \(header.sizeBytes))") }
            declaredSize = header.sizeBytes
            try Self.requireRoom(declaredSize, limit: limit, used: used, quota: quota)
            if isAppend {
              guard !header.name.isEmpty else { throw RPCError(code: .invalidArgument, message: "an append names the dataset it adds to (header.name)") }
              let reference = try Coordinator.checkName(header.name, "dataset")
              let held = try coordinator.mapStoreErrors { try store.dataset(tenantId: tenant.id, reference: reference, kind: "transactions") }
              guard held.kind == "transactions" else {
                throw RPCError(code: .failedPrecondition, message: "\(held.name) is a customers file: an append adds purchases to a transactions dataset; upload the new customers file under the same name instead")
              }
              base = held
              columns = header.columns
              datasetId = try coordinator.mapStoreErrors { try store.beginUpload(tenantId: tenant.id, name: held.name, kind: held.kind) }
            } else {
              let kind = header.kind.isEmpty ? "transactions" : header.kind
              let name = try Coordinator.checkName(header.name, "dataset", allowEmpty: true)
              datasetId = try coordinator.mapStoreErrors { try store.beginUpload(tenantId: tenant.id, name: name, kind: String(kind.prefix(40))) }
            }
          case .chunk(let bytes):
            guard let id = datasetId else { throw RPCError(code: .invalidArgument, message: "the upload must start with a header message") }
            guard bytes.count <= Self.maxChunkBytes else {
              throw RPCError(code: .invalidArgument, message: "upload chunks must be at most \(Self.maxChunkBytes) bytes (got \(bytes.count))")
            }
            size += Int64(bytes.count)
            try Self.requireRoom(size, limit: limit, used: used, quota: quota)
            try bytes.withUnsafeBytes { raw in try checkKind { (check) throws(CSVFormatError) in try check.observe(raw.bindMemory(to: UInt8.self)) } }
            if writing { try await writes.next() }
            let chunk = seq
            writes.addTask { try coordinator.mapStoreErrors { try store.appendChunk(datasetId: id, seq: chunk, data: bytes) } }
            writing = true
            hasher.update(data: bytes)
            coordinator.metrics.received(bytes: bytes.count)
            seq += 1
          case nil:
            throw RPCError(code: .invalidArgument, message: "an upload message must carry a header or a chunk")
          }
        }
        try await writes.waitForAll()
      }
      guard let id = datasetId else { throw RPCError(code: .invalidArgument, message: "empty upload: send a header, then the file in chunks") }
      guard size > 0 else { throw RPCError(code: .invalidArgument, message: "the file is empty") }
      try checkKind { (check) throws(CSVFormatError) in try check.finish() }
      guard declaredSize == 0 || size == declaredSize else {
        throw RPCError(
          code: .invalidArgument,
          message: "the upload carried \(size) bytes where its header said \(declaredSize): the file changed while it was read? Nothing was stored")
      }
      let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
      let record: DatasetRecord
      if let base {
        record = try await append(batch: id, to: base, columns: columns, size: size, sha256: digest, chunks: seq)
        coordinator.logger.info(
          "dataset appended",
          metadata: [
            "tenant": "\(tenant.id)", "dataset": "\(id)", "name": "\(record.name)", "version": "\(record.version)", "added": "\(record.linesAdded)",
            "skipped": "\(record.linesSkipped)", "replaced": "\(record.linesReplaced)",
          ])
      } else {
        record = try coordinator.mapStoreErrors { try store.finishUpload(datasetId: id, size: size, sha256: digest, chunks: seq) }
        coordinator.logger.info("dataset uploaded", metadata: ["tenant": "\(tenant.id)", "dataset": "\(id)", "bytes": "\(size)", "version": "\(record.version)"])
      }
      return ServerResponse(message: coordinator.message(record))
    } catch {
      if let id = datasetId { try? store.abortUpload(datasetId: id) }
      throw error
    }
  }

  /// Refuses a file of `size` bytes past the tenant's dataset `limit`, or past its storage
  /// `quota` with `used` already taken.
  static func requireRoom(_ size: Int64, limit: Int64, used: Int64, quota: Int64) throws {
    guard size <= limit else {
      throw RPCError(code: .resourceExhausted, message: "dataset exceeds the tenant's limit of \(limit) bytes; nothing was stored")
    }
    guard used + size <= quota else {
      throw RPCError(
        code: .resourceExhausted,
        message: "the tenant's storage quota of \(byteCount(quota)) would be exceeded (\(byteCount(used)) in use); delete datasets first. Nothing was stored")
    }
  }

  /// Makes the stored batch `batch` the next version of `base`: plans which lines of each
  /// file the version reads (`planAppend`), then records it in one transaction.
  func append(batch: String, to base: DatasetRecord, columns: [String: String], size: Int64, sha256: String, chunks: Int) async throws -> DatasetRecord {
    let store = coordinator.store
    let held = try coordinator.mapStoreErrors { try store.datasetParts(versionId: base.id) }
    let files = held.map { ($0.fileId, $0.chunkCount) } + [(batch, chunks)]
    let heldSkipped = held.map { ByteRanges(encoded: $0.skipped) ?? ByteRanges() }
    let plan: AppendPlan
    do {
      plan = try await store.withChunkReader { read in
        try planAppend(heldSkipped: heldSkipped, read: { file, seq in seq < files[file].1 ? try read(files[file].0, seq) : nil }, columns: columns)
      }
    } catch let error as CSVFormatError {
      throw RPCError(code: .invalidArgument, message: "the batch cannot be appended to \(base.name): \(error.reason); nothing was stored")
    } catch {
      throw coordinator.rpcError(error)
    }
    var parts = held.enumerated().map { i, part in
      var part = part
      part.skipped = plan.heldSkipped[i].encoded
      part.headerBytes = plan.heldHeaderBytes[i]
      part.endsWithBreak = plan.heldEndsWithBreak[i]
      return part
    }
    parts.append(
      DatasetPartRecord(
        versionId: batch, position: parts.count, fileId: batch, sizeBytes: size, chunkCount: chunks, headerBytes: plan.batchLayout.headerBytes,
        endsWithBreak: plan.batchEndsWithBreak, skipped: plan.batchSkipped.encoded))
    let summary = FidelisStore.AppendSummary(
      rule: plan.rule.rawValue, linesAdded: plan.linesAdded, linesSkipped: plan.linesSkipped, linesReplaced: plan.linesReplaced,
      daysReplaced: plan.daysReplaced, replacedFrom: plan.replacedFrom, replacedThrough: plan.replacedThrough)
    let contentBytes = plan.contentBytes(heldSizes: held.map(\.sizeBytes), batchSize: size)
    return try coordinator.mapStoreErrors {
      try store.finishAppend(datasetId: batch, base: base, parts: parts, summary: summary, contentBytes: contentBytes, size: size, sha256: sha256, chunks: chunks)
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

  func listDatasetVersions(request: ServerRequest<Fidelis_V1_ListDatasetVersionsRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListDatasetsResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    let m = request.message
    let name = try Coordinator.checkName(m.name, "dataset")
    let kind = try Self.kind(m.kind)
    let versions = try coordinator.mapStoreErrors { try coordinator.store.datasetVersions(tenantId: tenant.id, kind: kind, name: name) }
    return ServerResponse(message: .with { $0.datasets = versions.map(coordinator.message) })
  }

  func getDataset(request: ServerRequest<Fidelis_V1_GetDatasetRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Dataset> {
    let tenant = try coordinator.tenant(request.metadata)
    let reference = try Coordinator.checkName(request.message.datasetID, "dataset")
    let record = try coordinator.mapStoreErrors { try resolve(reference, tenant: tenant) }
    return ServerResponse(message: coordinator.message(record))
  }

  /// The version a reference names: a version id, else a transactions dataset's name, else
  /// a customers dataset's.
  private func resolve(_ reference: String, tenant: TenantRecord) throws -> DatasetRecord {
    do {
      return try coordinator.store.dataset(tenantId: tenant.id, reference: reference, kind: "transactions")
    } catch StoreError.notFound {
      return try coordinator.store.dataset(tenantId: tenant.id, reference: reference, kind: "customers")
    }
  }

  private static func kind(_ kind: String) throws -> String {
    switch kind {
    case "": "transactions"
    case "transactions", "customers": kind
    default: throw RPCError(code: .invalidArgument, message: "kind must be 'transactions' or 'customers' (got '\(kind.prefix(40))')")
    }
  }

  func deleteDataset(request: ServerRequest<Fidelis_V1_DeleteDatasetRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_DeleteDatasetResponse> {
    let tenant = try coordinator.tenant(request.metadata)
    let reference = try Coordinator.checkName(request.message.datasetID, "dataset")
    let store = coordinator.store
    // A version id deletes that version; a name, every version of it.
    let delete: () throws -> Int = {
      if let version = try? store.dataset(tenantId: tenant.id, id: reference) {
        try store.deleteDataset(tenantId: tenant.id, id: version.id)
        return 1
      }
      let named = try resolve(reference, tenant: tenant)
      return try store.deleteDataset(tenantId: tenant.id, kind: named.kind, name: named.name)
    }
    // On a full disk the reserve is given back first: a delete writes to the log before
    // it frees pages, and deleting is how a tenant makes room.
    if coordinator.disk.isFull { coordinator.disk.releaseReserve() }
    let deleted: Int
    do {
      deleted = try delete()
    } catch where FidelisStore.isDiskFull(error) {
      coordinator.disk.noteFull()
      coordinator.disk.releaseReserve()
      deleted = try coordinator.mapStoreErrors { try delete() }
    } catch {
      throw coordinator.rpcError(error)
    }
    coordinator.logger.info("dataset deleted", metadata: ["tenant": "\(tenant.id)", "dataset": "\(reference)", "versions": "\(deleted)"])
    return ServerResponse(message: .with { $0.deletedVersions = Int32(deleted) })
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
