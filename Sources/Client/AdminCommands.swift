import ArgumentParser
import FidelisProto
import Foundation

struct Admin: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Tenants, keys and every tenant's jobs (needs the admin token).", subcommands: [Tenant.self, Key.self, Jobs.self, Job.self, Workers.self])

  struct Workers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The workers: host, certificate, slots, running jobs, last heard from.")
    @OptionGroup var connection: Connection

    func run() async throws {
      let response = try await connection.withClient(admin: true) { client, metadata in
        try await Fidelis_V1_AdminService.Client(wrapping: client).listWorkers(.init(), metadata: metadata)
      }
      if connection.json { try printJSON(response) } else {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for w in response.workers {
          let ago = String(format: "%.0f", Double(max(0, now - w.lastSeenUnixMs)) / 1000)
          print("\(w.name)\t\(w.host)\t\(w.certificate.isEmpty ? "-" : w.certificate)\tslots \(w.slots)\trunning \(w.runningJobs)\tseen \(ago) s ago\t\(w.connected ? "connected" : "gone")")
        }
      }
    }
  }

  struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the jobs of every tenant (or one), newest first.")
    @OptionGroup var connection: Connection
    @Option(help: "queued, running, succeeded, failed or cancelled.") var state: String?
    @Option(help: "Only this tenant's jobs (its id).") var tenant: String?
    @Option(help: "At most this many (default 100, at most 1000).") var limit: Int32 = 100

    func run() async throws {
      var request = Fidelis_V1_AdminListJobsRequest.with {
        $0.limit = limit
        $0.tenantID = tenant ?? ""
      }
      if let state {
        guard let value = Fidelis_V1_JobState(name: state) else {
          throw ValidationError("--state must be one of \(Fidelis_V1_JobState.named.map(\.name).joined(separator: ", "))")
        }
        request.state = value
      }
      let response = try await connection.withClient(admin: true) { client, metadata in
        try await Fidelis_V1_AdminService.Client(wrapping: client).listAllJobs(request, metadata: metadata)
      }
      if connection.json { try printJSON(response) } else {
        for j in response.jobs {
          print("\(j.id)\t\(j.tenantID)\t\(j.state.name)\t\(j.kind)\tattempt \(j.attempt)/\(j.maxAttempts)\t\(j.stage)\t\(j.error)")
        }
      }
    }
  }

  struct Job: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Retry or cancel any tenant's job.", subcommands: [Retry.self, Cancel.self])

    struct Retry: AsyncParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "Queue a failed or cancelled job again, with as many attempts as it first had.")
      @OptionGroup var connection: Connection
      @Argument var id: String

      func run() async throws {
        let id = self.id
        let job = try await connection.withClient(admin: true) { client, metadata in
          try await Fidelis_V1_AdminService.Client(wrapping: client).retryJob(.with { $0.jobID = id }, metadata: metadata)
        }
        if connection.json { try printJSON(job) } else { print(describe(job)) }
      }
    }

    struct Cancel: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "Cancel a queued job, or ask the worker of a running one to stop.")
      @OptionGroup var connection: Connection
      @Argument var id: String

      func run() async throws {
        let id = self.id
        let job = try await connection.withClient(admin: true) { client, metadata in
          try await Fidelis_V1_AdminService.Client(wrapping: client).cancelJob(.with { $0.jobID = id }, metadata: metadata)
        }
        if connection.json { try printJSON(job) } else { print(describe(job)) }
      }
    }
  }

  struct Tenant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create, list and update tenants; their limits and usage.", subcommands: [Create.self, List.self, Update.self, Limits.self, Usage.self])

    struct Limits: AsyncParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "Change a tenant's limits; the ones not given stay as they are (0: the coordinator's default).")
      @OptionGroup var connection: Connection
      @Argument var id: String
      @Option(help: "Maximum queued jobs.") var maxQueued: Int32?
      @Option(help: "Maximum running jobs.") var maxRunning: Int32?
      @Option(help: "Maximum dataset size, in MiB.") var maxDatasetMb: Int64?
      @Option(help: "Storage quota (datasets and reports), in MiB.") var maxStorageMb: Int64?
      @Option(help: "Versions kept per dataset name, the newest (0: all).") var keepVersions: Int32?
      @Option(help: "Reports kept per dataset name, the newest (0: all).") var keepReports: Int32?

      func run() async throws {
        for value in [maxQueued.map(Int64.init), maxRunning.map(Int64.init), maxDatasetMb, maxStorageMb, keepVersions.map(Int64.init), keepReports.map(Int64.init)] {
          if let value, value < 0 || value > 1 << 40 { throw ValidationError("limits must be between 0 and 2^40 (got \(value))") }
        }
        let (id, queued, running, dataset, storage) = (self.id, maxQueued, maxRunning, maxDatasetMb, maxStorageMb)
        let (versions, reports) = (keepVersions, keepReports)
        let tenant = try await connection.withClient(admin: true) { client, metadata in
          let api = Fidelis_V1_AdminService.Client(wrapping: client)
          guard let current = try await api.listTenants(.init(), metadata: metadata).tenants.first(where: { $0.id == id }) else {
            throw CLIError(message: "no tenant \(id)")
          }
          var limits = current.limits
          if let queued { limits.maxQueuedJobs = queued }
          if let running { limits.maxRunningJobs = running }
          if let dataset { limits.maxDatasetBytes = dataset << 20 }
          if let storage { limits.maxStorageBytes = storage << 20 }
          if let versions { limits.keepVersions = versions }
          if let reports { limits.keepReports = reports }
          return try await api.setTenantLimits(.with { $0.tenantID = id; $0.limits = limits }, metadata: metadata)
        }
        if connection.json { try printJSON(tenant) } else {
          let l = tenant.limits
          print("\(tenant.id)\tqueued \(l.maxQueuedJobs)\trunning \(l.maxRunningJobs)\tdataset \(l.maxDatasetBytes >> 20) MiB\tstorage \(l.maxStorageBytes >> 20) MiB\tkeep \(l.keepVersions) versions, \(l.keepReports) reports")
        }
      }
    }

    struct Usage: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "What every tenant (or one) uses: storage, datasets, jobs, worker seconds.")
      @OptionGroup var connection: Connection
      @Argument(help: "A tenant id (default: every tenant).") var id: String?

      func run() async throws {
        let id = self.id ?? ""
        let response = try await connection.withClient(admin: true) { client, metadata in
          try await Fidelis_V1_AdminService.Client(wrapping: client).getTenantUsage(.with { $0.tenantID = id }, metadata: metadata)
        }
        if connection.json { try printJSON(response) } else {
          for u in response.usage {
            let jobs = ["queued", "running", "succeeded", "failed", "cancelled"].map { "\($0) \(u.jobs[$0] ?? 0)" }.joined(separator: " ")
            print("\(u.tenantID)\t\(u.name)\tstorage \(u.storageBytes)/\(u.storageQuotaBytes) bytes\tdatasets \(u.datasets)\t\(jobs)\tworker \(String(format: "%.1f", u.workerSeconds)) s\tcpu \(String(format: "%.1f", u.cpuSeconds)) s")
          }
        }
      }
    }

    struct Create: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "Create a tenant; prints its API key (shown once).")
      @OptionGroup var connection: Connection
      @Argument var name: String
      @Option(help: "Default report language: en or fr.") var language = "en"
      @Option(help: "Default currency of the amounts, ISO 4217 (EUR, USD, GBP…).") var currency = "EUR"
      @Option(help: "Maximum queued jobs (0: server default).") var maxQueued: Int32 = 0
      @Option(help: "Maximum running jobs (0: server default).") var maxRunning: Int32 = 0
      @Option(help: "Maximum dataset size in bytes (0: server default).") var maxDatasetBytes: Int64 = 0
      @Option(help: "Storage quota (datasets and reports) in bytes (0: server default).") var maxStorageBytes: Int64 = 0

      func run() async throws {
        let response = try await connection.withClient(admin: true) { client, metadata in
          try await Fidelis_V1_AdminService.Client(wrapping: client).createTenant(
            .with {
              $0.name = name
              $0.defaultLanguage = language
              $0.defaultCurrency = currency
              $0.limits = .with {
                $0.maxQueuedJobs = maxQueued
                $0.maxRunningJobs = maxRunning
                $0.maxDatasetBytes = maxDatasetBytes
                $0.maxStorageBytes = maxStorageBytes
              }
            }, metadata: metadata)
        }
        if connection.json { try printJSON(response) } else {
          stderr("tenant \(response.tenant.id) created; keep this API key, it is shown once:")
          print(response.apiKey)
        }
      }
    }

    struct Update: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "Change a tenant's default language or currency; queued jobs keep theirs.")
      @OptionGroup var connection: Connection
      @Argument var id: String
      @Option(help: "Default report language: en or fr.") var language: String?
      @Option(help: "Default currency of the amounts, ISO 4217.") var currency: String?

      func run() async throws {
        guard language != nil || currency != nil else { throw ValidationError("give --language, --currency or both") }
        let (id, language, currency) = (self.id, self.language ?? "", self.currency ?? "")
        let tenant = try await connection.withClient(admin: true) { client, metadata in
          try await Fidelis_V1_AdminService.Client(wrapping: client).updateTenant(
            .with {
              $0.tenantID = id
              $0.defaultLanguage = language
              $0.defaultCurrency = currency
            }, metadata: metadata)
        }
        if connection.json { try printJSON(tenant) } else { print("\(tenant.id)\t\(tenant.name)\t\(tenant.defaultLanguage)\t\(tenant.defaultCurrency)") }
      }
    }

    struct List: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "List tenants.")
      @OptionGroup var connection: Connection

      func run() async throws {
        let response = try await connection.withClient(admin: true) { client, metadata in
          try await Fidelis_V1_AdminService.Client(wrapping: client).listTenants(.init(), metadata: metadata)
        }
        if connection.json { try printJSON(response) } else {
          for t in response.tenants { print("\(t.id)\t\(t.name)\t\(t.defaultLanguage)\t\(t.defaultCurrency)") }
        }
      }
    }
  }

  struct Key: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "API keys.", subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "Replace a tenant's keys with a new one; prints it.")
      @OptionGroup var connection: Connection
      @Argument var tenant: String

      func run() async throws {
        let response = try await connection.withClient(admin: true) { client, metadata in
          try await Fidelis_V1_AdminService.Client(wrapping: client).rotateKey(.with { $0.tenantID = tenant }, metadata: metadata)
        }
        print(response.apiKey)
      }
    }
  }
}
