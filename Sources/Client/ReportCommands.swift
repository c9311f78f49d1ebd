import ArgumentParser
import FidelisProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

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
      try await connection.download(to: output) { reports, metadata in
        try await reports.getReport(.with { $0.jobID = job; $0.format = format }, metadata: metadata, onResponse: collectChunks)
      }
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
      try await connection.download(to: output) { reports, metadata in
        try await reports.exportSegment(.with { $0.jobID = job; $0.segment = segment }, metadata: metadata, onResponse: collectChunks)
      }
    }
  }
}

extension Connection {
  /// Fetches a file from the report service with `call` and writes it to `output` (stdout
  /// without one).
  func download(
    to output: String?, _ call: (Fidelis_V1_ReportService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Data
  ) async throws {
    let data = try await withClient { client, metadata in try await call(Fidelis_V1_ReportService.Client(wrapping: client), metadata) }
    try writeOutput(data, to: output)
  }
}
