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

/// A currency written in an amount field, before or after its number: a code (`USD 12.50`,
/// `12.50 EUR`) or a symbol (`$12.50`, `12,50 €`, `US$ 12.50`, `120 kr`).
///
/// A report adds amounts in one currency: a line whose amount names another is left out as
/// `other currency`, as a currency column's is (`CurrencyCheck`). An unknown symbol (one
/// without letters) is passed over, as it always was; letters that are neither a known code
/// nor a known symbol leave the field a bad amount, as they always did.
enum AmountCurrency {
  /// What an amount field says.
  enum Reading: Equatable {
    case value(Double)
    /// Not a number (`parseDecimal`), or letters that name no currency.
    case bad
    /// A currency other than the report's.
    case otherCurrency
  }

  /// ISO 4217 codes read in an amount: the currencies of most shops' exports.
  static let codes: Set<[UInt8]> = Set(
    """
    USD EUR GBP JPY CNY CHF CAD AUD NZD SEK NOK DKK ISK PLN CZK HUF RON BGN TRY RUB UAH INR IDR MYR PHP SGD HKD KRW TWD THB
    VND PKR BDT LKR ILS AED SAR QAR KWD BHD OMR JOD EGP MAD TND NGN KES GHS ZAR XOF XAF MXN BRL ARS CLP COP PEN UYU
    """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { Array($0.utf8) })

  private static let dollars = ["USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "ARS", "CLP", "COP", "TWD"]

  /// Symbols, as bytes (UTF-8, and Windows-1252 where it has one), and the codes each may
  /// stand for.
  static let symbols: [(bytes: [UInt8], codes: [String])] = [
    (Array("€".utf8), ["EUR"]), ([0x80], ["EUR"]), (Array("£".utf8), ["GBP"]), ([0xA3], ["GBP"]),
    (Array("¥".utf8), ["JPY", "CNY"]), ([0xA5], ["JPY", "CNY"]), (Array("円".utf8), ["JPY"]), (Array("元".utf8), ["CNY"]),
    (Array("$".utf8), dollars), (Array("US$".utf8), ["USD"]), (Array("CA$".utf8), ["CAD"]), (Array("C$".utf8), ["CAD"]),
    (Array("A$".utf8), ["AUD"]), (Array("AU$".utf8), ["AUD"]), (Array("NZ$".utf8), ["NZD"]), (Array("S$".utf8), ["SGD"]),
    (Array("HK$".utf8), ["HKD"]), (Array("MX$".utf8), ["MXN"]), (Array("R$".utf8), ["BRL"]), (Array("₹".utf8), ["INR"]),
    (Array("₽".utf8), ["RUB"]), (Array("₩".utf8), ["KRW"]), (Array("₺".utf8), ["TRY"]), (Array("₪".utf8), ["ILS"]),
    (Array("kr".utf8), ["SEK", "NOK", "DKK", "ISK"]), (Array("kr.".utf8), ["SEK", "NOK", "DKK", "ISK"]), (Array("zł".utf8), ["PLN"]),
    (Array("Kč".utf8), ["CZK"]), (Array("Ft".utf8), ["HUF"]), (Array("lei".utf8), ["RON"]),
  ]

  /// Bytes around a number that are not a currency: spaces, signs, parentheses, marks.
  @inline(__always) private static func isPunctuation(_ b: UInt8) -> Bool {
    b == 0x20 || b == 0x09 || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") || b == UInt8(ascii: "(") || b == UInt8(ascii: ")")
      || b == UInt8(ascii: ".") || b == UInt8(ascii: ",") || b == UInt8(ascii: "'")
  }

  @inline(__always) private static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

  @inline(__always) private static func isLetter(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }

  /// Reads an amount field in a report of currency `report` (capitals; nil when unknown:
  /// a currency in the field is then read over, not checked).
  static func read(_ field: UnsafeBufferPointer<UInt8>, report: [UInt8]?) -> Reading {
    // Most amounts start and end with a digit: nothing around them to read.
    if let first = field.first, let last = field.last, isDigit(first), isDigit(last) { return parseDecimal(field).map(Reading.value) ?? .bad }
    guard let firstDigit = field.firstIndex(where: isDigit), let lastDigit = field.lastIndex(where: isDigit) else { return .bad }
    var hasLetters = false
    var tokens: [Range<Int>] = []
    for region in [0..<firstDigit, (lastDigit + 1)..<field.count] {
      var lower = region.lowerBound, upper = region.upperBound
      while lower < upper, isPunctuation(field[lower]) { lower += 1 }
      while upper > lower, isPunctuation(field[upper - 1]) { upper -= 1 }
      guard lower < upper else { continue }
      let token = UnsafeBufferPointer(rebasing: field[lower..<upper])
      let letters = token.contains(where: isLetter)
      var names: [String]?
      if token.count == 3, letters, token.allSatisfy(isLetter) {
        let code = token.map { $0 >= 97 ? $0 - 32 : $0 }
        if codes.contains(code) { names = [String(decoding: code, as: UTF8.self)] }
      }
      if names == nil { names = symbols.first { $0.bytes.elementsEqual(token) }?.codes }
      // Letters that name no currency: no amount, as before. An unknown symbol: passed over.
      if names == nil && letters { return .bad }
      if let names, let report, !names.contains(where: { $0.utf8.elementsEqual(report) }) { return .otherCurrency }
      if letters {
        hasLetters = true
        tokens.append(lower..<upper)
      }
    }
    guard hasLetters else { return parseDecimal(field).map(Reading.value) ?? .bad }
    // The number alone: a code's letters would read as an exponent or as no number.
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: field.count) { copy in
      for i in field.indices { copy[i] = tokens.contains { $0.contains(i) } ? 0x20 : field[i] }
      return parseDecimal(UnsafeBufferPointer(copy)).map(Reading.value) ?? .bad
    }
  }
}
