import Foundation

/// Formats numbers, money, shares and dates the way the language writes them:
/// `€2,852.40` / `2 852,40 €`, `30.0%` / `30,0 %`.
public struct NumberStyle: Sendable {
  public let language: ReportLanguage
  public let currency: String
  let pack: LanguagePack

  public init(language: ReportLanguage, currency: String) {
    self.language = language
    self.currency = currency
    self.pack = language.pack
  }

  /// A number with `digits` decimals and grouped thousands.
  public func number(_ value: Double, digits: Int = 0) -> String {
    let rounded = (value * pow(10, Double(digits))).rounded() / pow(10, Double(digits))
    let negative = rounded < 0
    let text = String(format: "%.\(digits)f", abs(rounded))
    let parts = text.split(separator: ".", maxSplits: 1)
    var integer = String(parts[0])
    var groups: [String] = []
    while integer.count > 3 {
      groups.insert(String(integer.suffix(3)), at: 0)
      integer = String(integer.dropLast(3))
    }
    groups.insert(integer, at: 0)
    var out = groups.joined(separator: pack.groupSeparator)
    if parts.count > 1 { out += pack.decimalSeparator + parts[1] }
    return (negative ? "-" : "") + out
  }

  /// A count: `1,234` / `1 234`.
  public func count(_ value: Int) -> String { number(Double(value)) }

  var currencySymbol: String {
    switch currency {
    case "EUR": "€"
    case "USD": "$"
    case "GBP": "£"
    case "JPY": "¥"
    case "CHF": "CHF"
    default: currency
    }
  }

  /// An amount with its currency: `€2,852.40` / `2 852,40 €`.
  public func money(_ value: Double, digits: Int = 2) -> String {
    let n = number(value, digits: digits)
    let symbol = currencySymbol
    switch pack.currency {
    case .after(let separator):
      return n + separator + symbol
    case .symbolFirst:
      return symbol.count == 1 ? (value < 0 ? "-" + symbol + n.dropFirst() : symbol + n) : n + " " + symbol
    }
  }

  /// A share 0–1 as a percentage with one decimal: `30.0%` / `30,0 %`.
  public func percent(_ share: Double, digits: Int = 1) -> String {
    number(share * 100, digits: digits) + pack.percentSuffix
  }

  /// A ratio such as `2.5×`.
  public func times(_ value: Double) -> String { number(value, digits: 1) + "×" }

  /// A date as the language writes it: 2026-02-20 → `2026-02-20` / `20/02/2026`.
  public func date(_ iso: String) -> String {
    guard case .dayMonthYear = pack.dates else { return iso }
    let parts = iso.split(separator: "-")
    return parts.count == 3 ? "\(parts[2])/\(parts[1])/\(parts[0])" : iso
  }
}
