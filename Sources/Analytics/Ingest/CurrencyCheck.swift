/// Whether a line's currency column agrees with the report's currency.
///
/// Shop and payment exports name each line's currency (Stripe's `usd`, Shopify's `USD`); a
/// shop that sells in several has lines in several, and a report adds amounts in one.
/// A line agrees when its field is empty, is the report's code in any case (`usd`, `USD`),
/// or is the symbol of that currency: `€` for EUR, `£` for GBP, `¥` for JPY and CNY, `$`
/// for the dollars and pesos that write it (USD, CAD, AUD, NZD, SGD, HKD, MXN…).
struct CurrencyCheck: Sendable {
  /// The currency column.
  var column: Int
  /// The report's code, in capitals.
  private let code: [UInt8]
  /// The symbols that stand for the code, as bytes (UTF-8, and Windows-1252 where it has one).
  private let symbols: [[UInt8]]

  init(column: Int, code: String) {
    self.column = column
    let upper = code.uppercased()
    self.code = Array(upper.utf8)
    var symbols: [[UInt8]] = []
    switch upper {
    case "EUR": symbols = [Array("€".utf8), [0x80]]
    case "GBP": symbols = [Array("£".utf8), [0xA3]]
    case "JPY", "CNY": symbols = [Array("¥".utf8), [0xA5], Array("円".utf8), Array("元".utf8)]
    case "USD": symbols = [Array("$".utf8), Array("US$".utf8)]
    case "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "ARS", "CLP", "COP", "TWD": symbols = [Array("$".utf8)]
    default: break
    }
    self.symbols = symbols
  }

  /// Whether a line whose currency field is `field` is counted.
  func accepts(_ field: UnsafeBufferPointer<UInt8>) -> Bool {
    let value = trimmed(field)
    if value.isEmpty { return true }
    if value.count == code.count, zip(value, code).allSatisfy({ ($0 >= 97 && $0 <= 122 ? $0 - 32 : $0) == $1 }) { return true }
    return symbols.contains { $0.elementsEqual(value) }
  }
}
