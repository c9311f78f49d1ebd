import FidelisProto
import GRPCCore
import Jobs
import Logging
import Reports
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
    let language: String, currency: String
    do {
      language = try ReportLanguage(checking: m.defaultLanguage.isEmpty ? "en" : m.defaultLanguage).rawValue
      currency = try checkedCurrency(m.defaultCurrency.isEmpty ? "EUR" : m.defaultCurrency)
    } catch {
      throw RPCError(code: .invalidArgument, message: error.message)
    }
    let (tenant, key) = try coordinator.mapStoreErrors {
      try coordinator.store.createTenant(
        name: name, maxQueuedJobs: Int(m.limits.maxQueuedJobs), maxRunningJobs: Int(m.limits.maxRunningJobs), maxDatasetBytes: m.limits.maxDatasetBytes,
        maxStorageBytes: m.limits.maxStorageBytes, language: language, currency: currency)
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

  func updateTenant(request: ServerRequest<Fidelis_V1_UpdateTenantRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Tenant> {
    try coordinator.requireAdmin(request.metadata)
    try coordinator.requireDiskRoom()
    let m = request.message
    try Coordinator.checkID(m.tenantID, "tenant")
    let language: String?, currency: String?
    do {
      language = m.defaultLanguage.isEmpty ? nil : try ReportLanguage(checking: m.defaultLanguage).rawValue
      currency = m.defaultCurrency.isEmpty ? nil : try checkedCurrency(m.defaultCurrency)
    } catch {
      throw RPCError(code: .invalidArgument, message: error.message)
    }
    let tenant = try coordinator.mapStoreErrors { try coordinator.store.updateTenant(id: m.tenantID, language: language, currency: currency) }
    coordinator.logger.info("tenant updated", metadata: ["tenant": "\(tenant.id)", "language": "\(tenant.defaultLanguage)", "currency": "\(tenant.defaultCurrency)"])
    return ServerResponse(message: coordinator.message(tenant))
  }

  func listAllJobs(request: ServerRequest<Fidelis_V1_AdminListJobsRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListJobsResponse> {
    try coordinator.requireAdmin(request.metadata)
    let m = request.message
    let limit = try Coordinator.pageSize(m.limit, "limit")
    if !m.tenantID.isEmpty {
      try Coordinator.checkID(m.tenantID, "tenant")
      guard try coordinator.mapStoreErrors({ try coordinator.store.tenant(id: m.tenantID) }) != nil else {
        throw RPCError(code: .notFound, message: "no tenant '\(m.tenantID)'")
      }
    }
    let state = try JobService.state(m.state)
    let jobs = try coordinator.mapStoreErrors {
      try coordinator.store.allJobs(tenantId: m.tenantID.isEmpty ? nil : m.tenantID, state: state, limit: limit)
    }
    let messages = try jobs.map { try coordinator.message($0, details: false) }
    return ServerResponse(message: .with { $0.jobs = messages })
  }

  func retryJob(request: ServerRequest<Fidelis_V1_AdminJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Job> {
    try coordinator.requireAdmin(request.metadata)
    try coordinator.requireDiskRoom()
    let id = request.message.jobID
    try Coordinator.checkID(id, "job")
    let job = try coordinator.mapStoreErrors { try coordinator.store.retryJob(id: id) }
    coordinator.metrics.changed(job)
    // Waiting leases look in the store again.
    coordinator.noteJobsQueued()
    coordinator.jobChanges.touch(job.id)
    coordinator.logger.info("job retried by the operator", metadata: ["tenant": "\(job.tenantId)", "job": "\(job.id)", "max_attempts": "\(job.maxAttempts)"])
    return ServerResponse(message: try coordinator.message(job, details: true))
  }

  func cancelJob(request: ServerRequest<Fidelis_V1_AdminJobRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Job> {
    try coordinator.requireAdmin(request.metadata)
    let id = request.message.jobID
    try Coordinator.checkID(id, "job")
    let owner = try coordinator.mapStoreErrors { try coordinator.store.anyJob(id: id) }.tenantId
    let job = try coordinator.mapStoreErrors { try coordinator.store.cancelJob(tenantId: owner, id: id) }
    coordinator.jobChanges.touch(job.id, final: job.state.isFinal)
    if job.state == .cancelled { coordinator.metrics.changed(job) }
    coordinator.logger.info("job cancel requested by the operator", metadata: ["tenant": "\(job.tenantId)", "job": "\(job.id)", "state": "\(job.state.rawValue)"])
    return ServerResponse(message: try coordinator.message(job, details: true))
  }

  func setTenantLimits(request: ServerRequest<Fidelis_V1_SetTenantLimitsRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_Tenant> {
    try coordinator.requireAdmin(request.metadata)
    try coordinator.requireDiskRoom()
    let m = request.message
    try Coordinator.checkID(m.tenantID, "tenant")
    let l = m.limits
    let tenant = try coordinator.mapStoreErrors {
      try coordinator.store.setLimits(
        tenantId: m.tenantID, maxQueuedJobs: Int(l.maxQueuedJobs), maxRunningJobs: Int(l.maxRunningJobs), maxDatasetBytes: l.maxDatasetBytes,
        maxStorageBytes: l.maxStorageBytes, keepVersions: Int(l.keepVersions), keepReports: Int(l.keepReports))
    }
    coordinator.logger.info(
      "tenant limits set",
      metadata: [
        "tenant": "\(tenant.id)", "max_queued": "\(l.maxQueuedJobs)", "max_running": "\(l.maxRunningJobs)", "max_dataset_bytes": "\(l.maxDatasetBytes)",
        "max_storage_bytes": "\(l.maxStorageBytes)", "keep_versions": "\(l.keepVersions)", "keep_reports": "\(l.keepReports)",
      ])
    return ServerResponse(message: coordinator.message(tenant))
  }

  func getTenantUsage(request: ServerRequest<Fidelis_V1_GetTenantUsageRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_GetTenantUsageResponse> {
    try coordinator.requireAdmin(request.metadata)
    let id = request.message.tenantID
    let store = coordinator.store
    var tenants = try coordinator.mapStoreErrors { try store.listTenants() }
    if !id.isEmpty {
      try Coordinator.checkID(id, "tenant")
      tenants = tenants.filter { $0.id == id }
      guard !tenants.isEmpty else { throw RPCError(code: .notFound, message: "no tenant '\(id)'") }
    }
    let usage = try tenants.map { tenant in
      let use = try coordinator.mapStoreErrors { try store.usage(tenant) }
      return Fidelis_V1_TenantUsage.with {
        $0.tenantID = tenant.id
        $0.name = tenant.name
        $0.storageBytes = use.storageBytes
        $0.storageQuotaBytes = use.storageQuotaBytes
        $0.datasets = Int32(use.datasets)
        $0.jobs = use.jobsByState
        $0.workerSeconds = use.workerSeconds
        $0.cpuSeconds = use.cpuSeconds
      }
    }
    return ServerResponse(message: .with { $0.usage = usage })
  }
  func listWorkers(request: ServerRequest<Fidelis_V1_ListWorkersRequest>, context: ServerContext) async throws -> ServerResponse<Fidelis_V1_ListWorkersResponse> {
    try coordinator.requireAdmin(request.metadata)
    let leaseMillis = coordinator.configuration.leaseMillis
    // An idle worker calls at least once per long poll (30 s at most), a busy one heartbeats
    // within its lease: silent for longer than both, twice over, it is gone.
    let within = max(2 * leaseMillis, 75_000)
    let now = FidelisStore.now()
    var workers = coordinator.workers.snapshot.mapValues { (presence: $0, running: 0) }
    for attempt in try coordinator.mapStoreErrors({ try coordinator.store.runningAttempts() }) {
      let name = WorkerRegistry.name(attempt.worker)
      var entry = workers[name] ?? (WorkerRegistry.Presence(host: attempt.host, certificate: attempt.certificate, slots: 0, lastSeen: 0), 0)
      entry.running += 1
      // The lease's expiry is its last heartbeat plus the lease's length.
      entry.presence.lastSeen = max(entry.presence.lastSeen, attempt.leaseExpiresAt - leaseMillis)
      workers[name] = entry
    }
    let infos = workers.keys.sorted().map { name in
      let (presence, running) = workers[name]!
      return Fidelis_V1_WorkerInfo.with {
        $0.name = name
        $0.host = presence.host
        $0.certificate = presence.certificate
        $0.slots = Int32(presence.slots)
        $0.runningJobs = Int32(running)
        $0.lastSeenUnixMs = presence.lastSeen
        $0.connected = now - presence.lastSeen <= within
        $0.connectedWithinMs = within
      }
    }
    return ServerResponse(message: .with { $0.workers = infos })
  }
}
