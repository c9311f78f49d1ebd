/// Customer ids that stand for no one.
///
/// Shops and tills write a placeholder where a sale has no known customer: WooCommerce's
/// guests have user id `0`, tills write `GUEST`, `WALK-IN` or `CASH`, exports fill gaps with
/// `N/A`, `NULL` or `unknown`. Read as an id, every guest would be one customer who buys more
/// than anyone: the top of the RFM segments, the largest predicted value, the first name on
/// every call list. Their lines are left out as `anonymous customer`, as a blank id is left
/// out as `missing customer`.
public enum AnonymousCustomer {
  /// The ids, as compared: their letters alone, lower-cased and accents folded
  /// (`FoldedCharacter`: `N/A` → `na`, `Walk-in customer` → `walkincustomer`, `INVITÉ` →
  /// `invite`). An id of zeros or punctuation alone (`0`, `000`, `0.0`, `-`) is one too.
  public static let ids: Set<String> = [
    "guest", "guests", "guestcustomer", "guestcheckout", "guestuser", "anonymous", "anon", "anonymoususer", "anonymouscustomer",
    "unknown", "unknowncustomer", "na", "nan", "none", "null", "nil", "undefined", "noname", "nocustomer", "notset", "unregistered",
    "walkin", "walkincustomer", "cash", "cashcustomer", "cashsale", "counter", "countersale", "posguest", "defaultcustomer",
    // French
    "invite", "anonyme", "inconnu", "clientinconnu", "clientanonyme", "passage", "clientdepassage", "clientcomptant", "comptant",
    "divers", "clientdivers", "nonrenseigne", "sansclient",
  ]

  /// The longest id worth comparing, in bytes: longer ones are real ids.
  private static let longest = 24

  /// Whether a customer field holds a placeholder. Runs on every line: an id with a digit
  /// other than 0, or longer than any placeholder, is answered without a copy.
  public static func isAnonymous(_ field: UnsafeBufferPointer<UInt8>) -> Bool {
    guard field.count <= longest else { return false }
    var zeros = 0
    var others = 0
    for byte in field {
      switch byte {
      case UInt8(ascii: "0"): zeros += 1
      // No placeholder but zeros has a digit, nor is one an e-mail address.
      case UInt8(ascii: "1")...UInt8(ascii: "9"), UInt8(ascii: "@"): return false
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), 0x80...0xFF: others += 1
      default: continue
      }
    }
    // Zeros, or punctuation alone (`-`, `?`, `#N/A` has letters): no one's id.
    if others == 0 { return true }
    if zeros > 0 { return false }
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: longest) { letters in
      var count = 0
      var i = 0
      while i < field.count {
        switch FoldedCharacter.next(field, at: &i) {
        case .letter(let letter):
          letters[count] = letter
          count += 1
        // A letter that folds to none: no placeholder has one.
        case .otherLetter: return false
        case .other: continue
        }
      }
      return ids.contains(String(decoding: UnsafeBufferPointer(rebasing: letters[0..<count]), as: UTF8.self))
    }
  }

  /// `isAnonymous` of a string's UTF-8 bytes.
  public static func isAnonymous(_ id: String) -> Bool {
    var id = id
    return id.withUTF8 { isAnonymous($0) }
  }
}
