import ArgumentParser
import Networking
import FidelisProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Jobs
import LocalFiles
import Reports

/// `fidelis`: the command-line client.
public struct Fidelis: AsyncParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "fidelis",
    abstract: "Customer-retention analytics: upload purchase history, run analyses, fetch reports.",
    subcommands: [Admin.self, DatasetCommand.self, JobCommand.self, ReportCommand.self, SegmentCommand.self, Analyze.self])

  public init() {}

  /// The command line with the connection options given before the subcommand moved after
  /// it, where the subcommand reads them: `fidelis --server HOST:PORT job list` works as
  /// `fidelis job list --server HOST:PORT` does, as people used to gh, kubectl or docker write it.
  public static func connectionOptionsLast(_ arguments: [String]) -> [String] {
    var leading: [String] = []
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      let name = String(argument.split(separator: "=", maxSplits: 1).first ?? "")
      guard let takesValue = Connection.options[name] else { break }
      leading.append(argument)
      if takesValue && !argument.contains("="), index + 1 < arguments.count {
        leading.append(arguments[index + 1])
        index += 1
      }
      index += 1
    }
    guard !leading.isEmpty, index < arguments.count else { return arguments }
    return Array(arguments[index...]) + leading
  }
}

/// Options every remote command takes.
struct Connection: ParsableArguments {
  /// The long names of these options, and whether each takes a value: they may also come
  /// before the subcommand (`Fidelis.connectionOptionsLast`).
  static let options: [String: Bool] = ["--server": true, "--api-key": true, "--json": false].merging(TLSClientOptions.longNames) { $1 }

  @Option(help: "Coordinator address HOST:PORT (env FIDELIS_SERVER).")
  var server: String = ProcessInfo.processInfo.environment["FIDELIS_SERVER"] ?? "127.0.0.1:7443"

  @Option(name: .customLong("api-key"), help: "Tenant API key, or the admin token for admin commands (env FIDELIS_API_KEY / FIDELIS_ADMIN_TOKEN).")
  var apiKey: String?

  @Flag(help: "Print machine-readable JSON.")
  var json = false

  @OptionGroup var tlsOptions: TLSClientOptions

  func key(admin: Bool = false) throws -> String {
    let env = ProcessInfo.processInfo.environment
    if let apiKey, !apiKey.isEmpty { return apiKey }
    if admin, let token = env["FIDELIS_ADMIN_TOKEN"], !token.isEmpty { return token }
    if let key = env["FIDELIS_API_KEY"], !key.isEmpty { return key }
    throw ValidationError(admin ? "no admin token: pass --api-key or set FIDELIS_ADMIN_TOKEN" : "no API key: pass --api-key or set FIDELIS_API_KEY")
  }

  /// Runs `body` with a connected client; gRPC errors become one clear line.
  func withClient<R: Sendable>(admin: Bool = false, _ body: (GRPCClient<HTTP2ClientTransport.Posix>, Metadata) async throws -> R) async throws -> R {
    let target: any ResolvableTarget
    let host: String
    do {
      (target, host, _) = try resolveTarget(server)
    } catch {
      throw ValidationError("--server: \(error)")
    }
    let security = try tlsOptions.security()
    if !security.isTLS && !isLoopbackHost(host) {
      stderr("warning: connecting to \(server) in plaintext; the API key crosses the network unencrypted (pass --tls-ca)")
    }
    let metadata = bearerMetadata(try key(admin: admin))
    let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: security.transportSecurity())
    do {
      return try await withGRPCClient(transport: transport) { client in try await body(client, metadata) }
    } catch let error as RPCError {
      // The transport's own cause says why a connection failed (a certificate not trusted, say).
      var cause = error.cause
      var reasons: [String] = []
      while let current = cause {
        reasons.append(String(describing: current))
        cause = (current as? RPCError)?.cause ?? (current as? RuntimeError)?.cause
      }
      throw CLIError(message: "\(error.code): \(error.message)" + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: ": ")))"))
    }
  }
}

/// An error printed as one line on stderr, with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}

func printJSON(_ message: some SwiftProtobuf.Message) throws {
  var options = JSONEncodingOptions()
  options.preserveProtoFieldNames = true
  print(try message.jsonString(options: options))
}

func stderr(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}

func writeOutput(_ data: Data, to path: String?) throws {
  if let path {
    try data.write(to: URL(fileURLWithPath: path))
    stderr("wrote \(path) (\(data.count) bytes)")
  } else {
    FileHandle.standardOutput.write(data)
  }
}

import SwiftProtobuf

// MARK: - admin

struct Admin: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Tenants and keys (needs the admin token).", subcommands: [Tenant.self, Key.self])

  struct Tenant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create and list tenants.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "Create a tenant; prints its API key (shown once).")
      @OptionGroup var connection: Connection
      @Argument var name: String
      @Option(help: "Default report language: en or fr.") var language = "en"
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

    struct List: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "List tenants.")
      @OptionGroup var connection: Connection

      func run() async throws {
        let response = try await connection.withClient(admin: true) { client, metadata in
          try await Fidelis_V1_AdminService.Client(wrapping: client).listTenants(.init(), metadata: metadata)
        }
        if connection.json { try printJSON(response) } else {
          for t in response.tenants { print("\(t.id)\t\(t.name)\t\(t.defaultLanguage)") }
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

// MARK: - dataset

struct DatasetCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "dataset", abstract: "Upload, list and delete datasets.", subcommands: [Upload.self, List.self, Delete.self])

  struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Upload a CSV in 1 MiB chunks; prints the dataset id.")
    @OptionGroup var connection: Connection
    @Argument var file: String
    @Option(help: "Name shown in listings (default: the file name).") var name: String?
    @Option(help: "transactions (default) or customers.") var kind = "transactions"

    func run() async throws {
      do { try LocalFile.requireReadable([file]) } catch { throw CLIError(message: error.description) }
      let name = self.name ?? URL(fileURLWithPath: file).lastPathComponent
      let (kind, file) = (self.kind, self.file)
      let dataset = try await connection.withClient { client, metadata in
        try await Fidelis_V1_DatasetService.Client(wrapping: client).uploadDataset(metadata: metadata) { writer in
          try await writer.write(.with { $0.header = .with { $0.name = name; $0.kind = kind } })
          try await LocalFile(path: file).readChunks { chunk in try await writer.write(.with { $0.chunk = chunk }) }
        }
      }
      if connection.json { try printJSON(dataset) } else {
        stderr("uploaded \(dataset.sizeBytes) bytes")
        print(dataset.id)
      }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List datasets.")
    @OptionGroup var connection: Connection

    func run() async throws {
      let response = try await connection.withClient { client, metadata in
        try await Fidelis_V1_DatasetService.Client(wrapping: client).listDatasets(.init(), metadata: metadata)
      }
      if connection.json { try printJSON(response) } else {
        for d in response.datasets { print("\(d.id)\t\(d.kind)\t\(d.sizeBytes)\t\(d.name)") }
      }
    }
  }

  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a dataset.")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      _ = try await connection.withClient { client, metadata in
        try await Fidelis_V1_DatasetService.Client(wrapping: client).deleteDataset(.with { $0.datasetID = id }, metadata: metadata)
      }
      stderr("deleted \(id)")
    }
  }
}

// MARK: - job

/// Options of an analysis, shared by `job submit` and `analyze`.
struct AnalysisFlags: ParsableArguments {
  @Option(help: "Number of clusters, 2…12 (default: chosen by silhouette).") var k: Int32?
  @Option(name: .customLong("as-of"), help: "Reference date YYYY-MM-DD (default: the day after the last order).") var asOf: String?
  @Option(help: "Report language: en or fr.") var lang: String?
  @Option(help: "Currency code for amounts (default EUR).") var currency: String?
  @Option(name: .customLong("column"), help: "Map a column: role=header (roles: customer, order, date, amount, quantity, price, category, promo).") var columns: [String] = []
  @Option(name: .customLong("date-order"), help: "dmy, mdy or ymd when dates are ambiguous.") var dateOrder: String?
  @Option(help: "Random seed of K-Means.") var seed: UInt64?
  @Option(name: .customLong("at-risk-days"), help: "Days without an order before a customer is at risk (default 90).") var atRiskDays: Int32?
  @Option(name: .customLong("lost-days"), help: "Days without an order before a customer is lost (default 180).") var lostDays: Int32?

  func options() throws -> Fidelis_V1_JobOptions {
    var o = Fidelis_V1_JobOptions()
    if let k { o.clusters = k }
    if let asOf { o.asOf = asOf }
    if let lang { o.language = lang }
    if let currency { o.currency = currency }
    if let dateOrder { o.dateOrder = dateOrder }
    if let seed { o.seed = seed }
    if let atRiskDays { o.atRiskDays = atRiskDays }
    if let lostDays { o.lostDays = lostDays }
    for mapping in columns {
      let parts = mapping.split(separator: "=", maxSplits: 1)
      guard parts.count == 2 else { throw ValidationError("--column takes role=header (got '\(mapping)')") }
      o.columns[String(parts[0])] = String(parts[1])
    }
    return o
  }
}


func describe(_ job: Fidelis_V1_Job) -> String {
  var lines = ["\(job.id)  \(job.state.name)  kind=\(job.kind)  attempt \(job.attempt)/\(job.maxAttempts)  \(job.stage) \(String(format: "%.0f", job.progressPercent))%"]
  if !job.error.isEmpty { lines.append("  error: \(job.error)") }
  for a in job.attempts {
    let start = Date(timeIntervalSince1970: Double(a.startedAtUnixMs) / 1000)
    let end = a.endedAtUnixMs > 0 ? ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(a.endedAtUnixMs) / 1000)) : "-"
    let certificate = a.workerCertificate.isEmpty ? "" : " [\(a.workerCertificate)]"
    lines.append("  attempt \(a.number): worker \(a.worker)\(certificate) on \(a.host), \(ISO8601DateFormatter().string(from: start)) → \(end): \(a.outcome)\(a.error.isEmpty ? "" : " (\(a.error))")")
  }
  if !job.reportFormats.isEmpty { lines.append("  reports: \(job.reportFormats.joined(separator: ", "))") }
  return lines.joined(separator: "\n")
}

/// Follows a job until it ends; a progress bar on a terminal, plain lines otherwise.
func waitForJob(_ id: String, connection: Connection) async throws -> Fidelis_V1_Job {
  let terminal = isatty(STDERR_FILENO) == 1
  let final = try await connection.withClient { client, metadata in
    try await Fidelis_V1_JobService.Client(wrapping: client).watchJob(.with { $0.jobID = id }, metadata: metadata) { response in
      var last = Fidelis_V1_Job()
      var lastLine = ""
      for try await job in response.messages {
        last = job
        let line = "\(job.state.name) \(job.stage) \(String(format: "%.0f", job.progressPercent))%"
        if terminal {
          let filled = Int(job.progressPercent / 5)
          FileHandle.standardError.write(Data("\r[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: 20 - filled))] \(line)\u{1B}[K".utf8))
        } else if line != lastLine {
          stderr("\(id): \(line)")
        }
        lastLine = line
      }
      if terminal { stderr("") }
      return last
    }
  }
  return final
}

struct JobCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "job", abstract: "Submit, follow, list and cancel jobs.", subcommands: [Submit.self, Status.self, Wait.self, List.self, Cancel.self])

  struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Submit a job on a dataset; prints the job id.")
    @OptionGroup var connection: Connection
    @Argument var dataset: String
    @Option(help: "analysis (default) or profile.") var kind = "analysis"
    @Option(help: "Per-customer dataset (kind customers).") var customers: String?
    @Option(name: .customLong("idempotency-key"), help: "A retried submit with the same key returns the same job.") var idempotencyKey: String?
    @Flag(help: "Wait for the job to end.") var wait = false
    @OptionGroup var flags: AnalysisFlags

    func run() async throws {
      var options = try flags.options()
      if let customers { options.customersDatasetID = customers }
      let request = Fidelis_V1_SubmitJobRequest.with {
        $0.datasetID = dataset
        $0.kind = kind
        $0.options = options
        $0.idempotencyKey = idempotencyKey ?? UUID().uuidString
      }
      let job = try await connection.withClient { client, metadata in
        try await Fidelis_V1_JobService.Client(wrapping: client).submitJob(request, metadata: metadata)
      }
      print(job.id)
      fflush(nil)
      if wait {
        let final = try await waitForJob(job.id, connection: connection)
        if final.state != .succeeded { throw CLIError(message: "job \(job.id) \(final.state.name): \(final.error)") }
      }
    }
  }

  struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a job with its attempts.")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      let job = try await connection.withClient { client, metadata in
        try await Fidelis_V1_JobService.Client(wrapping: client).getJob(.with { $0.jobID = id }, metadata: metadata)
      }
      if connection.json { try printJSON(job) } else { print(describe(job)) }
    }
  }

  struct Wait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow a job until it ends; exit status 0 only if it succeeded.")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      let job = try await waitForJob(id, connection: connection)
      if connection.json { try printJSON(job) } else { print(describe(job)) }
      if job.state != .succeeded { throw CLIError(message: "job \(id) \(job.state.name): \(job.error)") }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
    @OptionGroup var connection: Connection
    @Option(help: "queued, running, succeeded, failed or cancelled.") var state: String?
    @Option(help: "At most this many (default 100).") var limit: Int32 = 100

    func run() async throws {
      var request = Fidelis_V1_ListJobsRequest.with { $0.limit = limit }
      if let state {
        guard let value = Fidelis_V1_JobState(name: state) else {
          throw ValidationError("--state must be one of \(Fidelis_V1_JobState.named.map(\.name).joined(separator: ", "))")
        }
        request.state = value
      }
      let response = try await connection.withClient { client, metadata in
        try await Fidelis_V1_JobService.Client(wrapping: client).listJobs(request, metadata: metadata)
      }
      if connection.json { try printJSON(response) } else {
        for j in response.jobs { print("\(j.id)\t\(j.state.name)\t\(j.kind)\t\(j.datasetID)") }
      }
    }
  }

  struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a job (a running job stops at its next heartbeat).")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      let job = try await connection.withClient { client, metadata in
        try await Fidelis_V1_JobService.Client(wrapping: client).cancelJob(.with { $0.jobID = id }, metadata: metadata)
      }
      if connection.json { try printJSON(job) } else { print(describe(job)) }
    }
  }
}

// MARK: - report and segment

/// The bytes of a streamed report or export, in order.
@Sendable func collectChunks(_ response: StreamingClientResponse<Fidelis_V1_ReportChunk>) async throws -> Data {
  var data = Data()
  for try await chunk in response.messages { data.append(chunk.data) }
  return data
}

struct ReportCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "report", abstract: "Fetch and list reports.", subcommands: [Get.self, List.self])

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a job's report: md, html, json, or csv (one row per customer).")
    @OptionGroup var connection: Connection
    @Argument var job: String
    @Option(help: "md, html, json or csv.") var format = "md"
    @Option(name: .shortAndLong, help: "Output file (default: stdout).") var output: String?

    func run() async throws {
      let (job, format) = (self.job, self.format)
      let data = try await connection.withClient { client, metadata in
        try await Fidelis_V1_ReportService.Client(wrapping: client).getReport(.with { $0.jobID = job; $0.format = format }, metadata: metadata, onResponse: collectChunks)
      }
      try writeOutput(data, to: output)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List reports, newest first.")
    @OptionGroup var connection: Connection
    @Option(help: "At most this many (default: all, fetched a page at a time).") var limit: Int?

    func run() async throws {
      if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
      let reports = try await connection.withClient { client, metadata in
        let api = Fidelis_V1_ReportService.Client(wrapping: client)
        var reports: [Fidelis_V1_ReportSummary] = []
        var token = ""
        repeat {
          let wanted = limit.map { min(1000, $0 - reports.count) } ?? 1000
          let page = try await api.listReports(.with { $0.pageSize = Int32(wanted); $0.pageToken = token }, metadata: metadata)
          reports += page.reports
          token = page.nextPageToken
        } while !token.isEmpty && reports.count < (limit ?? .max)
        return reports
      }
      if connection.json { try printJSON(Fidelis_V1_ListReportsResponse.with { $0.reports = reports }) } else {
        for r in reports { print("\(r.jobID)\t\(r.kind)\t\(r.formats.joined(separator: ","))\t\(r.sizeBytes)") }
      }
    }
  }
}

struct SegmentCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "segment", abstract: "Export the customers of a segment for a campaign.", subcommands: [Export.self])

  struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "CSV of one RFM segment (\"At Risk\"), lifecycle group (lost) or cluster (cluster:0).")
    @OptionGroup var connection: Connection
    @Argument var job: String
    @Option(help: "Segment, group or cluster name.") var segment: String
    @Option(name: .shortAndLong, help: "Output file (default: stdout).") var output: String?

    func run() async throws {
      let (job, segment) = (self.job, self.segment)
      let data = try await connection.withClient { client, metadata in
        try await Fidelis_V1_ReportService.Client(wrapping: client).exportSegment(.with { $0.jobID = job; $0.segment = segment }, metadata: metadata, onResponse: collectChunks)
      }
      try writeOutput(data, to: output)
    }
  }
}

// MARK: - analyze (local, no server)

struct Analyze: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Analyse a CSV locally, without a server, and write the report.")
  @Argument var file: String
  @Option(help: "Per-customer CSV: customer_id, service_contacts, satisfaction, signup_date.") var customers: String?
  @Option(help: "md, html, json or csv.") var format = "md"
  @Option(name: .shortAndLong, help: "Output file (default: stdout).") var output: String?
  @OptionGroup var flags: AnalysisFlags

  func run() async throws {
    guard let format = ArtifactFormat(rawValue: format) else {
      throw ValidationError("--format must be \(ArtifactFormat.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    let spec: JobSpec
    do {
      spec = try JobSpec(kind: JobKind.analysis.rawValue, options: try flags.options(), defaultLanguage: ReportLanguage.en.rawValue)
    } catch let error as InvalidJobOption {
      throw CLIError(message: error.message)
    }
    do { try LocalFile.requireReadable([file] + (customers.map { [$0] } ?? [])) } catch { throw CLIError(message: error.description) }
    let artifacts: [Artifact]
    do {
      artifacts = try await JobRunner.run(spec, inputs: JobInputs(transactions: FileSource(path: file), customers: customers.map(FileSource.init)), progress: { _, _ in })
    } catch let error as PermanentJobError {
      throw CLIError(message: error.description)
    }
    guard let artifact = artifacts.first(where: { $0.format == format }) else { throw CLIError(message: "no \(format.rawValue) output") }
    try writeOutput(artifact.data, to: output)
  }
}


