import ArgumentParser
import FidelisProto
import Foundation
import LocalFiles

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
        for d in datasets { print("\(d.id)\t\(d.kind)\t\(d.sizeBytes)\t\(d.name)") }
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
