import ArgumentParser
import FidelisProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

struct ReportCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "report", abstract: "Fetch, list and wait for reports.", subcommands: [Get.self, Latest.self, List.self, Watch.self])

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a job's report: md, html, json, or csv (one row per customer).")
    @OptionGroup var connection: Connection
    @Argument var job: String
    @Option(help: "md, html, json or csv.") var format = "md"
    @Option(name: .shortAndLong, help: "Output file (default: stdout).") var output: String?

    func run() async throws {
      let (job, format) = (self.job, self.format)
      try await connection.download(to: output) { reports, metadata, write in
        try await reports.getReport(.with { $0.jobID = job; $0.format = format }, metadata: metadata, onResponse: write)
      }
    }
  }

  struct Latest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the newest succeeded analysis report of a dataset.")
    @OptionGroup var connection: Connection
    @Argument(help: "The dataset: its name (every version), or a version id.") var dataset: String
    @Option(help: "md, html, json or csv.") var format = "md"
    @Option(name: .shortAndLong, help: "Output file (default: stdout).") var output: String?

    func run() async throws {
      let dataset = self.dataset
      let newest = try await connection.withClient { client, metadata in
        try await Fidelis_V1_ReportService.Client(wrapping: client).listReports(
          .with {
            $0.datasetID = dataset
            $0.kind = "analysis"
            $0.pageSize = 1
          }, metadata: metadata
        ).reports.first
      }
      guard let job = newest?.jobID else { throw CLIError(message: "dataset \(dataset) has no succeeded analysis yet") }
      if output != nil { stderr("job \(job)") }
      let format = self.format
      try await connection.download(to: output) { reports, metadata, write in
        try await reports.getReport(.with { $0.jobID = job; $0.format = format }, metadata: metadata, onResponse: write)
      }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List reports, newest first.")
    @OptionGroup var connection: Connection
    @Option(help: "At most this many (default: all, fetched a page at a time).") var limit: Int?
    @Option(help: "Only the reports of this dataset: its name (every version), or a version id.") var dataset: String?
    @Option(help: "Only analysis or profile reports.") var kind: String?

    func run() async throws {
      if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
      let (dataset, kind) = (self.dataset ?? "", self.kind ?? "")
      let reports = try await connection.withClient { client, metadata in
        let api = Fidelis_V1_ReportService.Client(wrapping: client)
        return try await fetchPages(limit: limit) { size, token in
          let page = try await api.listReports(
            .with {
              $0.pageSize = size
              $0.pageToken = token
              $0.datasetID = dataset
              $0.kind = kind
            }, metadata: metadata)
          return (page.reports, page.nextPageToken)
        }
      }
      if connection.json { try printJSON(Fidelis_V1_ListReportsResponse.with { $0.reports = reports }) } else {
        for r in reports { printSummary(r) }
      }
    }
  }

  struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Wait for the reports of a dataset: prints each one as its job succeeds, without polling.")
    @OptionGroup var connection: Connection
    @Argument(help: "The dataset: its name (every version), or a version id.") var dataset: String
    @Option(help: "Only analysis or profile reports.") var kind: String?
    @Option(help: "Also the reports that succeeded after this job (a report already seen).") var after: String?
    @Option(help: "Stop after this many reports (default: wait until interrupted).") var count: Int?

    func run() async throws {
      if let count, count < 1 { throw ValidationError("--count must be at least 1") }
      let request = Fidelis_V1_WatchReportsRequest.with {
        $0.datasetID = dataset
        $0.kind = kind ?? ""
        $0.afterJobID = after ?? ""
      }
      let (json, count) = (connection.json, self.count)
      try await connection.withClient { client, metadata in
        try await Fidelis_V1_ReportService.Client(wrapping: client).watchReports(request, metadata: metadata) { response in
          var received = 0
          for try await summary in response.messages {
            if json { try printJSON(summary) } else { printSummary(summary) }
            // A script reads the lines as they come, not when the watch ends.
            fflush(nil)
            received += 1
            if let count, received >= count { break }
          }
        }
      }
    }
  }
}

/// One report per line: job, kind, dataset, formats, size.
func printSummary(_ r: Fidelis_V1_ReportSummary) {
  print("\(r.jobID)\t\(r.kind)\t\(r.datasetID)\t\(r.formats.joined(separator: ","))\t\(r.sizeBytes)")
}

struct SegmentCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "segment", abstract: "Export the customers of a segment for a campaign.", subcommands: [Export.self])

  struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "CSV of one RFM segment (\"At Risk\"), lifecycle group (lost) or cluster (cluster:0), or of the customers who moved between two.",
      discussion: "--moved-from champions --moved-to at_risk: the customers in the first group in the report the job was compared with, and in the second now.")
    @OptionGroup var connection: Connection
    @Argument var job: String
    @Option(help: "Segment, group or cluster name.") var segment: String?
    @Option(name: .customLong("moved-from"), help: "The segment or group in the previous report (with --moved-to).") var movedFrom: String?
    @Option(name: .customLong("moved-to"), help: "The segment or group now (with --moved-from).") var movedTo: String?
    @Option(name: .shortAndLong, help: "Output file (default: stdout).") var output: String?

    func validate() throws {
      if segment == nil && (movedFrom == nil || movedTo == nil) { throw ValidationError("give --segment, or --moved-from and --moved-to") }
      if segment != nil && (movedFrom != nil || movedTo != nil) { throw ValidationError("--segment and --moved-from/--moved-to do not go together") }
    }

    func run() async throws {
      let request = Fidelis_V1_ExportSegmentRequest.with {
        $0.jobID = job
        $0.segment = segment ?? ""
        $0.movedFrom = movedFrom ?? ""
        $0.movedTo = movedTo ?? ""
      }
      try await connection.download(to: output) { reports, metadata, write in
        try await reports.exportSegment(request, metadata: metadata, onResponse: write)
      }
    }
  }
}

extension Connection {
  /// Fetches a file from the report service with `call`, which hands its response to the
  /// writer it is given: the file is written as it arrives, never held whole.
  func download(
    to output: String?,
    _ call: (Fidelis_V1_ReportService.Client<HTTP2ClientTransport.Posix>, Metadata, @escaping @Sendable (StreamingClientResponse<Fidelis_V1_ReportChunk>) async throws -> Void) async throws -> Void
  ) async throws {
    try await withClient { client, metadata in
      try await call(Fidelis_V1_ReportService.Client(wrapping: client), metadata, { response in try await writeStream(response, to: output) })
    }
  }
}

/// Writes a streamed report or export as its messages arrive: to stdout, or to `path` once
/// the stream ended well (`OutputFile`).
@Sendable func writeStream(_ response: StreamingClientResponse<Fidelis_V1_ReportChunk>, to path: String?) async throws {
  let file = try OutputFile(path: path)
  do {
    for try await chunk in response.messages { try file.write(chunk.data) }
    try file.finish()
  } catch {
    file.abandon()
    throw error
  }
}
