import ArgumentParser
import Foundation
import Jobs
import LocalFiles
import Reports

struct Analyze: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Analyse a CSV locally, without a server, and write the report.")
  @Argument(help: "The transactions' CSV, or - for standard input.") var file: String
  @Option(help: "Per-customer CSV: customer_id, service_contacts, satisfaction, signup_date.") var customers: String?
  @Option(help: "md, html, json or csv.") var format = "md"
  @Option(name: .shortAndLong, help: "Output file (default: stdout).") var output: String?
  @OptionGroup var flags: AnalysisFlags

  func run() async throws {
    guard let format = ArtifactFormat(rawValue: format), ArtifactFormat.reportFiles.contains(format) else {
      throw ValidationError("--format must be \(ArtifactFormat.reportFiles.map(\.rawValue).joined(separator: ", "))")
    }
    let spec: JobSpec
    do {
      spec = try JobSpec(kind: JobKind.analysis.rawValue, options: try flags.options(), defaultLanguage: ReportLanguage.en.rawValue)
    } catch let error as InvalidJobOption {
      throw CLIError(message: error.message)
    }
    if file == "-" && customers == "-" { throw CLIError(message: "standard input can be one of the files, not both") }
    do { try LocalFile.requireReadable([file] + (customers.map { [$0] } ?? [])) } catch { throw CLIError(message: error.description) }
    let out = try OutputFile(path: output)
    do {
      // The per-customer CSV (80 MB at a million customers) goes to the output as its rows are
      // written, never whole; the other formats are made whole, then written.
      let artifacts = try await JobRunner.run(
        spec,
        inputs: JobInputs(
          transactions: FileSource(transactions: file, columns: spec.ingest.columns) { stderr("note: \($0.description)") },
          customers: customers.map(FileSource.init)), formats: [format],
        perCustomerCSV: format == .csv ? .streamed(out.writeBlock) : .whole, progress: { _, _ in })
      guard let artifact = artifacts.first(where: { $0.format == format }) else { throw CLIError(message: "no \(format.rawValue) output") }
      if format != .csv { try out.write(artifact.data) }
      try out.finish()
    } catch let error as PermanentJobError {
      out.abandon()
      throw CLIError(message: error.description)
    } catch {
      out.abandon()
      throw error
    }
  }
}
