import ArgumentParser
import FidelisProto
import Foundation
import GRPCCore
import Jobs

/// Options of an analysis, shared by `job submit` and `analyze`.
struct AnalysisFlags: ParsableArguments {
  @Option(help: "Number of clusters, 2…12 (default: chosen by silhouette).") var k: Int32?
  @Option(name: .customLong("as-of"), help: "Reference date YYYY-MM-DD (default: the day after the last order).") var asOf: String?
  @Option(help: "Report language: en or fr.") var lang: String?
  @Option(help: "Currency code for amounts (default: the tenant's, else EUR).") var currency: String?
  @Option(name: .customLong("column"), help: "Map a column: role=header (roles: \(JobSpec.columnRoles); docs/datasets.md lists the names read without it).") var columns: [String] = []
  @Option(name: .customLong("date-order"), help: "dmy, mdy or ymd when dates are ambiguous.") var dateOrder: String?
  @Option(help: "Random seed of K-Means.") var seed: UInt64?
  @Option(name: .customLong("at-risk-days"), help: "Days without an order before a customer is at risk (default 90).") var atRiskDays: Int32?
  @Option(name: .customLong("lost-days"), help: "Days without an order before a customer is lost (default 180).") var lostDays: Int32?
  @Option(name: .customLong("clv-model"), help: "Purchase model: bgnbd, mbgnbd or paretonbd (default: the one with the smaller holdout error).") var clvModel: String?
  @Option(name: .customLong("holdout-days"), help: "Days held back to check the purchase model (default: the last quarter of the data, at least 60).") var holdoutDays: Int32?

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
    if let holdoutDays { o.holdoutDays = holdoutDays }
    if let clvModel { o.clvModel = clvModel }
    for mapping in columns {
      let parts = mapping.split(separator: "=", maxSplits: 1)
      guard parts.count == 2 else { throw ValidationError("--column takes role=header (got '\(mapping)')") }
      o.columns[String(parts[0])] = String(parts[1])
    }
    return o
  }
}


extension Connection {
  /// Prints a job: its JSON with --json, else `describe`'s lines.
  func show(_ job: Fidelis_V1_Job) throws {
    if json { try printJSON(job) } else { print(describe(job)) }
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
          try? FileHandle.standardError.write(contentsOf: Data("\r[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: 20 - filled))] \(line)\u{1B}[K".utf8))
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
    static let configuration = CommandConfiguration(abstract: "Submit a job on a dataset (its name, or a version id); prints the job id.")
    @OptionGroup var connection: Connection
    @Argument var dataset: String
    @Option(help: "analysis (default) or profile.") var kind = "analysis"
    @Option(help: "Per-customer dataset (kind customers): its name or a version id.") var customers: String?
    @Option(
      name: .customLong("compare-to"),
      help: "The succeeded analysis to compare with (default: the latest succeeded analysis of the dataset's series).") var compareTo: String?
    @Option(name: .customLong("idempotency-key"), help: "A retried submit with the same key returns the same job.") var idempotencyKey: String?
    @Flag(help: "Wait for the job to end.") var wait = false
    @OptionGroup var flags: AnalysisFlags

    func run() async throws {
      var options = try flags.options()
      if let customers { options.customersDatasetID = customers }
      if let compareTo { options.compareTo = compareTo }
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
      try connection.show(job)
    }
  }

  struct Wait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow a job until it ends; exit status 0 only if it succeeded.")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      let job = try await waitForJob(id, connection: connection)
      try connection.show(job)
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
      try connection.show(job)
    }
  }
}
