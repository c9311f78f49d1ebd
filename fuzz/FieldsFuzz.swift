// libFuzzer target: the field parsers (amounts, dates, integers, flags, header names) and the
// per-customer file reader, on any bytes.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFields(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
  let buffer = UnsafeBufferPointer(start: data.assumingMemoryBound(to: UInt8.self), count: size)
  if let value = parseDecimal(buffer), value.isFinite, abs(value) <= largestLineAmount {
    precondition(!value.isNaN)
  }
  _ = parseInteger(buffer)
  _ = parseFlag(buffer)
  _ = OrderStatus.settlement(buffer)
  _ = AnonymousCustomer.isAnonymous(buffer)
  for report in [nil, Array("EUR".utf8), Array("USD".utf8)] {
    if case .value(let value) = AmountCurrency.read(buffer, report: report), value.isFinite {
      precondition(!value.isNaN)
    }
  }
  _ = LeadingLines.find(in: buffer)
  if let raw = parseRawDate(buffer) {
    for order in DateOrder.allCases {
      if let day = raw.day(order: order) {
        // A day read back as a date gives the same day.
        precondition(parseISODate(isoDate(Int(day))) == Int(day))
        _ = monthLabel(monthIndex(ofDay: Int(day)))
      }
    }
  }
  let text = String(decoding: buffer, as: UTF8.self)
  _ = normalizeHeader(text)
  _ = parseISODate(text)
  do {
    _ = try CustomerAttributesIngestor.ingest(Array(buffer))
  } catch is CSVFormatError {
  } catch {
    fatalError("unexpected error: \(error)")
  }
  return 0
}
