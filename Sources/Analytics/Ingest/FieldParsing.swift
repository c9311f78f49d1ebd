import Foundation

/// Parses a decimal amount written with a point or a comma: `12.5`, `12,50`, `1 234,50`,
/// `1,234.50`, `-3`, `€12.00`. When both `.` and `,` appear the last one is the decimal mark;
/// a lone `,` is a decimal comma. Currency signs and spaces are ignored. A negative amount
/// may also be written as accountants and ledgers write it: in parentheses, `(12.50)` or
/// `($12.50)`, or with its minus after it, `12.50-`.
public func parseDecimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
  var lastDot = -1
  var lastComma = -1
  var firstDigit = -1
  var lastDigit = -1
  var opening = -1
  var closing = -1
  for (i, b) in bytes.enumerated() {
    if b >= 48 && b <= 57 {
      if firstDigit < 0 { firstDigit = i }
      lastDigit = i
    } else if b == UInt8(ascii: ".") {
      lastDot = i
    } else if b == UInt8(ascii: ",") {
      lastComma = i
    } else if b == UInt8(ascii: "(") {
      guard opening < 0 else { return nil }
      opening = i
    } else if b == UInt8(ascii: ")") {
      guard closing < 0 else { return nil }
      closing = i
    }
  }
  guard firstDigit >= 0 else { return nil }
  let decimalAt = max(lastDot, lastComma)
  var negative = false
  if opening >= 0 || closing >= 0 {
    // Parentheses hold the whole number, or the field is no amount.
    guard opening >= 0, closing >= 0, opening < firstDigit, closing > lastDigit else { return nil }
    negative = true
  }
  var integer: Double = 0
  var fraction: Double = 0
  var scale: Double = 1
  var seenSign = negative
  var fractionDigits = 0
  var exponentStart = -1
  for (i, b) in bytes.enumerated() {
    switch b {
    case 48...57:
      let digit = Double(b - 48)
      if decimalAt >= 0 && i > decimalAt {
        fractionDigits += 1
        if fractionDigits <= 15 {
          scale *= 10
          fraction = fraction * 10 + digit
        }
      } else {
        integer = integer * 10 + digit
      }
    case UInt8(ascii: "-"):
      // Before the digits, or after all of them (`12.50-`); never between two.
      if seenSign || (i > firstDigit && i < lastDigit) { return nil }
      negative = true
      seenSign = true
    case UInt8(ascii: "+"):
      if seenSign || i > firstDigit { return nil }
      seenSign = true
    case UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: " "), UInt8(ascii: "'"), 0x09:
      continue
    case UInt8(ascii: "e"), UInt8(ascii: "E"):
      exponentStart = i
    default:
      // Currency symbols (€ in UTF-8 or 0x80 in Windows-1252, $, £) are allowed; letters are not.
      if (b >= 65 && b <= 90) || (b >= 97 && b <= 122) { return nil }
      continue
    }
    if exponentStart >= 0 { break }
  }
  if exponentStart >= 0 {
    // Scientific notation: hand the ASCII text to the standard parser.
    guard opening < 0 else { return nil }
    let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: ",", with: ".")
    return Double(text.trimmingCharacters(in: .whitespaces))
  }
  let value = integer + fraction / scale
  return negative ? -value : value
}

/// Parses an integer field (`3`, ` 12 `); nil for anything else.
public func parseInteger(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
  guard let value = parseDecimal(bytes), value == value.rounded(), abs(value) < 1e15 else { return nil }
  return Int(value)
}

/// How the day and month of a slashed or dotted date are ordered.
public enum DateOrder: String, Sendable, Codable, CaseIterable {
  /// 09/12/2011: day first (Europe).
  case dayFirst = "dmy"
  /// 12/9/2011: month first (United States).
  case monthFirst = "mdy"
  /// 2011/12/09: year first.
  case yearFirst = "ymd"
}

/// A date read from a field before the day/month order is known: `first` and `second`
/// are the two leading numbers of a slashed date, or month and day of an ISO date.
public struct RawDate: Hashable, Sendable {
  /// Year, four digits.
  public var year: Int32
  public var first: Int8
  public var second: Int8
  /// True when the order is fixed by the format itself (ISO, compact, year first).
  public var isYearFirst: Bool

  /// Days since 1970-01-01 under `order`; nil when it is not a real calendar day.
  public func day(order: DateOrder) -> Int32? {
    let (month, day): (Int8, Int8)
    if isYearFirst || order == .yearFirst || order == .monthFirst {
      (month, day) = (first, second)
    } else {
      (month, day) = (second, first)
    }
    guard month >= 1, month <= 12, day >= 1, day <= daysInMonth(year: Int(year), month: Int(month)) else { return nil }
    return Int32(daysFromCivil(year: Int(year), month: Int(month), day: Int(day)))
  }
}

/// Parses the date part of `2011-12-09 12:50`, `2011-12-09T12:50:00Z`, `09/12/2011 12:50`,
/// `12/9/2011`, `09.12.2011`, `19970101`, `2011/12/09`, and of dates that name their month
/// (`namedMonthDate`); the time of day is ignored. Two-digit years are read as 20xx (below
/// 70) or 19xx.
public func parseRawDate(_ bytes: UnsafeBufferPointer<UInt8>) -> RawDate? {
  if let date = numericDate(bytes) { return date }
  return countedDate(bytes) ?? namedMonthDate(bytes)
}

/// A date written as a count from an epoch, as programs and spreadsheets store one: Unix
/// time in seconds (ten digits: 2001-09-09 to 2286) or milliseconds (thirteen), and a
/// spreadsheet's day number (five digits: 1927 to 2173, from 1899-12-30, as Excel and
/// LibreOffice count), each with or without a fraction (the time of day). The day is UTC's.
/// Other lengths are no date: a yyyymmdd has eight digits and is read as such before.
func countedDate(_ bytes: UnsafeBufferPointer<UInt8>) -> RawDate? {
  let field = trimmed(bytes)
  var value = 0
  var digits = 0
  var i = 0
  while i < field.count, field[i] >= 48, field[i] <= 57 {
    value = value * 10 + Int(field[i] - 48)
    digits += 1
    i += 1
    if digits > 13 { return nil }
  }
  if i < field.count {
    // A fraction: the time of day.
    guard field[i] == UInt8(ascii: "."), i + 1 < field.count else { return nil }
    for b in field[(i + 1)...] where b < 48 || b > 57 { return nil }
  }
  let day: Int
  switch digits {
  case 5: day = value - 25_569
  case 10: day = value / 86_400
  case 13: day = value / 86_400_000
  default: return nil
  }
  let (year, month, dayOfMonth) = civilFromDays(day)
  return RawDate(year: Int32(year), first: Int8(month), second: Int8(dayOfMonth), isYearFirst: true)
}

/// A date whose month is a name, in English or French, whole or cut short: `15-Jan-2024`,
/// `15 Jan 2024`, `Jan 15, 2024`, `January 15 2024`, `Mon, 15 Jan 2024 10:23:45 GMT`,
/// `15/Jan/2024:10:23:45`, `2024-Jan-15`, `15 janv. 2024`, `1er février 2024`. Its order is
/// fixed by the name, so it reads as year first. Other words (a weekday, a time zone) are
/// passed over; the time of day ends the date.
func namedMonthDate(_ bytes: UnsafeBufferPointer<UInt8>) -> RawDate? {
  var numbers: (Int, Int) = (0, 0)
  var numberCount = 0
  var month = 0
  var monthsNamed = 0
  var yearFirst = false
  var i = 0
  let n = bytes.count
  guard n <= 64 else { return nil }
  while i < n {
    let b = bytes[i]
    if b >= 48 && b <= 57 {
      var value = 0
      var digits = 0
      while i < n, bytes[i] >= 48, bytes[i] <= 57 {
        value = value * 10 + Int(bytes[i] - 48)
        digits += 1
        i += 1
        if digits > 4 { return nil }
      }
      // A number followed by a colon starts the time of day, or is the year just before it
      // (`15/Jan/2024:10:23:45`, as web logs write it).
      if i < n, bytes[i] == UInt8(ascii: ":") {
        if numberCount == 1 && digits == 4 {
          numbers.1 = value
          numberCount = 2
        }
        guard numberCount == 2 else { return nil }
        break
      }
      guard numberCount < 2 else { return nil }
      if numberCount == 0 { numbers.0 = value } else { numbers.1 = value }
      if numberCount == 0 && digits == 4 && month == 0 { yearFirst = true }
      numberCount += 1
      continue
    }
    if isWordByte(b) {
      let start = i
      while i < n, isWordByte(bytes[i]) { i += 1 }
      let word = UnsafeBufferPointer(rebasing: bytes[start..<i])
      if let named = monthNamed(word) {
        month = named
        monthsNamed += 1
      } else if !isPassedOverWord(word) {
        return nil
      }
      continue
    }
    i += 1
  }
  // `mar` may be a French Tuesday before the month: `mar. 5 mars 2024`.
  guard month > 0, monthsNamed <= 2, numberCount == 2 else { return nil }
  var (day, year) = yearFirst ? (numbers.1, numbers.0) : (numbers.0, numbers.1)
  if !yearFirst && day > 31 && year <= 31 { (day, year) = (year, day) }
  if year < 100 { year += year < 70 ? 2000 : 1900 }
  guard year >= 1000, year <= 9999, day >= 1, day <= 31 else { return nil }
  return RawDate(year: Int32(year), first: Int8(month), second: Int8(day), isYearFirst: true)
}

/// A letter of a word: ASCII letters, and any byte of a non-ASCII character (`é`, `û`).
@inline(__always)
private func isWordByte(_ b: UInt8) -> Bool {
  (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b >= 0x80
}

/// The month a word names (1…12): its first three letters in English or French, accents
/// dropped, with a longer word a spelling of that month (`janv`, `juil`, `sept`, `février`).
private func monthNamed(_ word: UnsafeBufferPointer<UInt8>) -> Int? {
  let letters = foldedLetters(word)
  // `jui` is June or July.
  guard letters.count >= 3, letters != "jui" else { return nil }
  return monthNames.first { $0.names.contains { $0.hasPrefix(letters) } }?.number
}

private let monthNames: [(number: Int, names: [String])] = [
  (1, ["january", "janvier"]), (2, ["february", "fevrier"]), (3, ["march", "mars"]), (4, ["april", "avril"]), (5, ["may", "mai"]),
  (6, ["june", "juin"]), (7, ["july", "juillet"]), (8, ["august", "aout"]), (9, ["september", "septembre"]),
  (10, ["october", "octobre"]), (11, ["november", "novembre"]), (12, ["december", "decembre"]),
]

/// Words a dated field may hold besides its month: weekdays, time zones, `of`, `le`, `1er`.
private func isPassedOverWord(_ word: UnsafeBufferPointer<UInt8>) -> Bool {
  passedOverWords.contains(foldedLetters(word))
}

private let passedOverWords: Set<String> = [
  "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun", "monday", "tuesday", "wednesday", "thursday", "friday",
  "saturday", "sunday", "lun", "mer", "jeu", "ven", "sam", "dim", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi",
  "dimanche", "gmt", "utc", "z", "t", "er", "st", "nd", "rd", "th", "of", "le", "the", "at", "a", "am", "pm", "h",
]

/// A word's letters, lower-cased and accents folded (`FoldedCharacter`); other bytes are
/// dropped.
private func foldedLetters(_ word: UnsafeBufferPointer<UInt8>) -> String {
  var out: [UInt8] = []
  out.reserveCapacity(word.count)
  var i = 0
  while i < word.count {
    if case .letter(let letter) = FoldedCharacter.next(word, at: &i) { out.append(letter) }
  }
  return String(decoding: out, as: UTF8.self)
}

/// The numeric forms of `parseRawDate`.
private func numericDate(_ bytes: UnsafeBufferPointer<UInt8>) -> RawDate? {
  // Up to three numbers and the separators between them, in locals: this runs once per
  // line of the file, so it must not allocate.
  var numbers: (Int, Int, Int) = (0, 0, 0)
  var count = 0
  var firstSeparator: UInt8 = 0
  var mixedSeparators = false
  var current = -1
  var i = 0
  let n = bytes.count
  func store(_ value: Int) {
    switch count {
    case 0: numbers.0 = value
    case 1: numbers.1 = value
    default: numbers.2 = value
    }
    count += 1
  }
  while i < n && bytes[i] == 0x20 { i += 1 }
  while i < n {
    let b = bytes[i]
    if b >= 48 && b <= 57 {
      current = (current < 0 ? 0 : current * 10) + Int(b - 48)
      if current > 99_999_999 { return nil }
    } else {
      if current < 0 { return nil }
      store(current)
      current = -1
      if count == 3 || b == UInt8(ascii: " ") || b == UInt8(ascii: "T") { break }
      if firstSeparator == 0 { firstSeparator = b } else if b != firstSeparator { mixedSeparators = true }
    }
    i += 1
    if count == 3 { break }
  }
  if current >= 0 && count < 3 { store(current) }
  if count == 1 {
    // Compact yyyymmdd.
    let v = numbers.0
    guard v >= 1000_01_01, v <= 9999_12_31 else { return nil }
    return RawDate(year: Int32(v / 10000), first: Int8(v / 100 % 100), second: Int8(v % 100), isYearFirst: true)
  }
  guard count == 3, !mixedSeparators,
    firstSeparator == UInt8(ascii: "-") || firstSeparator == UInt8(ascii: "/") || firstSeparator == UInt8(ascii: ".")
  else { return nil }
  if numbers.0 >= 1000 {
    // Four-digit years only: 25109/9/12 is no date (found by fuzzing: it read as year 25109).
    guard numbers.0 <= 9999, numbers.1 <= 99, numbers.2 <= 99 else { return nil }
    return RawDate(year: Int32(numbers.0), first: Int8(numbers.1), second: Int8(numbers.2), isYearFirst: true)
  }
  guard numbers.0 <= 99, numbers.1 <= 99 else { return nil }
  var year = numbers.2
  if year < 100 { year += year < 70 ? 2000 : 1900 }
  guard year >= 1000, year <= 9999 else { return nil }
  return RawDate(year: Int32(year), first: Int8(numbers.0), second: Int8(numbers.1), isYearFirst: false)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
public func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
  let y = month <= 2 ? year - 1 : year
  let era = (y >= 0 ? y : y - 399) / 400
  let yoe = y - era * 400
  let mp = (month + 9) % 12
  let doy = (153 * mp + 2) / 5 + day - 1
  let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
  return era * 146097 + doe - 719468
}

/// The calendar date of a day number (inverse of `daysFromCivil`).
public func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
  let z = days + 719468
  let era = (z >= 0 ? z : z - 146096) / 146097
  let doe = z - era * 146097
  let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
  let y = yoe + era * 400
  let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
  let mp = (5 * doy + 2) / 153
  let d = doy - (153 * mp + 2) / 5 + 1
  let m = mp < 10 ? mp + 3 : mp - 9
  return (m <= 2 ? y + 1 : y, m, d)
}

/// Number of days in a month of the Gregorian calendar.
public func daysInMonth(year: Int, month: Int) -> Int8 {
  switch month {
  case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
  case 4, 6, 9, 11: return 30
  default: return 31
  }
}

/// `YYYY-MM-DD` for a day number.
public func isoDate(_ day: Int) -> String {
  let (y, m, d) = civilFromDays(day)
  return String(format: "%04d-%02d-%02d", y, m, d)
}

/// Parses `YYYY-MM-DD` into a day number.
public func parseISODate(_ text: String) -> Int? {
  let parts = text.split(separator: "-")
  guard parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
    parts[0].count == 4, (1...12).contains(m), d >= 1, d <= Int(daysInMonth(year: y, month: m))
  else { return nil }
  return daysFromCivil(year: y, month: m, day: d)
}

/// Month index (year × 12 + month − 1) of a day number.
@inline(__always)
public func monthIndex(ofDay day: Int) -> Int {
  let (y, m, _) = civilFromDays(day)
  return y * 12 + m - 1
}

/// `YYYY-MM` for a month index.
public func monthLabel(_ index: Int) -> String {
  String(format: "%04d-%02d", index / 12, index % 12 + 1)
}

/// Reads a yes/no flag: 1, true, yes, y, oui, o, x count as yes.
public func parseFlag(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
  guard let first = bytes.first(where: { $0 != 0x20 }) else { return false }
  switch first | 0x20 {
  case UInt8(ascii: "1"), UInt8(ascii: "t"), UInt8(ascii: "y"), UInt8(ascii: "o"), UInt8(ascii: "x"): return true
  default: return false
  }
}

/// The dates a purchase may carry. A date outside is a typing or export error (a default of
/// 1900-01-01, a 9999-12-31 "never"), and would make the analysis cover centuries: such rows
/// are rejected and counted, so that an analysis costs what its data weighs, not what its
/// dates say.
public enum DateWindow {
  /// 1900-01-01: no purchase history of a living business starts earlier.
  public static let earliestDay = daysFromCivil(year: 1900, month: 1, day: 1)
  /// The latest reference date an analysis accepts (2200-12-31).
  public static let latestReferenceDay = daysFromCivil(year: 2200, month: 12, day: 31)

  /// The last day a purchase may carry when a file is read on `today` (a day number): the
  /// next day, for time zones ahead of the reader's.
  public static func latestPurchaseDay(today: Int) -> Int { today + 1 }

  /// Today's day number on this machine's clock (UTC).
  public static func today() -> Int { Int((Date().timeIntervalSince1970 / 86_400).rounded(.down)) }
}

/// The largest amount of a line, in absolute value: beyond it a figure is an export error
/// (or an overflow), and sums of millions of such lines would lose every cent.
public let largestLineAmount = 1e12
