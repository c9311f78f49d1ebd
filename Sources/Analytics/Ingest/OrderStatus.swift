/// The values of a status column (`ColumnRole.status`) that say a line's order is no sale,
/// and those that keep it while saying its payment is not settled.
///
/// Shop and payment exports list every order or charge with its state: WooCommerce's
/// `cancelled`, `failed` and `refunded`, Shopify's `voided` and `refunded`, Stripe's
/// `Failed`. Counted as purchases, they add revenue that never came in and orders that
/// never happened, to the customers least likely to come back. Any other value (`paid`,
/// `completed`, `processing`, `pending`, `partially_refunded`, an empty field, or a column
/// named `status` that says something else: `gold`, `active`) keeps the line.
///
/// Of the lines kept, those whose status says the payment is not settled (`pending`,
/// `on-hold`, `authorized`, `partially_paid`; `partially_refunded` where no refunded-amount
/// column says how much) are counted by status (`DataQuality.salesNotSettled`): the file
/// does not tell what was paid in the end, and the report says so rather than guess.
public enum OrderStatus {
  /// What a status field says of its line.
  public enum Settlement: Equatable, Sendable {
    /// Nothing that changes how the line is read: paid, completed, empty, another word.
    case sale
    /// The order is no sale (`noSaleValues`).
    case noSale
    /// A sale whose payment the status says is not settled: `notSettledNames[index]`.
    case notSettled(index: Int)
  }

  /// The names the not-settled statuses are counted under, in the JSON and the report.
  public static let notSettledNames = ["pending", "on hold", "authorized", "partially paid", "partially refunded"]

  /// The index of "partially refunded" in `notSettledNames`: not counted where a refunded
  /// amount column takes the refund off.
  public static let partiallyRefunded = 4

  /// The values read as not settled, as compared (as `noSaleValues`), with the index of
  /// their name in `notSettledNames`.
  public static let notSettledValues: [(value: String, name: Int)] = [
    ("pending", 0), ("pendingpayment", 0), ("wcpending", 0), ("awaitingpayment", 0), ("paymentpending", 0), ("unpaid", 0), ("notpaid", 0),
    ("enattente", 0), ("enattentedepaiement", 0), ("impaye", 0), ("impayee", 0), ("nonpaye", 0), ("nonpayee", 0),
    ("pendiente", 0), ("inattesa", 0), ("ausstehend", 0),
    ("onhold", 1), ("wconhold", 1), ("suspendu", 1), ("suspendue", 1),
    ("authorized", 2), ("authorised", 2), ("autorise", 2), ("autorisee", 2),
    ("partiallypaid", 3), ("partiellementpaye", 3), ("partiellementpayee", 3),
    ("partiallyrefunded", 4), ("partialrefund", 4), ("wcpartiallyrefunded", 4), ("partiellementrembourse", 4), ("partiellementremboursee", 4),
  ]

  /// The values, as compared: lower-case ASCII letters alone, accents folded
  /// (`Annulée` → `annulee`, `fully-refunded` → `fullyrefunded`).
  public static let noSaleValues: [String] = [
    "cancelled", "canceled", "cancel", "failed", "failure", "fail", "void", "voided", "declined", "denied", "rejected",
    "refunded", "fullyrefunded", "reversed", "chargedback", "chargeback", "returned", "expired", "abandoned",
    "trash", "trashed", "deleted",
    // WooCommerce's own names, as some of its exports write them
    "wccancelled", "wcfailed", "wcrefunded",
    // French
    "annule", "annulee", "echoue", "echouee", "echec", "refuse", "refusee", "rembourse", "remboursee", "retourne",
    "retournee", "supprime", "supprimee", "expire", "expiree", "abandonne", "abandonnee",
    // Spanish, Italian, German
    "cancelado", "cancelada", "anulado", "anulada", "fallido", "rechazado", "reembolsado", "devuelto",
    "annullato", "annullata", "fallito", "rimborsato", "storniert", "abgebrochen", "fehlgeschlagen", "erstattet",
  ]

  /// Every value compared, by length, as bytes, with what it says.
  private static let valuesByLength: [[(bytes: [UInt8], settlement: Settlement)]] = {
    var byLength = [[(bytes: [UInt8], settlement: Settlement)]](repeating: [], count: longest + 1)
    for value in noSaleValues { byLength[value.utf8.count].append((Array(value.utf8), .noSale)) }
    for (value, name) in notSettledValues { byLength[value.utf8.count].append((Array(value.utf8), .notSettled(index: name))) }
    return byLength
  }()

  private static let longest = (noSaleValues + notSettledValues.map(\.value)).map(\.utf8.count).max() ?? 0

  /// What a status field says of its line. The field's letters are compared, lower-cased
  /// and accents folded (`FoldedCharacter`); spaces, digits, punctuation and letters that
  /// fold to none are skipped.
  public static func settlement(_ field: UnsafeBufferPointer<UInt8>) -> Settlement {
    guard !field.isEmpty, field.count <= longest * 3 else { return .sale }
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: longest) { letters in
      var count = 0
      var i = 0
      while i < field.count {
        guard case .letter(let letter) = FoldedCharacter.next(field, at: &i) else { continue }
        guard count < longest else { return .sale }
        letters[count] = letter
        count += 1
      }
      guard count > 0 else { return .sale }
      let read = UnsafeBufferPointer(rebasing: letters[0..<count])
      for value in valuesByLength[count] where value.bytes.withUnsafeBufferPointer({ $0.elementsEqual(read) }) { return value.settlement }
      return .sale
    }
  }

  /// `settlement` of a string's UTF-8 bytes.
  public static func settlement(_ value: String) -> Settlement {
    var value = value
    return value.withUTF8 { settlement($0) }
  }

  /// Whether a status field says the order is no sale.
  public static func isNoSale(_ field: UnsafeBufferPointer<UInt8>) -> Bool { settlement(field) == .noSale }

  /// `isNoSale` of a string's UTF-8 bytes.
  public static func isNoSale(_ value: String) -> Bool { settlement(value) == .noSale }
}
