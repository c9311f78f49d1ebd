// libFuzzer target: a transactions file, cut into chunks as a reader would hand them over,
// read by TransactionIngestor and, when it yields purchases, analysed. Any trap, overflow or
// memory error is a finding; a CSVFormatError or AnalysisError is a precise refusal.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIngest(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
  let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
  guard let first = bytes.first else { return 0 }
  // The first byte chooses the chunk size: boundaries must never change the result.
  let chunk = 1 + Int(first) * 7
  var ingestor = TransactionIngestor(options: IngestOptions(latestDay: daysFromCivil(year: 2030, month: 1, day: 1)))
  do {
    var start = 1
    while start < bytes.count {
      try ingestor.consume(Array(bytes[start..<min(bytes.count, start + chunk)]))
      start += chunk
    }
    let purchases = try ingestor.finish()
    // Analyses of small inputs: the fuzzer's budget goes to many inputs, not one big one.
    if purchases.orderCount > 0 && purchases.orderCount <= 400 {
      _ = try Analyzer.run(purchases)
    }
  } catch is CSVFormatError {
  } catch is AnalysisError {
  } catch {
    fatalError("unexpected error: \(error)")
  }
  return 0
}
