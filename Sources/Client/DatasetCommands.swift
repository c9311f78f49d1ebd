import ArgumentParser
import FidelisProto
import Foundation
import LocalFiles
import Synchronization

struct DatasetCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dataset", abstract: "Upload, append to, list and delete datasets.", subcommands: [Upload.self, Append.self, Versions.self, List.self, Delete.self])

  struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Upload a CSV in 1 MiB chunks; prints the version id.",
      discussion: "Under a name the tenant already has, the file becomes that dataset's next version, replacing what it held (use `append` to add to it).")
    @OptionGroup var connection: Connection
    @Argument(help: "The CSV (gzip too), or - for standard input (with --name).") var file: String
    @Option(help: "The dataset's name (default: the file name, without .gz).") var name: String?
    @Option(help: "transactions (default) or customers.") var kind = "transactions"

    func run() async throws {
      do { try LocalFile.requireReadable([file]) } catch { throw CLIError(message: error.description) }
      // A pipe's path (/dev/fd/63 from `<(zcat …)`, stdin) names nothing the tenant would
      // recognise, and the next upload of the same export would not find its dataset.
      guard name != nil || LocalFile(path: file).hasOwnName else {
        throw CLIError(message: "\(file) is not a file with a name: give the dataset one with --name")
      }
      let name = self.name ?? LocalFile(path: file).contentName
      let (kind, file) = (self.kind, self.file)
      // The lines above a transactions file's header are left out as it is sent: its size
      // announced is what is sent.
      let fromHeader = kind == "transactions"
      let leading = fromHeader ? LocalFile(path: file).leadingLines() : nil
      let size = LocalFile(path: file).byteCount.map { $0 - (leading?.range.count ?? 0) } ?? 0
      let reading = FileRead()
      let dataset = try await reading.saying {
        try await connection.withClient { client, metadata in
          try await Fidelis_V1_DatasetService.Client(wrapping: client).uploadDataset(metadata: metadata) { writer in
            try await writer.write(.with { $0.header = .with { $0.name = name; $0.kind = kind; $0.sizeBytes = Int64(size) } })
            try await reading.read(file, fromHeader: fromHeader ? [:] : nil) { chunk in try await writer.write(.with { $0.chunk = chunk }) }
          }
        }
      }
      if connection.json { try printJSON(dataset) } else {
        stderr("uploaded \(dataset.sizeBytes) bytes: \(dataset.name) version \(dataset.version)")
        print(dataset.id)
      }
    }
  }

  struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Add a batch of purchases to a dataset as its next version; prints the version id.",
      discussion: """
        Nothing is copied: the version reads the earlier batches and this one. No purchase counts twice: \
        when lines carry an order id, a line whose order id the dataset holds is skipped; otherwise the \
        batch's days replace the same days held. The batch must have the dataset's columns, in order.
        """)
    @OptionGroup var connection: Connection
    @Argument(help: "The dataset's name (or a version id).") var dataset: String
    @Argument(help: "The batch's CSV, or - for standard input.") var file: String
    @Option(name: .customLong("column"), help: "Map a column the header does not name as expected: order=NAME or date=NAME.") var columns: [String] = []

    func run() async throws {
      do { try LocalFile.requireReadable([file]) } catch { throw CLIError(message: error.description) }
      var mapping: [String: String] = [:]
      for entry in columns {
        let parts = entry.split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else { throw ValidationError("--column takes role=header (got '\(entry)')") }
        mapping[String(parts[0])] = String(parts[1])
      }
      let (name, file) = (self.dataset, self.file)
      let leading = LocalFile(path: file).leadingLines(columns: mapping)
      let size = LocalFile(path: file).byteCount.map { $0 - (leading?.range.count ?? 0) } ?? 0
      let reading = FileRead()
      let version = try await reading.saying {
        try await connection.withClient { [mapping] client, metadata in
          try await Fidelis_V1_DatasetService.Client(wrapping: client).appendDataset(metadata: metadata) { writer in
            try await writer.write(.with { $0.header = .with { $0.name = name; $0.columns = mapping; $0.sizeBytes = Int64(size) } })
            try await reading.read(file, fromHeader: mapping) { chunk in try await writer.write(.with { $0.chunk = chunk }) }
          }
        }
      }
      if connection.json { try printJSON(version) } else {
        stderr(describeAppend(version))
        print(version.id)
      }
    }
  }

  struct Versions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a dataset's versions, newest first.")
    @OptionGroup var connection: Connection
    @Argument var name: String
    @Option(help: "transactions (default) or customers.") var kind = "transactions"

    func run() async throws {
      let (name, kind) = (self.name, self.kind)
      let versions = try await connection.withClient { client, metadata in
        try await Fidelis_V1_DatasetService.Client(wrapping: client).listDatasetVersions(.with { $0.name = name; $0.kind = kind }, metadata: metadata)
      }
      if connection.json { try printJSON(versions) } else {
        for v in versions.datasets {
          let made = v.hasAppend ? "append: " + describeAppendCounts(v.append) : "upload"
          print("\(v.version)\t\(v.id)\t\(v.contentBytes)\t\(isoTime(v.createdAtUnixMs))\t\(made)")
        }
      }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List datasets, newest first.")
    @OptionGroup var connection: Connection
    @Option(help: "At most this many (default: all, fetched a page at a time).") var limit: Int?

    func run() async throws {
      if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
      let limit = self.limit
      let datasets = try await connection.withClient { client, metadata in
        let api = Fidelis_V1_DatasetService.Client(wrapping: client)
        return try await fetchPages(limit: limit) { size, token in
          let page = try await api.listDatasets(.with { $0.pageSize = size; $0.pageToken = token }, metadata: metadata)
          return (page.datasets, page.nextPageToken)
        }
      }
      if connection.json { try printJSON(Fidelis_V1_ListDatasetsResponse.with { $0.datasets = datasets }) } else {
        for d in datasets { print("\(d.id)\t\(d.kind)\t\(d.contentBytes)\t\(d.name)\tv\(d.version)") }
      }
    }
  }

  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a dataset version (by id), or every version of a dataset (by name).")
    @OptionGroup var connection: Connection
    @Argument var id: String

    func run() async throws {
      let response = try await connection.withClient { client, metadata in
        try await Fidelis_V1_DatasetService.Client(wrapping: client).deleteDataset(.with { $0.datasetID = id }, metadata: metadata)
      }
      stderr("deleted \(id) (\(response.deletedVersions) version\(response.deletedVersions == 1 ? "" : "s"))")
    }
  }
}

/// What an append did, for a person: `shop version 3: 120 lines added, 4 skipped (order ids already held)`.
func describeAppend(_ version: Fidelis_V1_Dataset) -> String {
  "\(version.name) version \(version.version): " + describeAppendCounts(version.append)
}

func describeAppendCounts(_ a: Fidelis_V1_AppendResult) -> String {
  var text = "\(a.linesAdded) line\(a.linesAdded == 1 ? "" : "s") added"
  if a.rule == "order id" {
    text += ", \(a.linesSkipped) skipped (order ids already held)"
  } else {
    text += ", \(a.linesReplaced) held line\(a.linesReplaced == 1 ? "" : "s") replaced on \(a.daysReplaced) day\(a.daysReplaced == 1 ? "" : "s")"
    if !a.replacedFrom.isEmpty { text += " (\(a.replacedFrom) to \(a.replacedThrough))" }
  }
  return text
}

/// A time for a person, UTC, to the second.
func isoTime(_ unixMilliseconds: Int64) -> String {
  ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(unixMilliseconds) / 1000))
}

/// A local file read into an upload's stream. When the file fails to read (a gzip cut
/// short, a disk error), the upload is broken off and the call says only that its stream
/// closed: `saying` says why instead, and that nothing was stored.
final class FileRead: Sendable {
  private let failure = Mutex<LocalFile.Unreadable?>(nil)

  /// Reads `path` in chunks, keeping a failure to read it; with `fromHeader` (the
  /// `--column` names of a transactions file), without the lines above its header, said
  /// on standard error.
  func read(_ path: String, fromHeader columns: [String: String]? = nil, _ consume: (Data) async throws -> Void) async throws {
    do {
      if let columns {
        try await LocalFile(path: path).readChunksFromHeader(columns: columns, found: { stderr("note: \($0.description)") }, consume)
      } else {
        try await LocalFile(path: path).readChunks(consume)
      }
    } catch let error as LocalFile.Unreadable {
      failure.withLock { $0 = error }
      throw error
    }
  }

  /// `call`'s result; when it failed because the file did not read, that failure.
  func saying<R>(_ call: () async throws -> R) async throws -> R {
    do {
      return try await call()
    } catch {
      if let failure = failure.withLock({ $0 }) { throw CLIError(message: "\(failure.description); nothing was stored") }
      throw error
    }
  }
}
