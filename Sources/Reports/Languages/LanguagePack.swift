/// A report language. Adding one is adding a case here and a file with its `LanguagePack`.
public enum ReportLanguage: String, Sendable, CaseIterable {
  case en, fr

  /// The language's texts and number conventions.
  public var pack: LanguagePack {
    switch self {
    case .en: .english
    case .fr: .french
    }
  }
}

/// What a report needs to speak one language: a template for every `TextKey`, and how the
/// language writes numbers, money, shares and dates.
public struct LanguagePack: Sendable {
  /// Where the currency goes around an amount.
  public enum CurrencyPlacement: Sendable {
    /// `€2,852.40`, `-$5.00`; symbols longer than one character go after: `12.00 CHF`.
    case symbolFirst
    /// `2 852,40 €`: after the amount and `separator`.
    case after(separator: String)
  }

  /// How dates are written.
  public enum DateStyle: Sendable {
    /// 2026-02-20.
    case iso
    /// 20/02/2026.
    case dayMonthYear
  }

  public let language: ReportLanguage
  public let groupSeparator: String
  public let decimalSeparator: String
  /// Written after a percentage's number.
  public let percentSuffix: String
  public let currency: CurrencyPlacement
  public let dates: DateStyle
  /// Templates by key; `{n}` stands for the n-th argument.
  public let texts: [TextKey: String]

  /// The text of `key` with `{n}` replaced by `arguments[n]`. A key the language lacks
  /// (which LanguageTests forbids) falls back to English rather than to nothing.
  public func text(_ key: TextKey, _ arguments: [String]) -> String {
    let template = texts[key] ?? LanguagePack.english.texts[key] ?? key.rawValue
    guard !arguments.isEmpty else { return template }
    var out = ""
    var rest = Substring(template)
    while let open = rest.firstIndex(of: "{") {
      out += rest[..<open]
      let afterOpen = rest.index(after: open)
      if let close = rest[afterOpen...].firstIndex(of: "}"), let n = Int(rest[afterOpen..<close]), arguments.indices.contains(n) {
        out += arguments[n]
        rest = rest[rest.index(after: close)...]
      } else {
        out += "{"
        rest = rest[afterOpen...]
      }
    }
    return out + rest
  }

  /// The placeholder numbers a template uses.
  public static func placeholders(in template: String) -> Set<Int> {
    var found = Set<Int>()
    var rest = Substring(template)
    while let open = rest.firstIndex(of: "{") {
      let afterOpen = rest.index(after: open)
      guard let close = rest[afterOpen...].firstIndex(of: "}") else { break }
      if let n = Int(rest[afterOpen..<close]) { found.insert(n) }
      rest = rest[rest.index(after: close)...]
    }
    return found
  }
}
