// libFuzzer target: job options as they arrive on the wire (a serialized JobOptions
// message), checked the way the coordinator checks them at submit (`JobSpec`); options that
// pass are run on a small fixed purchase history and the report is rendered in the job's
// language, as a worker would. A trap anywhere is a finding.
import Foundation
import SwiftProtobuf

let purchases: TransactionData = {
  var csv = "customer_id,order_id,order_date,amount,category\n"
  for c in 0..<40 {
    for i in 0..<(1 + c % 5) {
      csv += "C\(c),O\(c)-\(i),2024-\(String(format: "%02d", 1 + (c + 3 * i) % 12))-\(String(format: "%02d", 1 + (c * 7 + i) % 28)),\(5 + (c * 13 + i * 7) % 200).25,cat\(c % 3)\n"
    }
  }
  return try! TransactionIngestor.ingest(Array(csv.utf8))
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOptions(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
  guard let message = try? Fidelis_V1_JobOptions(serializedBytes: Data(bytes: data, count: size)) else { return 0 }
  let spec: JobSpec
  do {
    spec = try JobSpec(kind: "analysis", options: message, defaultLanguage: "en")
  } catch {
    return 0
  }
  do {
    let (result, customers) = try Analyzer.run(purchases, options: spec.analysis)
    guard (try? Artifact.analysis(result, customers: customers, language: spec.language)) != nil else { fatalError("the report could not be rendered") }
  } catch {
    // A reference date before the data is refused with a reason; nothing else may be.
    guard case .invalidOption(let reason) = error, reason.contains("as_of") else { fatalError("unexpected refusal: \(error)") }
  }
  return 0
}
